"""`turnout serve`: the control plane on uvicorn."""

from __future__ import annotations

import logging

import uvicorn

from turnout.api.connections import Connections, Timeouts, connection_cap, raise_open_file_limit
from turnout.api.protocol import protocol_for
from turnout.app import create_app
from turnout.gateway.front_door import RouteDoor
from turnout.settings import Settings


def serve(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if settings.log_level != "debug":
        logging.getLogger("alembic").setLevel(logging.WARNING)
    open_files = raise_open_file_limit()
    app = create_app(settings)
    registry = Connections(
        connection_cap(settings.max_connections, open_files),
        Timeouts(header_s=settings.header_timeout_s, body_s=settings.body_timeout_s),
    )
    uvicorn.run(
        RouteDoor(app),
        http=protocol_for(app.state, registry),  # invocations answered natively (turnout/api/protocol.py)
        host=settings.host,
        port=settings.port,
        timeout_keep_alive=settings.keep_alive_s,
        log_level=settings.log_level,
        access_log=settings.log_level == "debug",
    )
