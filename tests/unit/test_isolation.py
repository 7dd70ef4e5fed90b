"""The server's side of the sandbox: when it is on, and what a worker's plan masks and exposes."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from turnout.errors import SandboxUnavailable
from turnout.runtime import isolation
from turnout.runtime.isolation import Isolation, SandboxStatus, decide, uid_for
from turnout.settings import Settings


def test_require_refuses_a_machine_without_support_and_auto_runs_unconfined() -> None:
    with pytest.raises(SandboxUnavailable, match="TURNOUT_SANDBOX=require"):
        decide("require", (0, "the kernel offers no Landlock"))
    status = decide("auto", (0, "the kernel offers no Landlock"))
    assert (status.active, status.reason) == (False, "the kernel offers no Landlock")
    assert decide("auto", (7, "")).active and not decide("off", (7, "")).active


def test_an_unknown_sandbox_mode_is_refused_with_the_choices() -> None:
    from turnout.errors import InvalidInput

    with pytest.raises(InvalidInput, match="require, auto, off"):
        Settings.from_environ({"TURNOUT_SANDBOX": "sometimes"})


def test_uids_are_stable_per_function_and_inside_the_range() -> None:
    uids = {uid_for(f"fn-{i}", 600_000, 100_000) for i in range(200)}
    assert all(600_000 <= u < 700_000 for u in uids) and len(uids) >= 195
    assert uid_for("a", 10, 5) == uid_for("a", 10, 5)


def test_the_plan_masks_the_data_folder_and_puts_back_only_the_version(tmp_path: Path) -> None:
    data = tmp_path / "data"
    code, layer = data / "code" / "abc", data / "layers" / "def"
    code.mkdir(parents=True)
    layer.mkdir(parents=True)
    plan = Isolation(SandboxStatus("auto", True, 7), data, 1000, 10, 64).plan("fn", code, layer)
    assert plan is not None
    assert plan["uid"] == uid_for("fn", 1000, 10) and plan["tmp_mb"] == 64 and plan["cwd"] == str(code)
    assert str(code) in plan["binds"] and str(layer) in plan["binds"]
    assert str(data) not in plan["read"] and str(code) in plan["read"] and str(layer) in plan["read"]
    assert all(not m.startswith("/tmp/") for m in plan["masks"])  # under /tmp: the worker's own tmpfs
    assert Isolation(SandboxStatus("off", False), data, 1000, 10, 64).plan("fn", code, None) is None
    assert any(sys.base_prefix.startswith(p) or p.startswith(sys.base_prefix) for p in plan["read"])


def test_outermost_keeps_only_folders_no_other_one_contains() -> None:
    paths = ["/a/c", "/a-b", "/a", "/a/c/d", "/b/x", "/b/x", "/ab"]
    assert isolation._outermost(paths) == ["/a", "/a-b", "/ab", "/b/x"]
