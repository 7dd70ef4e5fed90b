"""The HTTP protocol `turnout serve` runs: uvicorn's httptools protocol, answering invocations natively.

Every request but ``POST /v1/functions/{name}/invoke`` goes through ASGI to the app as usual. An
invocation gets an :class:`_InvokeCycle` in place of uvicorn's ``RequestResponseCycle``: the same
connection bookkeeping (keep-alive, pipelined requests, ``Expect: 100-continue``, read flow control,
graceful shutdown), but no ASGI scope, middleware, routing or dependency solving, and the whole answer
(status line, headers, body) leaves in a single write. The answer itself comes from
:func:`turnout.api.invoke.respond`, the same function behind the documented FastAPI route.

uvicorn's protocol internals are a contract of the pinned uvicorn version (pyproject.toml);
tests/integration/test_http_protocol.py exercises each of them against a real server.
"""

from __future__ import annotations

import asyncio
import urllib.parse
from typing import Any, ClassVar

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from turnout.api.invoke import InvokeRequest, invoke_name, invoke_request, respond
from turnout.errors import RequestTooLarge

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class _InvokeCycle:
    """One invoke request on a connection: its body as it arrives, then one written answer.

    Duck-types the parts of uvicorn's ``RequestResponseCycle`` that the protocol touches
    (``body``, ``more_body``, ``message_event``, ``response_complete``, ``disconnected``, ``keep_alive``).
    """

    def __init__(self, protocol: TurnoutHttpProtocol, request: InvokeRequest, keep_alive: bool) -> None:
        self.transport = protocol.transport
        self.flow = protocol.flow
        self.on_response = protocol.on_response_complete
        self.default_headers: list[tuple[bytes, bytes]] = protocol.server_state.default_headers
        self.request = request
        self.keep_alive = keep_alive
        self.waiting_for_100_continue = protocol.expect_100_continue
        self.body = bytearray()
        self.more_body = True
        self.message_event = asyncio.Event()
        self.response_complete = False
        self.disconnected = False

    async def run(self, state: Any) -> None:
        self.limit: int = state.gateway.max_request_bytes
        status, headers, body = await respond(state, self.request, self._read_body)
        if not self.disconnected:
            self._write(status, headers, body)

    async def _read_body(self) -> bytes:
        limit = self.limit
        while self.more_body and not self.disconnected:
            if len(self.body) > limit:
                self.keep_alive = False  # the rest of the body is never read: the connection must close
                raise RequestTooLarge(f"the request payload is over the limit of {limit} bytes")
            if self.waiting_for_100_continue and not self.transport.is_closing():
                self.transport.write(CONTINUE)
                self.waiting_for_100_continue = False
            self.flow.resume_reading()
            await self.message_event.wait()
            self.message_event.clear()
        return bytes(self.body)

    def _write(self, status: int, headers: dict[str, str], body: bytes) -> None:
        content = [STATUS_LINE[status]]
        for name, value in self.default_headers:
            content += [name, b": ", value, b"\r\n"]
        content.append(b"content-type: application/json\r\ncontent-length: %d\r\n" % len(body))
        for key, text in headers.items():  # our own names and values: versions, ids, error codes
            content += [key.lower().encode(), b": ", text.encode("latin-1"), b"\r\n"]
        if not self.keep_alive:
            content.append(b"connection: close\r\n")
        content += [b"\r\n", body]
        self.transport.write(b"".join(content))
        self.response_complete = True
        self.message_event.set()
        if not self.keep_alive:
            self.transport.close()
        self.on_response()


class TurnoutHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a native door for invocations (see the module's docstring)."""

    state: ClassVar[Any] = None  # the app's state (services, gateway): set by :func:`protocol_for`

    def on_headers_complete(self) -> None:
        found = self._invocation()
        if found is None:
            super().on_headers_complete()
            return
        name, query = found
        keep_alive = self.parser.get_http_version() != "1.0" and self.parser.should_keep_alive()
        request = invoke_request(name, self.headers, query)
        existing = self.cycle
        cycle = _InvokeCycle(self, request, keep_alive)
        self.cycle = cycle  # type: ignore[assignment] # duck-typed, see _InvokeCycle
        if existing is None or existing.response_complete:
            self._start_asgi_task(cycle, self.app)
        else:  # pipelined behind a request still being answered
            self.flow.pause_reading()
            self.pipeline.appendleft((cycle, self.app))  # type: ignore[arg-type]

    def _invocation(self) -> tuple[str, bytes] | None:
        """(function name, query string) when this request is an invocation answered here."""
        if self.parser.get_method() != b"POST" or self.limit_concurrency is not None:
            return None
        if self.parser.should_upgrade():
            return None
        url = httptools.parse_url(self.url)
        path = url.path.decode("latin-1")
        if "%" in path:
            path = urllib.parse.unquote(path)
        name = invoke_name(path)
        return None if name is None else (name, url.query or b"")

    def _start_asgi_task(self, cycle: Any, app: Any) -> None:
        if not isinstance(cycle, _InvokeCycle):
            super()._start_asgi_task(cycle, app)
            return
        task = self.loop.create_task(cycle.run(self.state))
        task.add_done_callback(self.tasks.discard)
        self.tasks.add(task)


def protocol_for(state: Any) -> type[TurnoutHttpProtocol]:
    """The protocol class for one app (uvicorn makes one instance per connection)."""
    return type("TurnoutHttpProtocol", (TurnoutHttpProtocol,), {"state": state})
