"""The HTTP protocol `turnout serve` runs: uvicorn's httptools protocol, answering invocations natively.

Two kinds of request are answered here: ``POST /v1/functions/{name}/invoke`` and a request that matches
an HTTP route (against the route table as loaded in memory, stale or not; when it is not loaded, or a
change dropped it, the request takes the ASGI way, ``gateway/front_door.py``, which reads it). Each
gets a :class:`_NativeCycle` in place of uvicorn's
``RequestResponseCycle``: the same connection bookkeeping (keep-alive, pipelined requests,
``Expect: 100-continue``, read flow control, graceful shutdown), but no ASGI scope, middleware, routing
or dependency solving, and the whole answer (status line, headers, body) leaves in a single write. The
answers come from :func:`turnout.api.invoke.respond` (the function behind the documented FastAPI route)
and :func:`turnout.gateway.front_door.serve_route` (behind the ASGI route door): both reach the function
through the one invocation entry, ``gateway/entry.py``. Every other request goes through ASGI to the app.

Every connection also keeps a deadline (``api/connections.py``): the request line and headers within
``TURNOUT_HEADER_TIMEOUT_S`` of the first byte, the body without a pause longer than
``TURNOUT_BODY_TIMEOUT_S``; a late client gets ``408`` and the connection closes. A response sent
before the whole body arrived (``413``, an early error) leaves the connection reading and discarding the
rest (up to :data:`DRAIN_MAX_BYTES`, then a half-close and a short linger), so the client reads the
answer instead of a connection reset.

uvicorn's protocol internals are a contract of the pinned uvicorn version (pyproject.toml);
tests/integration/test_http_protocol.py exercises each of them against a real server.
"""

from __future__ import annotations

import asyncio
import json
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

import httptools
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from turnout.api.connections import Connections
from turnout.api.invoke import InvokeRequest, invoke_name, invoke_request, respond
from turnout.domain.route_table import Match, reserved
from turnout.errors import InvalidRequestContent, RequestTimeout, RequestTooLarge
from turnout.gateway.front_door import loaded_table, serve_route
from turnout.gateway.http_request import RawRequest

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
DRAIN_MAX_BYTES = 64 * 1024 * 1024  # read and discarded after an early answer, then half-close
LINGER_S = 2.0  # after the half-close, how long the rest is still read before the socket closes


Headers = list[tuple[str, str]]
Answer = Callable[[Callable[[], Awaitable[bytes]]], Awaitable[tuple[int, Headers, bytes]]]
_FRAMING = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive"})


class _NativeCycle:
    """One natively answered request on a connection: its body as it arrives, then one written answer.

    Duck-types the parts of uvicorn's ``RequestResponseCycle`` that the protocol touches
    (``body``, ``more_body``, ``message_event``, ``response_complete``, ``disconnected``, ``keep_alive``).
    ``answer`` reads the body through the callable it is given and returns (status, headers, body).
    """

    def __init__(self, protocol: TurnoutHttpProtocol, answer: Answer, keep_alive: bool, head: bool) -> None:
        self.transport = protocol.transport
        self.flow = protocol.flow
        self.on_response = protocol.on_response_complete
        self.default_headers: list[tuple[bytes, bytes]] = protocol.server_state.default_headers
        self.answer = answer
        self.keep_alive = keep_alive
        self.head = head
        self.limit: int = protocol.state.entry.max_request_bytes
        self.waiting_for_100_continue = protocol.expect_100_continue
        self.body = bytearray()
        self.more_body = True
        self.message_event = asyncio.Event()
        self.response_complete = False
        self.disconnected = False

    async def run(self) -> None:
        status, headers, body = await self.answer(self._read_body)
        if not self.disconnected:
            self._write(status, headers, body)

    async def _read_body(self) -> bytes:
        limit = self.limit
        while self.more_body and not self.disconnected:
            if len(self.body) > limit:  # the protocol reads and discards the rest (drain)
                raise RequestTooLarge(f"the request payload is over the limit of {limit} bytes")
            if self.waiting_for_100_continue and not self.transport.is_closing():
                self.transport.write(CONTINUE)
                self.waiting_for_100_continue = False
            self.flow.resume_reading()
            await self.message_event.wait()
            self.message_event.clear()
        if self.disconnected:  # never run a function on half a body
            raise InvalidRequestContent("the connection closed before the whole request body arrived")
        if len(self.body) > limit:
            raise RequestTooLarge(f"the request payload is over the limit of {limit} bytes")
        return bytes(self.body)

    def _write(self, status: int, headers: Headers, body: bytes) -> None:
        content = [STATUS_LINE[status]]
        for name, value in self.default_headers:
            content += [name, b": ", value, b"\r\n"]
        content.append(b"content-length: %d\r\n" % len(body))
        for key, text in headers:  # names and values were checked where they were made
            if key not in _FRAMING:
                content += [key.encode("latin-1"), b": ", text.encode("latin-1", "replace"), b"\r\n"]
        if not self.keep_alive:
            content.append(b"connection: close\r\n")
        content.append(b"\r\n")
        if not self.head:
            content.append(body)
        self.transport.write(b"".join(content))
        self.response_complete = True
        self.message_event.set()
        if not self.keep_alive:
            self.transport.close()
        self.on_response()


class TurnoutHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a native door for invocations (see the module's docstring)."""

    state: ClassVar[Any] = None  # the app's state (services, gateway): set by :func:`protocol_for`
    registry: ClassVar[Connections]  # the server's open connections: set by :func:`protocol_for`
    deadline: float | None = None  # loop time by which the client must have sent more (None: no limit)
    _in_request = False  # between a request's first byte and its last
    _headers_done = False
    _discarded = 0  # body bytes read after the answer went
    _lingering = False
    _forwarded: _Forwarded | None = None

    # -- connection lifetime, deadlines, draining --------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if not self.registry.opened(self, self.loop):
            transport.close()
            return
        self.deadline = self.loop.time() + self.registry.timeouts.header_s

    def connection_lost(self, exc: Exception | None) -> None:
        self.registry.closed(self)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if not self._lingering:
            super().data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_request, self._headers_done, self._discarded = True, False, 0
        self.registry.became_busy(self)
        self.deadline = self.loop.time() + self.registry.timeouts.header_s

    def on_body(self, body: bytes) -> None:
        self.deadline = self.loop.time() + self.registry.timeouts.body_s
        if self.cycle.response_complete:  # answered early: discard the rest, up to a bound
            self._discarded += len(body)
            if self._discarded > DRAIN_MAX_BYTES:
                self._linger()
            return
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._in_request, self.deadline = False, None
        super().on_message_complete()
        self._maybe_idle()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._maybe_idle()

    def _maybe_idle(self) -> None:
        if (
            not self._in_request
            and not self.pipeline
            and (self.cycle is None or self.cycle.response_complete)
        ):
            self.registry.became_idle(self)

    def expire(self) -> None:
        """The deadline passed (called by the registry's sweep)."""
        if self.transport.is_closing():
            return
        if self._lingering:
            self.transport.close()
            return
        if self._in_request and self._headers_done and self._waiting_on_us():
            self.deadline = self.loop.time() + self.registry.timeouts.body_s
            return
        if self._in_request and self._can_answer():
            self._write_408()
        self.transport.close()

    def close_idle(self) -> None:
        """Shed by the registry (over the connection cap): nothing is in progress."""
        self.transport.close()

    def _waiting_on_us(self) -> bool:
        """The body is not arriving because we paused reading or owe the client a 100-continue."""
        return self.flow.read_paused or bool(getattr(self.cycle, "waiting_for_100_continue", False))

    def _can_answer(self) -> bool:
        cycle = self.cycle
        if not self._headers_done:  # self.cycle is the previous request's
            return cycle is None or cycle.response_complete
        return not (getattr(cycle, "response_started", False) or cycle.response_complete)

    def _write_408(self) -> None:
        phase = "body" if self._headers_done else "request line and headers"
        error = RequestTimeout(f"the {phase} did not arrive in time")
        body = json.dumps({"error": error.to_dict()}).encode()
        head = b"content-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n"
        self.transport.write(STATUS_LINE[408] + head % len(body) + body)

    def _linger(self) -> None:
        """Half-close, keep reading (and discarding) a little longer, then close: no reset before the
        client has read the answer."""
        self._lingering = True
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.flow.resume_reading()
        self.deadline = self.loop.time() + LINGER_S

    # -- the native doors: invoke and routes --------------------------------------------------------

    def on_headers_complete(self) -> None:
        self._headers_done = True
        self.deadline = self.loop.time() + self.registry.timeouts.body_s
        answer = self._native_answer()
        if answer is None:
            super().on_headers_complete()
            return
        keep_alive = self.parser.get_http_version() != "1.0" and self.parser.should_keep_alive()
        head = self.parser.get_method() == b"HEAD"
        existing = self.cycle
        cycle = _NativeCycle(self, answer, keep_alive, head)
        self.cycle = cycle  # type: ignore[assignment] # duck-typed, see _NativeCycle
        if existing is None or existing.response_complete:
            self._start_asgi_task(cycle, self.app)
        else:  # pipelined behind a request still being answered
            self.flow.pause_reading()
            self.pipeline.appendleft((cycle, self.app))  # type: ignore[arg-type]

    def _native_answer(self) -> Answer | None:
        """How to answer this request here (an invocation or a route's), or None to hand it to ASGI."""
        if self.limit_concurrency is not None or self.parser.should_upgrade():
            return None
        url = httptools.parse_url(self.url)
        raw_path = url.path.decode("latin-1")
        path = urllib.parse.unquote(raw_path) if "%" in raw_path else raw_path
        method = self.parser.get_method()
        name = invoke_name(path) if method == b"POST" else None
        if name is not None:
            return self._invoke_answer(invoke_request(name, self.headers, url.query or b""))
        if path is not raw_path and reserved(path):  # percent-encoded Turnout paths (the table checks raw)
            return None
        table = loaded_table(self.state)
        if not table:  # no routes, or the table is being reloaded: the ASGI door
            return None
        host = next((v.decode("latin-1") for k, v in self.headers if k == b"host"), "")
        match = table.match(method.decode("latin-1"), host, raw_path)
        if match is None:
            return None
        return self._route_answer(match, self._raw_request(method, raw_path, url.query or b""))

    def _invoke_answer(self, request: InvokeRequest) -> Answer:
        async def answer(read_body: Callable[[], Awaitable[bytes]]) -> tuple[int, Headers, bytes]:
            status, headers, body = await respond(self.state, request, read_body)
            return status, [("content-type", "application/json"), *_lower(headers)], body

        return answer

    def _route_answer(self, match: Match, request: RawRequest) -> Answer:
        async def answer(read_body: Callable[[], Awaitable[bytes]]) -> tuple[int, Headers, bytes]:
            if self.forwarded is not None and request.forwarded():
                await self.forwarded.apply(request)
            response = await serve_route(self.state, match, request, read_body)
            return response.status, response.headers, response.body

        return answer

    def _raw_request(self, method: bytes, raw_path: str, query: bytes) -> RawRequest:
        return RawRequest(
            method=method.decode("latin-1"),
            raw_path=raw_path,
            query=query.decode("latin-1"),
            headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in self.headers],
            client=self.client[0] if self.client else "",
            scheme=self.scheme or "http",
            http_version=self.parser.get_http_version(),
        )

    def _start_asgi_task(self, cycle: Any, app: Any) -> None:
        if not isinstance(cycle, _NativeCycle):
            super()._start_asgi_task(cycle, app)
            return
        task = self.loop.create_task(cycle.run())
        task.add_done_callback(self.tasks.discard)
        self.tasks.add(task)

    @property
    def forwarded(self) -> _Forwarded | None:
        """uvicorn's proxy headers (``X-Forwarded-For``/``-Proto`` from trusted hosts), when they are on."""
        if not self.config.proxy_headers:
            return None
        if self._forwarded is None:  # made for the first request a proxy sent on this connection
            self._forwarded = _Forwarded(self.config.forwarded_allow_ips or "127.0.0.1")
        return self._forwarded


def _lower(headers: dict[str, str]) -> Headers:
    return [(key.lower(), value) for key, value in headers.items()]


class _Forwarded:
    """uvicorn's ``ProxyHeadersMiddleware`` applied to a :class:`RawRequest` (client address, scheme)."""

    def __init__(self, trusted: list[str] | str) -> None:
        self.middleware = ProxyHeadersMiddleware(_nothing, trusted)

    async def apply(self, request: RawRequest) -> None:
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in request.headers]
        scope: dict[str, Any] = {
            "type": "http",
            "client": (request.client, 0),
            "scheme": request.scheme,
            "headers": headers,
        }
        await self.middleware(scope, _nothing, _nothing)  # type: ignore[arg-type]
        request.client, request.scheme = scope["client"][0], scope["scheme"]


async def _nothing(*_: Any) -> None:
    return None


def protocol_for(state: Any, registry: Connections) -> type[TurnoutHttpProtocol]:
    """The protocol class for one app and its connections (uvicorn makes one instance per connection)."""
    return type("TurnoutHttpProtocol", (TurnoutHttpProtocol,), {"state": state, "registry": registry})
