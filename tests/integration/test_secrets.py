"""Secrets at rest with a real server: sealed in the database file, visible to the function, masked in
every read, carried through `turnout secrets rotate-key`; a wrong key stops the server at start."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.pool import NullPool

from tests.integration.lambda_support import lambda_client
from tests.store.pg import postgres_schema
from tests.support import Server, deploy, make_zip, publish, unique, wait_for
from turnout.keyring import new_key, write_key
from turnout.store.schema import metadata

pytestmark = pytest.mark.integration

NATIVE_SECRET = "native-pw-4e1b9d77c2"
LAMBDA_SECRET = "lambda-key-0a8f3e6b19"
ALIAS_SECRET = "alias-plan-5c2d7e90af"
PLAINS = (NATIVE_SECRET, LAMBDA_SECRET, ALIAS_SECRET)
ECHO = "import os\n\ndef handler(event, context):\n    return {k: os.environ.get(k) for k in event['keys']}\n"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest) -> Iterator[str]:
    """'' (SQLite in the data folder) or the URL of a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield ""
        return
    with postgres_schema() as url:
        yield url


def raw_database(server: Server) -> bytes:
    """What an attacker with the database gets: the SQLite files' bytes, or every PostgreSQL row."""
    if not server.database_url:
        files = sorted(server.data_dir.glob("turnout.db*"))
        assert files
        return b"".join(path.read_bytes() for path in files)
    engine = create_engine(server.database_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            rows = [repr(tuple(r)) for t in metadata.sorted_tables for r in conn.execute(select(t))]
    finally:
        engine.dispose()
    return "\n".join(rows).encode()


def leaked(server: Server) -> list[str]:
    data = raw_database(server)
    return [plain for plain in PLAINS if plain.encode() in data]


def invoke(api: httpx.Client, name: str, qualifier: str, *keys: str) -> dict[str, str]:
    response = api.post(f"/v1/functions/{name}/invoke", params={"qualifier": qualifier}, json={"keys": keys})
    assert response.status_code == 200, response.text
    result: dict[str, str] = response.json()
    return result


def set_up_secrets(server: Server, api: httpx.Client, native: str, through_lambda: str) -> None:
    deploy(api, native, {"app.py": ECHO}, environment={"DB_PASSWORD": NATIVE_SECRET, "GREETING": "hi"})
    publish(api, native)
    alias = {"version": 1, "settings": {"PLAN": ALIAS_SECRET}, "secret_keys": ["PLAN"]}
    assert api.put(f"/v1/functions/{native}/aliases/prod", json=alias).status_code in (200, 201)
    lambda_client(server.url).create_function(
        FunctionName=through_lambda,
        Runtime="python3.11",
        Role="arn:aws:iam::000000000000:role/ignored",
        Handler="app.handler",
        Code={"ZipFile": make_zip({"app.py": ECHO})},
        Environment={"Variables": {"STRIPE_API_KEY": LAMBDA_SECRET}},
    )


def assert_functions_see_their_secrets(api: httpx.Client, native: str, through_lambda: str) -> None:
    seen = invoke(api, native, "prod", "DB_PASSWORD", "PLAN", "GREETING")
    assert seen == {"DB_PASSWORD": NATIVE_SECRET, "PLAN": ALIAS_SECRET, "GREETING": "hi"}
    assert invoke(api, through_lambda, "$LATEST", "STRIPE_API_KEY") == {"STRIPE_API_KEY": LAMBDA_SECRET}


def assert_every_read_is_masked(server: Server, api: httpx.Client, native: str, through_lambda: str) -> None:
    reads = [
        api.get(f"/v1/functions/{native}").text,
        api.get(f"/v1/functions/{native}/versions/1").text,
        api.get(f"/v1/functions/{native}/versions").text,
        api.get(f"/v1/functions/{native}/aliases/prod").text,
        api.get(f"/v1/functions/{native}/aliases").text,
        api.get(f"/v1/functions/{through_lambda}").text,
        repr(lambda_client(server.url).get_function_configuration(FunctionName=through_lambda)),
        repr(lambda_client(server.url).get_function(FunctionName=through_lambda)),
    ]
    assert not [plain for plain in PLAINS for text in reads if plain in text]
    revealed = api.get(f"/v1/functions/{native}", params={"reveal": "true"}).json()
    assert revealed["config"]["environment"]["DB_PASSWORD"] == NATIVE_SECRET


def cli(server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**server.env, "TURNOUT_URL": server.url, "TURNOUT_TOKEN": server.token}
    return subprocess.run(
        [sys.executable, "-m", "turnout", *args], env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.timeout(300)
def test_a_secret_is_sealed_at_rest_seen_by_its_function_masked_and_survives_rotate_key(
    tmp_path: Path, database: str
) -> None:
    server = Server(tmp_path / "data", database_url=database).start(timeout=120)
    native, through_lambda = unique("sec"), unique("seclambda")
    try:
        with server.client() as api:
            set_up_secrets(server, api, native, through_lambda)
            assert_functions_see_their_secrets(api, native, through_lambda)
            assert_every_read_is_masked(server, api, native, through_lambda)
            assert leaked(server) == []
            old_key = (server.data_dir / "secret-key").read_text()
            rotated = cli(server, "secrets", "rotate-key")
            assert rotated.returncode == 0, rotated.stderr
            assert "re-sealed 4 secret values" in rotated.stderr + rotated.stdout
            assert (server.data_dir / "secret-key").read_text() != old_key
            assert_functions_see_their_secrets(api, native, through_lambda)
            assert leaked(server) == []
        server.stop()
        server.start(timeout=120)  # the rotated key opens the store after a restart
        with server.client() as api:
            assert_functions_see_their_secrets(api, native, through_lambda)
    finally:
        server.stop()


@pytest.mark.timeout(300)
def test_a_server_started_with_the_wrong_key_refuses_to_start_with_a_clear_message(
    tmp_path: Path, database: str
) -> None:
    server = Server(tmp_path / "data", database_url=database).start(timeout=120)
    with server.client() as api:
        deploy(api, unique("sec"), {"app.py": ECHO}, environment={"DB_PASSWORD": NATIVE_SECRET})
    server.stop()
    write_key(server.data_dir / "secret-key", new_key())
    command = [sys.executable, "-m", "turnout", "serve"]
    started = subprocess.run(command, env=server.env, capture_output=True, text=True, timeout=120)
    assert started.returncode != 0
    assert "SecretKeyInvalid" in started.stderr
    assert "is not the key this store's secrets were sealed with" in started.stderr


@pytest.mark.timeout(300)
def test_serve_on_a_network_address_refuses_lambda_auth_any_and_starts_with_token_auth(
    tmp_path: Path,
) -> None:
    server = Server(tmp_path / "data", extra_env={"TURNOUT_LAMBDA_AUTH": "any"})  # the server makes data/
    refused = subprocess.run(
        [sys.executable, "-m", "turnout", "serve", "--host", "0.0.0.0"],
        env=server.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode != 0
    assert "InsecureSettings" in refused.stderr and "TURNOUT_LAMBDA_AUTH=token" in refused.stderr
    env = {**server.env, "TURNOUT_LAMBDA_AUTH": "token"}
    process = subprocess.Popen(
        [sys.executable, "-m", "turnout", "serve", "--host", "0.0.0.0"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: _healthy(server.url, process), timeout=120, what="server on 0.0.0.0")
        data_mode = os.stat(server.data_dir).st_mode & 0o777
        token_mode = os.stat(server.data_dir / "admin-token").st_mode & 0o777
        key_mode = os.stat(server.data_dir / "secret-key").st_mode & 0o777
        assert (data_mode, token_mode, key_mode) == (0o700, 0o600, 0o600)
    finally:
        process.terminate()
        process.wait(timeout=60)


def _healthy(url: str, process: subprocess.Popen[bytes]) -> bool:
    if process.poll() is not None:
        raise RuntimeError(f"server exited with {process.returncode}")
    try:
        return httpx.get(url + "/v1/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
