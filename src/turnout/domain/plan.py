"""A rollout's plan: what the controller runs besides the state machine - hooks, shadow traffic, warming.

:class:`~turnout.domain.rollout.Policy` says *how* to judge; the plan adds *what* the named checks are
(a hook invokes the candidate with test events, or a validator function of the user's), how much live
traffic is mirrored in the shadow phase, the metrics window the gates look at, and whether the controller
warms workers ahead of each step. Plain data, persisted with the rollout.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from turnout.domain.names import check_function_name, parse_qualifier, split_qualified
from turnout.domain.rollout import Policy
from turnout.errors import InvalidInput

MAX_HOOK_EVENTS = 100
MAX_HOOK_EVENT_BYTES = 256 * 1024


@dataclass(frozen=True)
class Hook:
    """A pre- or post-traffic check: invoke the candidate with each test event (any error fails it), or
    invoke a validator function (``fn[:qualifier]``) with the rollout's facts, which answers pass/fail."""

    events: tuple[Any, ...] = ()
    function: str | None = None

    def __post_init__(self) -> None:
        if bool(self.events) == bool(self.function):
            raise InvalidInput(
                "a hook has either test events or a validator function (not both, not neither)"
            )
        if len(self.events) > MAX_HOOK_EVENTS:
            raise InvalidInput(f"a hook has at most {MAX_HOOK_EVENTS} test events")
        for event in self.events:
            if len(json.dumps(event)) > MAX_HOOK_EVENT_BYTES:
                raise InvalidInput(f"a hook's test event is at most {MAX_HOOK_EVENT_BYTES} bytes of JSON")
        if self.function is not None:
            check_reference(self.function)

    @property
    def name(self) -> str:
        return self.function or f"{len(self.events)} test event{'s' if len(self.events) != 1 else ''}"

    def to_json(self) -> dict[str, Any]:
        return {"events": list(self.events)} if self.events else {"function": self.function}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Hook | None:
        if data is None:
            return None
        events = data.get("events") or ()
        if not isinstance(events, Sequence) or isinstance(events, str | bytes):
            raise InvalidInput("a hook's events are a list of JSON events")
        return cls(tuple(events), data.get("function"))


@dataclass(frozen=True)
class Shadow:
    """Mirror ``share_bp`` of the alias's live requests to the candidate; answers are discarded, errors and
    latency are judged, and with ``compare_output`` the answer is compared with the baseline's."""

    share_bp: int
    compare_output: bool = False

    def __post_init__(self) -> None:
        if not 0 < self.share_bp <= 10_000:
            raise InvalidInput("the shadow share is above 0% and at most 100%")


@dataclass(frozen=True)
class Plan:
    policy: Policy = field(default_factory=Policy)
    pre_hook: Hook | None = None
    post_hook: Hook | None = None
    shadow: Shadow | None = None
    window_s: int = 60
    warm: bool = True

    def __post_init__(self) -> None:
        if not 5 <= self.window_s <= 3600:
            raise InvalidInput(f"the metrics window is 5 to 3600 seconds, not {self.window_s}")
        if (self.shadow is None) != (self.policy.shadow_s is None):
            raise InvalidInput("a shadow phase needs both its share and its duration")
        if self.policy.gates.custom is not None:
            check_reference(self.policy.gates.custom)

    def to_json(self) -> dict[str, Any]:
        return {
            "policy": self.policy.to_json(),
            "pre_hook": self.pre_hook.to_json() if self.pre_hook else None,
            "post_hook": self.post_hook.to_json() if self.post_hook else None,
            "shadow": None
            if self.shadow is None
            else {"share_bp": self.shadow.share_bp, "compare_output": self.shadow.compare_output},
            "window_s": self.window_s,
            "warm": self.warm,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Plan:
        shadow = data.get("shadow")
        return cls(
            policy=Policy.from_json(data["policy"]),
            pre_hook=Hook.from_json(data.get("pre_hook")),
            post_hook=Hook.from_json(data.get("post_hook")),
            shadow=None
            if shadow is None
            else Shadow(int(shadow["share_bp"]), bool(shadow["compare_output"])),
            window_s=int(data.get("window_s", 60)),
            warm=bool(data.get("warm", True)),
        )


def check_reference(text: str) -> tuple[str, str | None]:
    """``fn`` or ``fn:qualifier`` naming a function the controller invokes (a validator, a custom gate).

    >>> check_reference("checks:prod")
    ('checks', 'prod')
    """
    name, qualifier = split_qualified(text)
    check_function_name(name)
    if qualifier:
        parse_qualifier(qualifier)
    return name, qualifier or None
