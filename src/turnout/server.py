"""`turnout serve`: the control plane on uvicorn."""

from __future__ import annotations

import logging
import threading
from types import FrameType

import uvicorn

from turnout.api.connections import Connections, Timeouts, connection_cap, raise_open_file_limit
from turnout.api.protocol import protocol_for
from turnout.app import create_app
from turnout.gateway.front_door import RouteDoor
from turnout.gateway.readiness import Readiness
from turnout.settings import Settings


def serve(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if settings.log_level != "debug":
        logging.getLogger("alembic").setLevel(logging.WARNING)
    settings.check_exposure()
    open_files = raise_open_file_limit()
    app = create_app(settings)
    registry = Connections(
        connection_cap(settings.max_connections, open_files),
        Timeouts(header_s=settings.header_timeout_s, body_s=settings.body_timeout_s),
    )
    config = uvicorn.Config(
        RouteDoor(app),
        http=protocol_for(app.state, registry),  # invocations answered natively (turnout/api/protocol.py)
        host=settings.host,
        port=settings.port,
        timeout_keep_alive=settings.keep_alive_s,
        log_level=settings.log_level,
        access_log=settings.log_level == "debug",
    )
    _DrainingServer(config, app.state.readiness, settings.drain_s).run()


class _DrainingServer(uvicorn.Server):
    """On SIGTERM/SIGINT the node first answers 503 on /v1/ready for ``drain_s`` while it keeps serving, so
    load balancers stop sending it requests before it stops taking connections."""

    def __init__(self, config: uvicorn.Config, readiness: Readiness, drain_s: float) -> None:
        super().__init__(config)
        self.readiness, self.drain_s = readiness, drain_s

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.drain_s > 0 and not self.readiness.draining:
            self.readiness.draining = True
            logging.getLogger("turnout").info("draining for %s s before shutting down", self.drain_s)
            timer = threading.Timer(self.drain_s, super().handle_exit, (sig, frame))
            timer.daemon = True
            timer.start()
            return
        super().handle_exit(sig, frame)
