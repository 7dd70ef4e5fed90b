"""`turnout route add|ls|rm` (issue 6): HTTP routes served on the server's port."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from turnout.cli import render
from turnout.cli.client import ApiClient, api_path
from turnout.cli.render import Output, OutputOption

PANEL = "Triggers"
route_app = typer.Typer(
    help="HTTP routes: METHOD + PATH (+ host) served on the server's port by a function's alias or version.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add the commands to the `turnout` app."""
    app.add_typer(route_app, name="route", rich_help_panel=PANEL)


def parse_add(words: list[str]) -> tuple[str | None, str, str, str | None]:
    """(method, path, function, qualifier) of ``[METHOD] PATH FN[:QUALIFIER]``.

    >>> parse_add(["GET", "/items/{id}", "shop:prod"]), parse_add(["/x", "shop:2"])
    (('GET', '/items/{id}', 'shop', 'prod'), (None, '/x', 'shop', '2'))
    """
    if len(words) == 2:
        method, (path, target) = None, words
    elif len(words) == 3:
        method, path, target = words
    else:
        raise typer.BadParameter("give [METHOD] PATH FUNCTION:QUALIFIER, e.g. GET /items/{id} shop:prod")
    function, sep, qualifier = target.partition(":")
    return method, path, function, (qualifier if sep else None)


@route_app.command("add")
def add(
    words: Annotated[
        list[str],
        typer.Argument(
            metavar="[METHOD] PATH FUNCTION:QUALIFIER",
            help="Method (ANY when omitted); path: /exact, /items/{id} (a parameter), /api/{proxy+} "
            "(a prefix: greedy, last); the function and its alias (the route follows it), version "
            "(pinned) or $LATEST.",
        ),
    ],
    host: Annotated[str | None, typer.Option("--host", help="Only requests for this host name.")] = None,
    sticky_cookie: Annotated[
        str | None,
        typer.Option(
            "--sticky-cookie", metavar="NAME", help="Keep a browser on one version with this cookie."
        ),
    ] = None,
    sticky_header: Annotated[
        str | None,
        typer.Option("--sticky-header", metavar="NAME", help="Route by this header's value (sticky)."),
    ] = None,
    queued: Annotated[
        bool, typer.Option("--async", help="Put requests on the async queue and answer 202 at once.")
    ] = False,
    output: OutputOption = Output.table,
) -> None:
    """Add a route. Examples: `turnout route add GET /items/{id} shop:prod`,
    `turnout route add /api/{proxy+} shop:prod --host api.example.com --sticky-cookie tv`."""
    method, path, function, qualifier = parse_add(words)
    if sticky_cookie and sticky_header:
        raise typer.BadParameter("give --sticky-cookie or --sticky-header, not both")
    body: dict[str, Any] = {"method": method, "path": path, "function": function, "qualifier": qualifier}
    body.update(host=host, sticky_cookie=sticky_cookie, sticky_header=sticky_header, queued=queued)
    with ApiClient.from_environ() as api:
        made = api.post("/v1/routes", json=body)
    if output is Output.json:
        render.print_json(made)
        return
    render.say(f"route {made['id']}: {describe(made)}")


def describe(route: dict[str, Any]) -> str:
    where = f"{route['host'] or ''}{route['path']}"
    return f"{route['method']} {where} → {route['function']}:{route['qualifier']}"


def _sticky(route: dict[str, Any]) -> str:
    if route.get("sticky_cookie"):
        return f"cookie {route['sticky_cookie']}"
    if route.get("sticky_header"):
        return f"header {route['sticky_header']}"
    return ""


@route_app.command("ls")
def list_routes(
    function: Annotated[str | None, typer.Option("--function", help="Only this function's routes.")] = None,
    output: OutputOption = Output.table,
) -> None:
    """List the routes."""
    with ApiClient.from_environ() as api:
        data = api.get("/v1/routes", function=function)
    if output is Output.json:
        render.print_json(data)
        return
    rows = [
        (r["id"], r["method"], r["host"] or "*", r["path"], f"{r['function']}:{r['qualifier']}", _sticky(r))
        for r in data["routes"]
    ]
    render.show(render.table(["id", "method", "host", "path", "target", "sticky"], rows))


@route_app.command("rm")
def remove(route_id: Annotated[int, typer.Argument(metavar="ID", help="The route's id (route ls).")]) -> None:
    """Remove a route."""
    with ApiClient.from_environ() as api:
        api.delete(api_path("routes", route_id))
    render.say(f"route {route_id} removed")
