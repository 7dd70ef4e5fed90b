"""A function's configuration and the fingerprint that makes publishing idempotent."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from turnout.domain.compat import check_requires
from turnout.domain.names import check_env_key, check_handler
from turnout.domain.secrets import comparable, plain_size
from turnout.errors import InvalidInput

_RUNTIME = re.compile(r"python3\.\d{1,2}")
TIMEOUT_RANGE = (1, 900)
MEMORY_RANGE = (128, 10240)
DESCRIPTION_MAX = 256
ENVIRONMENT_MAX_BYTES = 4096
DEFAULT_TIMEOUT = 30
DEFAULT_MEMORY = 256


@dataclass(frozen=True)
class FunctionConfig:
    """Handler, description, environment, timeout (s) and memory (MB) of a draft or version."""

    handler: str
    description: str = ""
    environment: Mapping[str, str] = field(default_factory=dict)
    timeout: int = DEFAULT_TIMEOUT
    memory: int = DEFAULT_MEMORY
    # the handler may run twice for one request with no harm: required for shadow traffic
    idempotent: bool = False
    # the Lambda runtime a client declared (``python3.12``), echoed by the Lambda-compatible API; every
    # function runs on the server's Python whatever it says
    runtime: str | None = None
    # shared resources this version works with: resource name -> PEP 440 specifier (``domain/compat.py``)
    requires: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.runtime is not None and not _RUNTIME.fullmatch(self.runtime):
            raise InvalidInput(
                f"runtime {self.runtime!r} is not supported: Turnout runs Python functions (python3.x)"
            )
        if not isinstance(self.idempotent, bool):
            raise InvalidInput("idempotent is true or false")
        object.__setattr__(self, "handler", check_handler(self.handler))
        object.__setattr__(self, "environment", dict(sorted(self.environment.items())))
        _check_range("timeout", self.timeout, TIMEOUT_RANGE, "seconds")
        _check_range("memory", self.memory, MEMORY_RANGE, "MB")
        if not isinstance(self.description, str) or len(self.description) > DESCRIPTION_MAX:
            raise InvalidInput(f"description must be text of at most {DESCRIPTION_MAX} characters")
        _check_environment(self.environment)
        object.__setattr__(self, "requires", check_requires(self.requires))

    def with_changes(self, **changes: Any) -> FunctionConfig:
        """A copy with the given fields replaced; ``None`` values keep the current field."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def to_json(self) -> dict[str, Any]:
        return {
            "handler": self.handler,
            "description": self.description,
            "environment": dict(self.environment),
            "timeout": self.timeout,
            "memory": self.memory,
            # only when set, so the fingerprints of versions published before the field existed hold
            **({"idempotent": True} if self.idempotent else {}),
            **({"runtime": self.runtime} if self.runtime else {}),
            **({"requires": dict(self.requires)} if self.requires else {}),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FunctionConfig:
        return cls(
            handler=data["handler"],
            description=data.get("description", ""),
            environment=data.get("environment", {}),
            timeout=data.get("timeout", DEFAULT_TIMEOUT),
            memory=data.get("memory", DEFAULT_MEMORY),
            idempotent=data.get("idempotent", False),
            runtime=data.get("runtime"),
            requires=data.get("requires", {}),
        )


def fingerprint(bundle_sha256: str, config: FunctionConfig, dependencies: tuple[str, ...]) -> str:
    """The identity of a publishable snapshot: equal fingerprints mean nothing changed.

    Every field counts, so a configuration-only change (an env var, the timeout) is a new version. A
    sealed secret counts by its digest (an HMAC of the plain value): a changed secret changes the
    fingerprint, and the fingerprint reveals nothing about it.
    """
    data = config.to_json()
    data["environment"] = {k: comparable(v) for k, v in config.environment.items()}
    canonical = json.dumps(
        {"bundle": bundle_sha256, "config": data, "dependencies": list(dependencies)},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _check_range(name: str, value: object, bounds: tuple[int, int], unit: str) -> None:
    low, high = bounds
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(f"{name} must be a whole number from {low} to {high} {unit}, got {value!r}")


def _check_environment(environment: Mapping[str, str]) -> None:
    size = 0
    for key, value in environment.items():
        check_env_key(key)
        if not isinstance(value, str):
            raise InvalidInput(f"environment variable {key!r} must be a string, got {value!r}")
        size += len(key.encode()) + plain_size(value)
    if size > ENVIRONMENT_MAX_BYTES:
        raise InvalidInput(f"environment variables take {size} bytes; the limit is {ENVIRONMENT_MAX_BYTES}")
