"""A function and its draft (``$LATEST``), and its immutable versions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from turnout.domain.config import FunctionConfig


@dataclass(frozen=True)
class Function:
    """A named function with its mutable draft. ``revision_id`` changes on every draft update."""

    id: int
    name: str
    config: FunctionConfig
    bundle_sha256: str
    dependencies: tuple[str, ...]
    revision_id: str
    last_version: int
    created_at: datetime
    updated_at: datetime
    reserved_concurrency: int | None = None  # its own limit of concurrent invocations per node (0: stopped)

    def __repr__(self) -> str:
        return f"Function({self.name!r}, rev={self.revision_id[:8]}, last_version={self.last_version})"


@dataclass(frozen=True)
class Version:
    """An immutable snapshot of code, dependencies and configuration, numbered from 1.

    ``pinned_dependencies`` is what ``dependencies`` resolved to at publish; a node without the layer
    ``layer_hash`` rebuilds it from that set alone.
    """

    function_id: int
    number: int
    bundle_sha256: str
    config: FunctionConfig
    dependencies: tuple[str, ...]
    fingerprint: str
    description: str
    revision_id: str
    created_at: datetime
    pinned_dependencies: tuple[str, ...] = ()  # the resolved name==version set, transitive ones included
    layer_hash: str | None = None  # folder of the installed dependency layer; None without dependencies

    def __repr__(self) -> str:
        return f"Version({self.number}, bundle={self.bundle_sha256[:12]})"
