"""A node building a version's layer on first use: a clear error when it cannot, remembered for a while,
then tried again (uv runs for real, offline, from a wheel folder the test fills)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from tests.support import write_wheel
from turnout.build.layer import LayerBuilder
from turnout.errors import DependencyResolutionFailed
from turnout.runtime.layers import NodeLayers

PINNED = ("tinydep==2.0",)
WHAT = "version 3 of thumbs"


class Ticks:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def wheels(tmp_path: Path) -> Path:
    folder = tmp_path / "wheels"
    folder.mkdir()
    return folder


@pytest.fixture
def ticks() -> Ticks:
    return Ticks()


@pytest.fixture
def layers(tmp_path: Path, wheels: Path, ticks: Ticks) -> NodeLayers:
    builder = LayerBuilder(tmp_path / "layers", wheel_dir=wheels, offline=True)
    return NodeLayers(builder, retry_after_s=30, monotonic=ticks)


def test_a_layer_that_cannot_be_built_says_what_cannot_run_and_why(layers: NodeLayers) -> None:
    with pytest.raises(DependencyResolutionFailed) as caught:
        layers.ensure(PINNED, WHAT)
    message = caught.value.message
    assert message.startswith("version 3 of thumbs cannot run on this node")
    assert "TURNOUT_WHEEL_DIR" in message
    assert "tinydep" in message  # the installer's own reason
    assert "tinydep" in caught.value.details["installer_output"]


def test_a_failed_build_is_remembered_then_tried_again(
    layers: NodeLayers, wheels: Path, ticks: Ticks
) -> None:
    with pytest.raises(DependencyResolutionFailed):
        layers.ensure(PINNED, WHAT)
    write_wheel(wheels, "tinydep", "2.0")  # the node is fixed
    ticks.now += 29
    with pytest.raises(DependencyResolutionFailed):
        layers.ensure(PINNED, WHAT)  # still within the retry delay: answered without building
    ticks.now += 2
    built = layers.ensure(PINNED, WHAT)
    assert built is not None and (built.path / "tinydep" / "__init__.py").is_file()


def test_invocations_waiting_for_a_failing_build_fail_with_it_without_building_again(
    layers: NodeLayers, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs: list[str] = []
    real = layers.builder._uv

    def slow_uv(step: str, args: list[str]) -> str:
        runs.append(step)
        time.sleep(0.5)  # a slow failing install, so the other invocations queue behind it
        return real(step, args)

    monkeypatch.setattr(layers.builder, "_uv", slow_uv)
    errors: list[str] = []

    def invoke() -> None:
        try:
            layers.ensure(PINNED, WHAT)
        except DependencyResolutionFailed as exc:
            errors.append(exc.code)

    threads = [threading.Thread(target=invoke) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == ["DependencyResolutionFailed"] * 4
    assert runs == ["install"]
