"""The HTTP protocol `turnout serve` runs (turnout/api/protocol.py), spoken byte by byte.

Invocations are answered natively in one write, everything else goes through ASGI; these tests check
that the connection behaves like any HTTP/1.1 server's either way: keep-alive across both kinds of
request, pipelining in order, ``Expect: 100-continue``, chunked request bodies, HTTP/1.0, an over-limit
body answered 413 on a connection that stays usable, and errors that keep it open.
"""

from __future__ import annotations

import json
import signal
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.integration.runtime_support import probe, release
from tests.support import Flag, Server, deploy, publish, unique, wait_for

pytestmark = pytest.mark.integration

ECHO = "def handler(event, context):\n    return {'got': event, 'version': context.function_version}\n"


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes
    head: str = ""
    extra: list[str] = field(default_factory=list)  # interim responses (100 Continue) before it

    def json(self) -> dict:
        return json.loads(self.body)


class Wire:
    """One raw HTTP/1.1 connection: write bytes, read whole responses (content-length bodies)."""

    def __init__(self, server: Server) -> None:
        self.sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
        self.buffer = b""
        self.token = server.token

    def close(self) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def request(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        version: str = "1.1",
    ) -> bytes:
        lines = [f"{method} {path} HTTP/{version}", "Host: 127.0.0.1"]
        all_headers = {
            "Authorization": f"Bearer {self.token}",
            "Content-Length": str(len(body)),
            **(headers or {}),
        }
        lines += [f"{k}: {v}" for k, v in all_headers.items() if v is not None]
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body

    def _fill(self) -> bool:
        chunk = self.sock.recv(65536)
        self.buffer += chunk
        return bool(chunk)

    def read_head(self) -> tuple[int, str, dict[str, str]]:
        while b"\r\n\r\n" not in self.buffer:
            if not self._fill():
                raise ConnectionError(f"closed before a response head: {self.buffer!r}")
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        text = head.decode("latin-1")
        status_line, *rest = text.split("\r\n")
        headers = {}
        for line in rest:
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        return int(status_line.split()[1]), text, headers

    def read(self) -> Response:
        interim = []
        status, head, headers = self.read_head()
        while status == 100:
            interim.append(head)
            status, head, headers = self.read_head()
        length = int(headers["content-length"])
        while len(self.buffer) < length:
            if not self._fill():
                raise ConnectionError("closed inside a response body")
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return Response(status, headers, body, head, interim)

    def closed_by_server(self) -> bool:
        """True when the server closes the connection with nothing more to say: EOF, or a reset (a
        socket closed with unread data in it, such as the rest of a refused body, answers RST)."""
        try:
            return not self.buffer and self.sock.recv(1) == b""
        except ConnectionResetError:
            return not self.buffer
        except TimeoutError:
            return False


@pytest.fixture(scope="module")
def echo(quick: Server) -> str:
    name = unique("wire")
    with quick.client() as api:
        deploy(api, name, files={"app.py": ECHO})
        publish(api, name)
        assert api.put(f"/v1/functions/{name}/aliases/live", json={"version": "1"}).status_code == 201
    return name


@pytest.fixture
def wire(quick: Server) -> Iterator[Wire]:
    connection = Wire(quick)
    yield connection
    connection.close()


def test_one_connection_serves_invocations_and_api_requests_in_turn(wire: Wire, echo: str) -> None:
    for i in range(3):
        wire.send(
            wire.request("POST", f"/v1/functions/{echo}/invoke?qualifier=live", json.dumps({"i": i}).encode())
        )
        answer = wire.read()
        assert answer.status == 200, answer.body
        assert answer.json() == {"got": {"i": i}, "version": "1"}
        assert answer.headers["x-turnout-version"] == "1"
        assert len(answer.headers["x-turnout-request-id"]) == 36
        assert answer.headers["content-type"] == "application/json"
        assert "date" in answer.headers and "server" in answer.headers  # like every uvicorn answer
        assert "connection" not in answer.headers
        wire.send(wire.request("GET", f"/v1/functions/{echo}/aliases/live"))
        alias = wire.read()
        assert alias.status == 200 and alias.json()["name"] == "live"


def test_pipelined_requests_are_answered_in_order(wire: Wire, echo: str) -> None:
    invoke = f"/v1/functions/{echo}:live/invoke"
    wire.send(
        wire.request("POST", invoke, b'{"n": 1}')
        + wire.request("GET", "/v1/health")
        + wire.request("POST", invoke, b'{"n": 2}')
        + wire.request("POST", invoke, b'{"n": 3}')
    )
    first, health, second, third = (wire.read() for _ in range(4))
    assert first.json()["got"] == {"n": 1}
    assert health.status == 200 and "x-turnout-version" not in health.headers
    assert second.json()["got"] == {"n": 2}
    assert third.json()["got"] == {"n": 3}


def test_expect_100_continue_gets_its_interim_answer_before_the_body(wire: Wire, echo: str) -> None:
    body = b'{"big": "' + b"x" * 5000 + b'"}'
    head = wire.request(
        "POST", f"/v1/functions/{echo}/invoke?qualifier=live", b"", {"Expect": "100-continue"}
    )
    wire.send(head.replace(b"Content-Length: 0", f"Content-Length: {len(body)}".encode()))
    status, _, _ = wire.read_head()
    assert status == 100
    wire.send(body)
    answer = wire.read()
    assert answer.status == 200 and answer.json()["got"]["big"] == "x" * 5000


def test_a_chunked_request_body_is_put_together(wire: Wire, echo: str) -> None:
    head = wire.request(
        "POST",
        f"/v1/functions/{echo}/invoke?qualifier=live",
        b"",
        {"Content-Length": None, "Transfer-Encoding": "chunked"},
    )
    parts = [b'{"chunks": ', b"[1, 2, 3]}"]
    body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"
    wire.send(head + body)
    answer = wire.read()
    assert answer.status == 200, answer.body
    assert answer.json()["got"] == {"chunks": [1, 2, 3]}


def test_http_1_0_gets_its_answer_and_the_connection_closes(wire: Wire, echo: str) -> None:
    wire.send(wire.request("POST", f"/v1/functions/{echo}/invoke?qualifier=live", b"{}", version="1.0"))
    answer = wire.read()
    assert answer.status == 200 and answer.json()["got"] == {}
    assert answer.headers["connection"] == "close"
    assert wire.closed_by_server()


def test_a_body_over_the_limit_is_refused_readably_and_the_connection_kept(
    quick: Server, wire: Wire, echo: str
) -> None:
    limit = 6 * 1024 * 1024
    head = wire.request(
        "POST",
        f"/v1/functions/{echo}/invoke?qualifier=live",
        b"",
        {"Content-Length": None, "Transfer-Encoding": "chunked"},
    )
    chunk = b"x" * 65536
    wire.send(head)
    sent = 0
    while sent <= limit + 4 * 65536:  # the server reads (and discards) what follows its answer
        wire.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        sent += len(chunk)
    wire.send(b"0\r\n\r\n")
    answer = wire.read()
    assert answer.status == 413
    assert answer.json()["error"]["code"] == "RequestTooLarge"
    assert "connection" not in answer.headers  # the connection stays usable
    wire.send(wire.request("POST", f"/v1/functions/{echo}/invoke?qualifier=live", b"{}"))
    assert wire.read().status == 200
    with quick.client() as api:  # and the server is fine
        assert api.post(f"/v1/functions/{echo}/invoke?qualifier=live", json={"after": 1}).status_code == 200


def test_errors_keep_the_connection_open(wire: Wire, echo: str) -> None:
    cases = [
        (
            wire.request("POST", f"/v1/functions/{echo}/invoke?qualifier=live", b"{not json"),
            400,
            "InvalidRequestContent",
        ),
        (wire.request("POST", "/v1/functions/nope-nothing-here/invoke", b"{}"), 404, "FunctionNotFound"),
        (wire.request("POST", f"/v1/functions/{echo}/invoke?qualifier=nosuch", b"{}"), 404, "AliasNotFound"),
        (
            wire.request("POST", f"/v1/functions/{echo}/invoke", b"{}", {"Authorization": "Bearer wrong"}),
            401,
            "Unauthorized",
        ),
    ]
    for raw, status, code in cases:
        wire.send(raw)
        answer = wire.read()
        assert (answer.status, answer.json()["error"]["code"]) == (status, code), answer.body
    wire.send(wire.request("POST", f"/v1/functions/{echo}/invoke?qualifier=live", b'{"still": "open"}'))
    assert wire.read().json()["got"] == {"still": "open"}


def test_a_percent_encoded_qualified_name_is_understood(wire: Wire, echo: str) -> None:
    wire.send(wire.request("POST", f"/v1/functions/{echo}%3Alive/invoke", b'{"q": 1}'))
    answer = wire.read()
    assert answer.status == 200 and answer.json()["got"] == {"q": 1}


def test_a_graceful_shutdown_lets_a_running_invocation_answer(tmp_path: Path) -> None:
    """SIGTERM (a redeploy of Turnout itself): new connections stop, the invocation in flight answers."""
    server = Server(tmp_path / "data").start()
    try:
        with server.client() as api:
            name = unique("drain")
            release(api, name, probe())
        gate, started = Flag("go"), Flag("started")
        wire = Wire(server)
        event = json.dumps({"started": str(started), "wait_for": str(gate)}).encode()
        wire.send(wire.request("POST", f"/v1/functions/{name}/invoke?qualifier=1", event))
        wait_for(started.exists, timeout=20, what="the invocation to start")
        assert server.process is not None
        server.process.send_signal(signal.SIGTERM)
        wait_for(lambda: _refused(server.port), timeout=10, what="the server to stop accepting")
        gate.touch()
        answer = wire.read()
        wire.close()
        assert answer.status == 200 and answer.json()["marker"] == "v1"
        assert answer.headers["connection"] == "close"
        assert server.process.wait(timeout=20) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal
    finally:
        server.kill()


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return True
    return False


def test_idle_keep_alive_connections_close_after_the_setting(tmp_path: Path) -> None:
    """TURNOUT_KEEP_ALIVE_S (65 s by default, longer than clients' own idle expiry) reaches uvicorn."""
    server = Server(tmp_path / "data", extra_env={"TURNOUT_KEEP_ALIVE_S": "2"}).start()
    try:
        wire = Wire(server)
        wire.send(wire.request("GET", "/v1/health"))
        assert wire.read().status == 200
        answered = time.monotonic()
        wire.sock.settimeout(10)
        assert wire.closed_by_server()  # blocks until the server closes the idle connection
        idle = time.monotonic() - answered
        assert 1.5 <= idle <= 6, idle
        wire.close()
    finally:
        server.stop()


# -- routes, answered natively like invocations ------------------------------------------------------

ROUTED = """\
import json


def handler(event, context):
    query = event.get("queryStringParameters") or {}
    if "bad" in query:  # a header no HTTP response can carry
        return {"statusCode": 200, "headers": {"X-Bad": "a\\r\\nSet-Cookie: evil=1"}, "body": "x"}
    http = event["requestContext"]["http"]
    seen = {"path": event["rawPath"], "method": http["method"], "sourceIp": http["sourceIp"],
            "proto": event["headers"].get("x-forwarded-proto"), "body": event.get("body")}
    return {"statusCode": 201, "headers": {"Content-Type": "application/json", "X-Route": "yes"},
            "body": json.dumps(seen)}
"""


@pytest.fixture(scope="module")
def routed(quick: Server) -> str:
    """A path prefix whose routes (``/PREFIX/{proxy+}``, any method) run :data:`ROUTED` through an alias."""
    name, prefix = unique("routed"), unique("/wire")
    with quick.client() as api:
        deploy(api, name, files={"app.py": ROUTED})
        publish(api, name)
        assert api.put(f"/v1/functions/{name}/aliases/live", json={"version": "1"}).status_code == 201
        route = {"path": prefix + "/{proxy+}", "function": name, "qualifier": "live"}
        assert api.post("/v1/routes", json=route).status_code == 201
        wait_for(lambda: api.get(prefix + "/ready").status_code == 201, timeout=60, what="the route")
    return prefix


def test_routes_and_invocations_share_a_connection_pipelined_in_order(
    wire: Wire, echo: str, routed: str
) -> None:
    wire.send(
        wire.request("GET", routed + "/a")
        + wire.request("POST", f"/v1/functions/{echo}:live/invoke", b'{"n": 1}')
        + wire.request("HEAD", routed + "/b")
        + wire.request("POST", routed + "/c", b"payload")
        + wire.request("GET", "/v1/health")
    )
    first = wire.read()
    assert first.status == 201 and first.headers["x-route"] == "yes"
    assert first.json() == {"path": routed + "/a", "method": "GET", "sourceIp": "127.0.0.1", "proto": "http",
                            "body": None}  # fmt: skip
    assert first.headers["x-turnout-version"] == "1" and "date" in first.headers
    assert wire.read().json()["got"] == {"n": 1}
    status, _, headers = wire.read_head()  # HEAD: the headers a GET would get, no body
    assert status == 201 and headers["x-route"] == "yes"
    posted = wire.read()
    assert posted.json()["method"] == "POST" and posted.json()["body"] == "payload"
    assert wire.read().status == 200  # /v1/health, through ASGI on the same connection


def test_a_route_answer_with_a_header_http_cannot_carry_is_a_502(wire: Wire, routed: str) -> None:
    wire.send(wire.request("GET", routed + "/x?bad=1"))
    answer = wire.read()
    assert answer.status == 502 and answer.json() == {"message": "Internal Server Error"}
    assert "set-cookie" not in answer.headers and "x-bad" not in answer.headers
    wire.send(wire.request("GET", routed + "/after"))  # the connection goes on
    assert wire.read().status == 201


def test_a_route_body_declared_over_the_limit_is_a_readable_413(wire: Wire, routed: str) -> None:
    wire.send(wire.request("POST", routed + "/big", b"", {"Content-Length": str(7 * 1024 * 1024)}))
    answer = wire.read()
    assert answer.status == 413 and answer.json()["error"]["code"] == "RequestTooLarge"


def test_a_trusted_proxy_names_the_client_of_a_route(wire: Wire, routed: str) -> None:
    forwarded = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
    wire.send(wire.request("GET", routed + "/proxied", headers=forwarded))
    seen = wire.read().json()
    assert (seen["sourceIp"], seen["proto"]) == ("203.0.113.9", "https")


def test_metrics_count_requests_per_door(quick: Server, wire: Wire, echo: str, routed: str) -> None:
    wire.send(wire.request("GET", routed + "/counted"))
    assert wire.read().status == 201
    wire.send(wire.request("POST", "/v1/functions/nope-nothing-here/invoke", b"{}"))
    assert wire.read().status == 404
    with quick.client() as api:
        text = api.get("/metrics").text
    counted = {
        line.split("{")[1].split("}")[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("turnout_entry_requests_total{")
    }
    assert any(
        'door="route"' in labels and 'result="ok"' in labels and n >= 1 for labels, n in counted.items()
    )
    assert any('door="invoke"' in labels and 'result="refused"' in labels for labels in counted)
