"""The routing table: per function, its draft, aliases and the versions they route to, in memory.

Loaded from the store on first use and reloaded whenever the change feed says the function changed,
before the change is acknowledged — so the next request after an alias update is routed by it.
Versions are immutable, so a loaded version is never read again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from turnout.domain.alias import Alias
from turnout.domain.destination import EventConfig
from turnout.domain.function import Function, Version
from turnout.domain.version_number import is_version_text
from turnout.runtime.supervisor import Target
from turnout.store import Store


@dataclass
class Entry:
    function: Function
    aliases: Mapping[str, Alias]
    versions: dict[int, Version] = field(default_factory=dict)
    provisioned: Mapping[str, int] = field(default_factory=dict)  # qualifier -> warm workers
    event_configs: Mapping[str, EventConfig] = field(default_factory=dict)  # qualifier -> async config
    _targets: dict[tuple[int | None, str | None], Target] = field(default_factory=dict)

    def target(self, version: int | None, alias: str | None) -> Target:
        """What runs for ``version`` reached through ``alias`` (whose settings it layers on)."""
        key = (version, alias)
        found = self._targets.get(key)
        if found is None:
            settings = self.aliases[alias].settings if alias is not None else {}
            name = self.function.name
            if version is None:
                f = self.function
                found = Target(
                    name, None, f.config, f.bundle_sha256, None, settings, requirements=f.dependencies
                )
            else:
                v = self.versions[version]
                found = Target(
                    name, version, v.config, v.bundle_sha256, v.layer_hash, settings, v.pinned_dependencies
                )
            self._targets[key] = found
        return found


class RoutingTable:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.entries: dict[str, Entry] = {}
        self._lock = threading.Lock()
        self._started = 0  # refreshes begun, numbered
        self._installed: dict[str, int] = {}  # function -> number of the refresh whose entry is installed
        self.listeners: list[Callable[[str, Entry | None, Entry | None], None]] = []

    def __repr__(self) -> str:
        return f"RoutingTable(functions={len(self.entries)})"

    def get(self, name: str) -> Entry | None:
        return self.entries.get(name)

    def reserved_concurrency(self, name: str) -> int | None:
        """The function's own concurrency limit, as loaded (None: none, or not loaded)."""
        entry = self.entries.get(name)
        return None if entry is None else entry.function.reserved_concurrency

    def load(self, name: str, known: Entry | None = None) -> Entry | None:
        """Read the function's draft, aliases and routed versions in one transaction (versions are
        immutable and their numbers never reused: those ``known`` already holds are not read again)."""
        with self.store.read() as tx:
            function = tx.functions.get(name)
            if function is None:
                return None
            aliases = {a.name: a for a in tx.aliases.list(function.id)}
            provisioned = tx.provisioned.of(function.id)
            routed = {v for a in aliases.values() for v in a.routing.versions if v is not None}
            routed |= {int(q) for q in provisioned if is_version_text(q)}
            have = known.versions if known is not None and known.function.id == function.id else {}
            versions = {
                n: v for n in routed if (v := have.get(n) or tx.versions.get(function.id, n)) is not None
            }
            event_configs = tx.event_configs.of(function.id)
        return Entry(function, aliases, versions, provisioned, event_configs)

    def refresh(self, name: str) -> None:
        """Reload one function (the change feed calls this after every committed change).

        Listeners run *before* the new entry is installed, so the versions a change newly routes to are
        warm before any request can reach them; a refresh that started later wins over one that
        finishes later (no older entry is installed over a newer one)."""
        with self._lock:
            self._started += 1
            ticket = self._started
            before = self.entries.get(name)
            after = self.load(name, before)
        for listener in self.listeners:
            listener(name, before, after)
        with self._lock:
            if self._installed.get(name, 0) > ticket:
                return
            self._installed[name] = ticket
            if after is None:
                self.entries.pop(name, None)
            else:
                self.entries[name] = after

    def changed(self, name: str) -> None:
        """A change feed subscriber: reload ``name``, or (``*``: this node may have missed changes) every
        function it has loaded."""
        for each in list(self.entries) if name == "*" else [name]:
            self.refresh(each)

    def preload(self) -> int:
        """Load every function (at start: a node is ready once it can route all of them from memory)."""
        with self.store.read() as tx:
            names = tx.functions.names()
        for name in names:
            self.ensure(name)
        return len(names)

    def ensure(self, name: str) -> Entry | None:
        found = self.entries.get(name)
        if found is None:
            with self._lock:
                found = self.entries.get(name)
                if found is None:
                    found = self.load(name)
                    if found is not None:
                        self.entries[name] = found
        return found

    def version(self, entry: Entry, number: int) -> Version | None:
        found = entry.versions.get(number)
        if found is None:
            with self.store.read() as tx:
                found = tx.versions.get(entry.function.id, number)
            if found is not None:
                entry.versions[number] = found
        return found
