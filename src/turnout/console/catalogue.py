"""The functions list's rows, kept in memory and dropped when the change feed says a function changed, so
the list and its search answer in a few milliseconds with thousands of functions.

A row is what the list shows of one function: its latest version, description and aliases (the API's
views). Rows are built on first need through the services; a change of a function (its draft, versions,
aliases...) drops its row, a change to an unknown name (a new function) or ``*`` (a node that missed
changes) drops the list of names too. A row built while its function changed is not kept.
"""

from __future__ import annotations

import threading
from typing import Any

from turnout.api import views
from turnout.errors import FunctionNotFound
from turnout.services import Services
from turnout.services.changes import FUNCTION

Row = dict[str, Any]


class Catalogue:
    def __init__(self, services: Services) -> None:
        self.services = services
        self._lock = threading.Lock()
        self._names: list[str] | None = None
        self._rows: dict[str, Row] = {}
        self._changes: dict[str, int] = {}
        services.changes.subscribe(self.changed, FUNCTION)

    def __repr__(self) -> str:
        return f"Catalogue(names={None if self._names is None else len(self._names)}, rows={len(self._rows)})"

    def changed(self, name: str) -> None:
        """A change-feed subscriber: forget what this change made stale."""
        with self._lock:
            if name == "*":
                self._names, self._rows = None, {}
                self._changes.clear()
                return
            self._rows.pop(name, None)
            self._changes[name] = self._changes.get(name, 0) + 1
            if self._names is not None and name not in self._names:
                self._names = None

    def search(self, query: str, start: int, size: int) -> tuple[list[Row], bool]:
        """Page ``start`` (from 1) of the functions whose name contains ``query``, and whether more follow."""
        needle = query.lower()
        matching = [n for n in self._all_names() if needle in n.lower()]
        rows = [row for n in matching[(start - 1) * size : start * size] if (row := self._row(n)) is not None]
        return rows, len(matching) > start * size

    def _all_names(self) -> list[str]:
        with self._lock:
            if self._names is not None:
                return self._names
        names = [f.name for f in self.services.functions.list(None, 1_000_000)]
        with self._lock:
            self._names = names
        return names

    def _row(self, name: str) -> Row | None:
        with self._lock:
            if name in self._rows:
                return self._rows[name]
            seen = self._changes.get(name, 0)
        try:
            described = self.services.functions.describe(name)
        except FunctionNotFound:  # deleted since the names were read
            return None
        fn = described.function
        row = {
            "name": fn.name,
            "latest": fn.last_version or None,
            "description": fn.config.description,
            "aliases": [views.alias_json(fn.name, a) for a in described.aliases],
        }
        with self._lock:
            if self._changes.get(name, 0) == seen:
                self._rows[name] = row
        return row
