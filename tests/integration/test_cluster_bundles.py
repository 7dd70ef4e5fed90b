"""Two real nodes sharing one PostgreSQL database and nothing else: code deployed through one runs on the
other, its bundle is served by the other, and a node that cannot build a version's dependency layer
answers a clear error in bounded time (docs/cluster.md, "Bundles")."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator

import pytest

from tests.integration.cluster_support import fresh_database, shared_key
from tests.support import Server, deploy, error_code, make_wheelhouse, make_zip, publish, unique

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

USES_TINYDEP = (
    "import tinydep\n\n\ndef handler(event, context):\n    return {'tinydep': tinydep.__version__}\n"
)


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    """A fresh database of our own (nodes share it, as a cluster does), dropped afterwards."""
    with fresh_database("turnout_blobs") as url:
        yield url


@pytest.fixture(scope="module")
def nodes(database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Server]]:
    """Node one installs layers from a wheel folder; node two is offline with no wheels at all."""
    wheels = make_wheelhouse(tmp_path_factory.mktemp("wheels"))
    key = shared_key(tmp_path_factory.mktemp("key"))
    one = Server(
        tmp_path_factory.mktemp("node-one") / "data",
        database_url=database,
        extra_env={"TURNOUT_OFFLINE": "1", "TURNOUT_WHEEL_DIR": str(wheels), **key},
    )
    two = Server(
        tmp_path_factory.mktemp("node-two") / "data",
        database_url=database,
        extra_env={"TURNOUT_OFFLINE": "1", **key},
    )
    try:
        one.start(timeout=60)
        two.start(timeout=60)
        yield one, two
    finally:
        one.stop()
        two.stop()


@pytest.mark.timeout(180)
def test_code_deployed_through_one_node_runs_and_downloads_on_another(nodes: tuple[Server, Server]) -> None:
    one, two = nodes
    name = unique("shared")
    files = {"app.py": "def handler(event, context):\n    return {'hi': event['name']}\n"}
    sha = hashlib.sha256(make_zip(files)).hexdigest()
    with one.client() as api:
        deploy(api, name, files)
        assert publish(api, name)["version"] == 1
    assert not (two.data_dir / "blobs" / sha[:2] / sha).exists()

    with two.client(token=one.token) as api:
        ran = api.post(f"/v1/functions/{name}:1/invoke", json={"name": "node two"}, timeout=120)
        assert ran.status_code == 200, ran.text
        assert ran.json() == {"hi": "node two"}
        assert ran.headers["X-Turnout-Version"] == "1"

        download = api.get(f"/v1/bundles/{sha}/zip", timeout=60)
        assert download.status_code == 200, download.text
        assert hashlib.sha256(download.content).hexdigest() == sha
        assert download.content == make_zip(files)
    assert (two.data_dir / "blobs" / sha[:2] / sha).exists()  # cached on node two's disk


@pytest.mark.timeout(180)
def test_a_node_that_cannot_build_the_layer_answers_a_clear_error_quickly(
    nodes: tuple[Server, Server],
) -> None:
    one, two = nodes
    name = unique("layered")
    with one.client() as api:
        deploy(api, name, {"app.py": USES_TINYDEP, "requirements.txt": "tinydep==2.0\n"})
        assert publish(api, name)["version"] == 1
        assert api.post(f"/v1/functions/{name}:1/invoke", json={}, timeout=120).json() == {"tinydep": "2.0"}

    with two.client(token=one.token) as api:
        for _ in range(2):  # the failure is not remembered as a half-made pool
            started = time.monotonic()
            failed = api.post(f"/v1/functions/{name}:1/invoke", json={}, timeout=120)
            assert time.monotonic() - started < 60
            assert failed.status_code == 422, failed.text
            assert error_code(failed) == "DependencyResolutionFailed"
            message = failed.json()["error"]["message"]
            assert message.startswith(f"version 1 of {name} cannot run on this node"), message
            assert "tinydep" in message, message
