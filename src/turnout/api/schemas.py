"""Request bodies of the native API. Unknown fields are refused, so typos do not pass silently."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DraftBody(_Body):
    """Create a function or update its draft; omitted fields keep their current value."""

    bundle_sha256: str | None = Field(None, description="sha256 of a bundle uploaded to /v1/bundles")
    handler: str | None = Field(None, description="module.function, e.g. app.handler")
    description: str | None = None
    environment: dict[str, str] | None = Field(None, description="replaces the whole environment")
    timeout: int | None = Field(None, description="seconds, 1-900")
    memory: int | None = Field(None, description="MB, 128-10240")
    revision_id: str | None = Field(None, description="precondition: the draft's current revision id")


class PublishBody(_Body):
    description: str | None = None
    code_sha256: str | None = Field(None, description="precondition: the draft's code sha256")
    revision_id: str | None = Field(None, description="precondition: the draft's revision id")


class AliasBody(_Body):
    """Point an alias at one ``version``, or at several with ``weights`` (percentages summing to 100)."""

    version: str | int | None = None
    weights: dict[str, float | int | str] | None = Field(None, examples=[{"3": 90, "4": 10}])
    description: str | None = None
    settings: dict[str, str] | None = Field(None, description="environment overrides bound to the alias")
    secret_keys: list[str] | None = Field(None, description="settings to show masked")
    reason: str = ""
    revision_id: str | None = Field(None, description="precondition: the alias's current revision id")


class SwapBody(_Body):
    a: str
    b: str
    reason: str = ""


class RollbackBody(_Body):
    to: int | None = Field(None, ge=1, description="version to return to; default: the previous target")
    reason: str = ""


class GcBody(_Body):
    keep: int = Field(ge=0, description="how many of the newest versions to keep besides referenced ones")
    dry_run: bool = False
    blob_grace_seconds: int | None = Field(None, ge=0)


class TokenBody(_Body):
    name: str
    scopes: list[str]
