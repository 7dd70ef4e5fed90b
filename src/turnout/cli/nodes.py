"""`turnout nodes`: the nodes of the platform, as their heartbeats in the store describe them."""

from __future__ import annotations

from typing import Any

import typer

from turnout.cli.client import ApiClient
from turnout.cli.render import Output, OutputOption, print_json, show, table, when


def register(app: typer.Typer) -> None:
    app.command("nodes", rich_help_panel="Run")(nodes)


def nodes(output: OutputOption = Output.table) -> None:
    """The nodes sharing this server's store: name, address, state (alive, dead, stopped), version,
    when it started, its last heartbeat, its worker pools and busy workers.

    A node is dead once its heartbeat is older than TURNOUT_NODE_DEAD_AFTER_S (of the node asked).
    Example: `turnout nodes -o json | jq '.nodes[] | select(.state == "alive") | .name'`.
    """
    with ApiClient.from_environ() as api:
        body = api.get("/v1/nodes")
    if output is Output.json:
        print_json(body)
        return
    show(table(COLUMNS, [row(n, body.get("node")) for n in body["nodes"]], title="nodes"))


COLUMNS = ["name", "address", "state", "version", "started", "last seen", "pools", "busy workers"]


def row(node: dict[str, Any], here: str | None) -> tuple[Any, ...]:
    """One table row; the node that answered is marked with ``*``."""
    name = f"{node['name']} *" if node["name"] == here else node["name"]
    started, seen = when(node.get("started_at")), when(node.get("seen_at"))
    return (
        name,
        node.get("address"),
        node.get("state"),
        node.get("version"),
        started,
        seen,
        node.get("pools"),
        node.get("busy"),
    )
