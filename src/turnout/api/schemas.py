"""Request bodies of the native API. Unknown fields are refused, so typos do not pass silently."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from turnout.domain.version_number import MAX_VERSION, parse_version_number

# a version number read by the one parser (domain/version_number.py): InvalidVersionNumber, not 422/500
VersionNumber = Annotated[int, BeforeValidator(parse_version_number), Field(ge=1, le=MAX_VERSION)]


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
    idempotent: bool | None = Field(
        None, description="the handler may run twice for one request (allows shadow traffic in rollouts)"
    )
    requires: dict[str, str] | None = Field(
        None,
        description="shared resources the code works with: name -> PEP 440 range; replaces the table",
        examples=[{"orders-db": ">=6,<8"}],
    )
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


class ResourceBody(_Body):
    """Record a shared resource's current version (PEP 440: ``7``, ``1.2``)."""

    version: str | int = Field(description="the resource's version now, PEP 440", examples=["7"])
    reason: str = ""
    force: bool = Field(False, description="move it even though live versions require another range")
    dry_run: bool = Field(False, description="list what the move would make incompatible; write nothing")


class SwapBody(_Body):
    a: str
    b: str
    reason: str = ""


class RollbackBody(_Body):
    to: VersionNumber | None = Field(None, description="version to return to; default: the previous target")
    reason: str = ""


class GcBody(_Body):
    keep: int = Field(ge=0, description="how many of the newest versions to keep besides referenced ones")
    dry_run: bool = False
    blob_grace_seconds: int | None = Field(None, ge=0)


class TokenBody(_Body):
    name: str
    scopes: list[str]


class GatesBody(_Body):
    max_error_rate: float | None = Field(None, description="the candidate's error rate at most this (0-1)")
    max_p99_ms: float | None = Field(None, description="the candidate's p99 latency at most this (ms)")
    max_error_rate_increase: float | None = Field(
        None, description="the candidate's error rate at most the baseline's plus this (rate points, 0-1)"
    )
    max_p99_ratio: float | None = Field(
        None, description="the candidate's p99 at most the baseline's times this"
    )
    max_mismatch_rate: float | None = Field(None, description="shadow: share of answers differing (0-1)")
    min_p99_increase_ms: float | None = Field(
        None, description="relative p99 gate: smaller increases always pass (default 5 ms)"
    )
    min_invocations: int | None = Field(None, description="candidate invocations needed before judging")
    alpha: float | None = Field(None, description="significance level of the error-rate tests")
    custom: str | None = Field(None, description="fn[:qualifier] answering pass/fail each tick")


class HookBody(_Body):
    events: list[Any] | None = Field(None, description="test events to invoke the candidate with")
    function: str | None = Field(None, description="a validator function, fn[:qualifier]")


class ShadowBody(_Body):
    percent: float = Field(description="share of the alias's live requests mirrored to the candidate")
    compare_output: bool = False
    duration_s: int = Field(300, description="how long the shadow phase lasts")
    only: bool = Field(False, description="shadow only: never move the alias")


class StepBody(_Body):
    weight: float = Field(description="the candidate's share, percent")
    bake_s: int = Field(0, description="how long the step bakes, seconds")


class RolloutPlanBody(_Body):
    """How a rollout moves traffic and judges it (a rollout's, or every member's of a release rollout)."""

    strategy: str = Field(
        "canary", description="all-at-once, canary, linear, steps, blue-green, or a CodeDeploy preset name"
    )
    weight: float | None = Field(None, description="canary: the candidate's share, percent (default 10)")
    bake_s: int | None = Field(None, description="canary/blue-green bake time, seconds (default 300)")
    step: float | None = Field(None, description="linear: percent added per step (default 10)")
    interval_s: int | None = Field(None, description="linear: seconds between steps (default 60)")
    steps: list[StepBody] | None = Field(None, description="steps: explicit weights and bake times")
    gates: GatesBody | None = None
    no_gates: bool = Field(False, description="judge nothing: a timed rollout (hooks still run)")
    window_s: int = Field(60, description="the gates look at most this far back (seconds)")
    pre_hook: HookBody | None = None
    post_hook: HookBody | None = None
    hook_timeout_s: int = 300
    max_hold_s: int = 600
    shadow: ShadowBody | None = None
    warm: bool = Field(True, description="warm candidate workers before each step")
    force: bool = Field(
        False, description="start although the candidate or baseline excludes a shared resource's version"
    )


class RolloutBody(RolloutPlanBody):
    """Start a rollout of an alias to version ``to``. Omitted fields take the documented defaults."""

    to: VersionNumber = Field(description="the candidate version")


class ReleaseMemberBody(_Body):
    function: str
    alias: str
    version: VersionNumber


class ReleaseBody(_Body):
    """Create a release: move every member's alias at once, or (with ``rollout``) as one rollout in step."""

    name: str
    members: list[ReleaseMemberBody] = Field(description="function, alias and version of each member")
    reason: str = ""
    rollout: RolloutPlanBody | None = Field(None, description="run the release as a rollout of every member")
    force: bool = Field(
        False, description="go past the compatibility guard (a member's version out of a resource's range)"
    )


class ReleaseRollbackBody(_Body):
    reason: str = ""
    force: bool = Field(
        False,
        description="roll back even the aliases moved since the release, or to versions out of a shared "
        "resource's range",
    )


class RolloutActionBody(_Body):
    reason: str = ""
    force: bool = Field(
        False, description="abort: give the baseline traffic back even if a shared resource excludes it"
    )
