"""The HTTP edge against slow, idle and oversize clients, and against foreign Host names.

Real servers (tests/support.py ``Server``), raw sockets where the client's timing matters.
"""

from __future__ import annotations

import base64
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.support import HELLO, Server, make_zip, wait_for

pytestmark = pytest.mark.integration

LIMIT = 6 * 1024 * 1024
SIGV4 = (
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/lambda/aws4_request, "
    "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64
)


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(
        tmp_path_factory.mktemp("edge") / "data",
        extra_env={"TURNOUT_HEADER_TIMEOUT_S": "2", "TURNOUT_BODY_TIMEOUT_S": "2"},
    ).start()
    yield running
    running.stop()


def _connect(server: Server) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=30)


def _read_until_closed(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_a_client_trickling_its_headers_is_cut_off_at_the_header_timeout(edge: Server) -> None:
    sock = _connect(edge)
    sock.settimeout(0.5)
    started = time.monotonic()
    sock.sendall(b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    answer, closed = b"", False
    while time.monotonic() - started < 15 and not closed:
        try:
            sock.sendall(b"X-Slow: 1\r\n")
            chunk = sock.recv(65536)
            answer += chunk
            closed = chunk == b""
        except TimeoutError:
            continue
        except (BrokenPipeError, ConnectionResetError):
            closed = True
    elapsed = time.monotonic() - started
    sock.close()
    assert closed and elapsed < 2 + 1.5, elapsed  # the timeout plus one sweep and some slack
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert b"RequestTimeout" in answer


def test_a_stalled_body_is_cut_off_at_the_body_timeout(edge: Server) -> None:
    with _connect(edge) as sock:
        sock.sendall(
            b"POST /v1/functions/nothing/invoke HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            + f"Authorization: Bearer {edge.token}\r\nContent-Length: 100\r\n\r\n{{".encode()
        )
        started = time.monotonic()
        answer = _read_until_closed(sock)
    assert time.monotonic() - started < 2 + 1.5
    assert answer.startswith(b"HTTP/1.1 408"), answer


def test_a_quiet_new_connection_is_closed_at_the_header_timeout(edge: Server) -> None:
    with _connect(edge) as sock:
        started = time.monotonic()
        assert _read_until_closed(sock) == b""  # nothing was asked, nothing is answered
    assert time.monotonic() - started < 2 + 1.5


def test_with_2000_idle_connections_open_a_new_client_is_served_within_a_second(tmp_path: Path) -> None:
    server = Server(tmp_path / "data").start()
    idle: list[socket.socket] = []
    try:
        for _ in range(2000):
            idle.append(_connect(server))
        started = time.monotonic()
        answer = httpx.get(server.url + "/v1/health", timeout=5)
        assert answer.status_code == 200 and time.monotonic() - started < 1.0
    finally:
        for sock in idle:
            sock.close()
        server.stop()


def test_past_the_cap_the_oldest_idle_connections_are_shed_and_logged(tmp_path: Path) -> None:
    server = Server(tmp_path / "data", extra_env={"TURNOUT_MAX_CONNECTIONS": "50"}).start()
    idle: list[socket.socket] = []
    try:
        idle += [_connect(server) for _ in range(80)]
        answer = httpx.get(server.url + "/v1/health", timeout=5)
        assert answer.status_code == 200
        for sock in idle[:20]:  # the oldest went to make room
            sock.settimeout(5)
            assert _read_until_closed(sock) == b""
        assert server.log_path is not None
        log = server.log_path
        wait_for(lambda: "connection cap of 50 reached" in log.read_text(), timeout=10, what="shed log line")
    finally:
        for sock in idle:
            sock.close()
        server.stop()


@pytest.mark.parametrize("chunked", [False, True])
def test_an_oversize_invoke_body_gets_a_readable_413(edge: Server, chunked: bool) -> None:
    body = b"x" * (LIMIT + 1024 * 1024)
    framing = b"Transfer-Encoding: chunked" if chunked else b"Content-Length: %d" % len(body)
    step = 256 * 1024
    with _connect(edge) as sock:
        sock.sendall(
            b"POST /v1/functions/anything/invoke HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            + f"Authorization: Bearer {edge.token}\r\n".encode()
            + framing
            + b"\r\n\r\n"
        )
        for start in range(0, len(body), step):  # a client that sends everything before reading
            part = body[start : start + step]
            sock.sendall(b"%x\r\n%s\r\n" % (len(part), part) if chunked else part)
        sock.sendall(b"0\r\n\r\n" if chunked else b"")
        sock.settimeout(10)
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"RequestTooLarge" in answer


def test_an_oversize_body_through_httpx_reads_413(edge: Server) -> None:
    with edge.client() as api:
        answer = api.post("/v1/functions/anything/invoke", content=iter([b"x" * LIMIT, b"x" * 1024]))
        assert answer.status_code == 413 and answer.json()["error"]["code"] == "RequestTooLarge"


def _create_function_body(name: str) -> bytes:
    return json.dumps(
        {
            "FunctionName": name,
            "Runtime": "python3.12",
            "Role": "arn:aws:iam::000000000000:role/x",
            "Handler": "app.handler",
            "Code": {"ZipFile": base64.b64encode(make_zip({"app.py": HELLO})).decode()},
        }
    ).encode()


def test_lambda_create_function_with_a_foreign_host_is_refused_and_creates_nothing(edge: Server) -> None:
    url = f"{edge.url}/2015-03-31/functions"
    refused = httpx.post(
        url,
        content=_create_function_body("rebound"),
        headers={"Authorization": SIGV4, "Host": "attacker.example"},
    )
    assert refused.status_code == 421, refused.text
    assert refused.headers["x-amzn-errortype"] == "HostNotAllowedException"
    with edge.client() as api:
        assert api.get("/v1/functions/rebound").status_code == 404
    created = httpx.post(
        url,
        content=_create_function_body("rebound"),
        headers={
            "Authorization": SIGV4,
            "Host": f"localhost:{edge.port}",
            "Content-Type": "application/json",
        },
    )
    assert created.status_code == 201, created.text


def test_boto3_through_the_servers_own_name_works(edge: Server) -> None:
    client = boto3.client(
        "lambda",
        endpoint_url=f"http://localhost:{edge.port}",
        region_name="us-east-1",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="x",
        config=Config(retries={"max_attempts": 1}),
    )
    client.create_function(
        FunctionName="by-name",
        Runtime="python3.12",
        Role="arn:aws:iam::000000000000:role/x",
        Handler="app.handler",
        Code={"ZipFile": make_zip({"app.py": HELLO})},
    )
    with pytest.raises(ClientError):
        client.get_function(FunctionName="missing-one")


def test_the_control_plane_refuses_foreign_hosts_and_routes_serve_any(edge: Server) -> None:
    foreign = {"Host": "attacker.example"}
    with edge.client() as api:
        for method, path in [
            ("GET", "/v1/functions"),
            ("POST", "/v1/functions/x/invoke"),
            ("GET", "/metrics"),
        ]:
            answer = api.request(method, path, headers=foreign, json={})
            assert answer.status_code == 421, (path, answer.text)
            assert answer.json()["error"]["code"] == "HostNotAllowed"
        assert api.get("/v1/health", headers=foreign).status_code == 200
        assert api.put("/v1/functions/hosted", headers=foreign, json={}).status_code == 421
        assert api.get("/v1/functions/hosted").status_code == 404  # nothing was created
        sha = api.post("/v1/bundles", content=make_zip({"app.py": HELLO})).json()["sha256"]
        assert api.put("/v1/functions/shop", json={"bundle_sha256": sha, "handler": "app.handler"}).is_success
        assert api.post("/v1/routes", json={"path": "/shop", "function": "shop"}).status_code == 201
        wait_for(
            lambda: httpx.get(edge.url + "/shop", headers=foreign).status_code == 200,
            what="route on any Host",
        )
