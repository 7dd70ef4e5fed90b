"""The README's first command: install, start on the embedded default, deploy the example."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.support import alive, free_port, wait_for

pytestmark = pytest.mark.integration
ROOT = Path(__file__).parents[2]


def test_scripts_up_starts_turnout_with_the_example_published_behind_prod(tmp_path: Path) -> None:
    data, port = tmp_path / "data", free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TURNOUT_")}
    env.update(TURNOUT_DATA_DIR=str(data), TURNOUT_PORT=str(port))
    done = subprocess.run(
        [str(ROOT / "scripts" / "up"), "--background"], env=env, capture_output=True, text=True, timeout=300
    )
    pid = int((data / "serve.pid").read_text())
    try:
        assert done.returncode == 0, done.stderr
        assert "published version 1 of hello" in done.stdout
        assert "Try next" in done.stdout
        headers = {"Authorization": f"Bearer {(data / 'admin-token').read_text().strip()}"}
        described = httpx.get(f"http://127.0.0.1:{port}/v1/functions/hello", headers=headers).json()
        assert described["versions"] == {"count": 1, "latest": 1}
        assert [(a["name"], a["target"]) for a in described["aliases"]] == [("prod", "1")]
        assert (data / "turnout.db").exists()
    finally:
        os.kill(pid, signal.SIGTERM)
        wait_for(lambda: not alive(pid), timeout=20, what="quickstart server to stop")
