"""Output: Rich tables for people, the API's JSON unchanged for scripts (``-o json``)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.console import Console, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

NOT_A_TERMINAL_WIDTH = 200  # wide enough that piped tables are not wrapped


class Output(StrEnum):
    table = "table"
    json = "json"


OutputOption = Annotated[
    Output,
    typer.Option(
        "--output", "-o", help="table for people; json prints the API's JSON unchanged, for scripts."
    ),
]


def console(stderr: bool = False) -> Console:
    out = Console(stderr=stderr, highlight=False, soft_wrap=False)
    if not out.is_terminal and "COLUMNS" not in os.environ:
        out.width = NOT_A_TERMINAL_WIDTH
    return out


def show(*items: RenderableType) -> None:
    out = console()
    for item in items:
        out.print(item)


def say(text: str, style: str | None = None) -> None:
    """Print a line of plain text (no markup is interpreted)."""
    console().print(escape(text), style=style)


def note(text: str) -> None:
    """A remark for the person at the terminal, on stderr so stdout stays clean for scripts."""
    console(stderr=True).print(escape(text), style="dim")


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


def table(columns: Sequence[str], rows: Iterable[Sequence[Any]], title: str | None = None) -> Table:
    grid = Table(*columns, title=title, title_justify="left", header_style="bold")
    for row in rows:
        grid.add_row(*(cell(v) for v in row))
    return grid


def fields(rows: Iterable[tuple[str, Any]], title: str | None = None) -> Table:
    """A two-column key/value table (for ``describe``)."""
    grid = Table(show_header=False, title=title, title_justify="left", box=None, padding=(0, 2, 0, 0))
    grid.add_column(style="bold")
    grid.add_column()
    for key, value in rows:
        grid.add_row(key, cell(value))
    return grid


def cell(value: Any) -> RenderableType:
    """A value as table text: ``-`` for nothing, JSON for structures; strings are never Rich markup."""
    if isinstance(value, Text):
        return value
    if value is None or value == "" or value == [] or value == {}:
        return "-"
    if isinstance(value, str):
        return escape(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return f"{value:g}"
    return escape(json.dumps(value, ensure_ascii=False))


def when(iso: str | None) -> str:
    """An API timestamp as ``2024-05-01 12:30:05`` (UTC)."""
    if not iso:
        return "-"
    try:
        return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return iso


def short(sha: str | None, length: int = 12) -> str:
    return (sha or "-")[:length]


def percent(weight: float) -> str:
    return f"{weight:g}%"


def pairs(mapping: Mapping[str, Any]) -> str:
    """``{"A": "1"}`` as ``A=1``, one per line."""
    return "\n".join(f"{k}={v}" for k, v in mapping.items())


def plural(count: int, word: str, many: str | None = None) -> str:
    """``plural(1, "file")`` -> ``1 file``; ``plural(2, "file")`` -> ``2 files``."""
    return f"{count} {word if count == 1 else many or word + 's'}"


def trigger_lines(triggers: dict[str, Any]) -> list[str]:
    """One line per route and schedule, each with the qualifier it is bound to.

    >>> trigger_lines({"routes": [{"method": "GET", "host": None, "path": "/a", "qualifier": "prod"}],
    ...                "schedules": [{"name": "n", "expression": "rate(1 day)", "qualifier": "3"}]})
    ['route GET /a → prod', 'schedule n rate(1 day) → 3']
    """
    routes = [
        f"route {r['method']} {r['host'] or ''}{r['path']} → {r['qualifier']}"
        for r in triggers.get("routes", [])
    ]
    schedules = [
        f"schedule {s['name']} {s['expression']} → {s['qualifier']}" for s in triggers.get("schedules", [])
    ]
    return routes + schedules
