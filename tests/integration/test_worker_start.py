"""Where workers come from: the zygote, a restarted zygote, or a fresh interpreter as the fallback."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from tests.support import Server, deploy, publish, unique

pytestmark = pytest.mark.integration
PID = "import os\ndef handler(event, context):\n    return {'pid': os.getpid(), 'ppid': os.getppid()}\n"


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def test_with_the_zygote_off_every_worker_is_a_fresh_interpreter(tmp_path: Path) -> None:
    server = Server(tmp_path / "data", extra_env={"TURNOUT_ZYGOTE": "0"}).start()
    try:
        with server.client() as api:
            name = unique()
            deploy(api, name, files={"app.py": PID})
            publish(api, name)  # the publish-time import check works without a zygote too
            reply = api.post(f"/v1/functions/{name}:1/invoke")
            assert reply.status_code == 200, reply.text
            assert "x-turnout-init-duration" in reply.headers
            assert reply.json()["ppid"] == server.process.pid  # spawned by the server itself
            assert api.post(f"/v1/functions/{name}:1/invoke").json()["pid"] == reply.json()["pid"]
    finally:
        server.stop()


def test_a_dead_zygote_is_replaced_and_warm_workers_keep_serving(fresh_server: Server) -> None:
    fresh_server.start()
    with fresh_server.client() as api:
        name = unique()
        deploy(api, name, files={"app.py": PID})
        publish(api, name)
        warm = api.post(f"/v1/functions/{name}:1/invoke").json()
        zygote = warm["ppid"]
        assert zygote != fresh_server.process.pid and _parent(zygote) == fresh_server.process.pid
        os.kill(zygote, signal.SIGKILL)
        assert api.post(f"/v1/functions/{name}:1/invoke").json()["pid"] == warm["pid"]
        deploy(api, name, files={"app.py": PID + "\n# v2\n"})
        cold = api.post(f"/v1/functions/{name}/invoke")
        assert cold.status_code == 200, cold.text
        assert cold.json()["ppid"] not in (zygote, fresh_server.process.pid)
