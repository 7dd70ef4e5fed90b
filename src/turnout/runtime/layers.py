"""The dependency layers this node runs versions with, built on first use from a version's pinned set.

A node that did not publish a version (another cluster node did, or its layer was deleted) builds the
layer when a pool first needs it. Builds of one layer run one at a time on this node; a failed build is
remembered for :data:`RETRY_AFTER_S`, so the invocations waiting for it, and those that follow, answer
``DependencyResolutionFailed`` at once instead of queueing behind rebuilds that fail the same way.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from turnout.build.layer import Layer, LayerBuilder
from turnout.errors import DependencyResolutionFailed

RETRY_AFTER_S = 30.0


@dataclass(frozen=True)
class _Failure:
    until: float  # monotonic time after which the build is tried again
    cause: str  # the builder's message
    installer_output: str


class NodeLayers:
    """Builds the layers of versions this node runs; remembers a failed build for a while."""

    def __init__(
        self,
        builder: LayerBuilder,
        retry_after_s: float = RETRY_AFTER_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.builder, self.retry_after_s, self.monotonic = builder, retry_after_s, monotonic
        self._locks: dict[str, threading.Lock] = {}
        self._failures: dict[str, _Failure] = {}
        self._guard = threading.Lock()

    def __repr__(self) -> str:
        return f"NodeLayers({self.builder!r}, failing={len(self._failures)})"

    def ensure(self, pinned: Sequence[str], what: str) -> Layer | None:
        """The layer of ``pinned`` (``what`` runs with it, e.g. "version 3 of thumbs"), built if absent.

        Raises ``DependencyResolutionFailed`` saying what cannot run here and why.
        """
        key = self.builder.layer_key(pinned)
        with self._lock(key):
            failure = self._failures.get(key)
            if failure is not None and failure.until > self.monotonic():
                raise self._error(what, failure)
            try:
                built = self.builder.ensure(pinned)
            except DependencyResolutionFailed as exc:
                output = str(exc.details.get("installer_output", exc.message))
                failure = _Failure(self.monotonic() + self.retry_after_s, exc.message, output)
                self._failures[key] = failure
                raise self._error(what, failure) from exc
            self._failures.pop(key, None)
            return built

    def _lock(self, key: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def _error(self, what: str, failure: _Failure) -> DependencyResolutionFailed:
        return DependencyResolutionFailed(
            f"{what} cannot run on this node: its dependency layer is not here and building it failed "
            f"(tried again {self.retry_after_s:.0f} s after a failure). Give this node the package index "
            "or wheel folder of the node that published it (TURNOUT_INDEX_URL, TURNOUT_WHEEL_DIR, "
            f"TURNOUT_OFFLINE). {failure.cause}",
            installer_output=failure.installer_output,
        )
