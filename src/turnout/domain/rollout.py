"""Rollouts: moving an alias from a baseline version to a candidate, step by step, behind health gates.

A :class:`Strategy` expands into steps (the candidate's weight in basis points and a bake time in seconds).
A :class:`Rollout` is plain data (``to_json``/``from_json``) so the store persists it and it survives a
restart. Each controller tick calls ``decide(rollout, metrics, policy, now)``; the answer is a
:class:`Decision` - the action, the new rollout to persist, the routing to set (if any), the reason and the
figures - that the controller only applies. Nothing here reads a clock: ``now`` is passed in, so the
bake time left after a restart or a pause comes from the persisted step start and ``now``.

States and the only legal moves (:func:`transition` raises ``InvalidRolloutTransition`` on any other)::

    pending      -> pre-hook | shadow | stepping | paused | rolling-back
    pre-hook     -> shadow | stepping | failed | paused | rolling-back
    shadow       -> stepping | succeeded | failed | paused | rolling-back
    stepping     -> baking | paused | rolling-back
    baking       -> stepping | post-hook | succeeded | paused | rolling-back
    post-hook    -> succeeded | paused | rolling-back
    paused       -> the state it paused from (pending | pre-hook | shadow | stepping | baking | post-hook)
                    | rolling-back
    rolling-back -> rolled-back | aborted | failed
    succeeded, rolled-back, failed, aborted: terminal

What each tick does: ``pending`` starts the pre-traffic hook (or, with none, goes on); ``pre-hook`` waits
for its result - failure or timeout ends ``failed`` without the alias ever moving; then, when the policy
has a shadow phase, ``shadow``: live requests are mirrored to the candidate (its answers discarded) for
``shadow_s`` and judged by the same gates plus output mismatches - failure ends ``failed`` (the alias
never moved), success goes to the first step, or ends ``succeeded`` for a shadow-only rollout;
``stepping`` means step i's weights were just set: the next tick starts its bake (``baking``); ``baking``
judges the gates every tick - a failure rolls back at once, the bake time is a minimum, and a gate that
cannot judge when the bake is over holds the step for up to ``max_hold_s`` (counted from the first tick
that held), then rolls back "cannot judge"; a step with no bake time is not waited on. After the last
step (100%) comes ``post-hook`` (or ``succeeded`` with none); its failure or timeout rolls back.
``rolling-back`` means the baseline was just given 100% back: the next tick ends in ``rolled-back``
(gate or hook failure) or ``aborted`` (operator); ``rolling-back -> failed`` is for a controller that could
not apply the rollback. ``paused`` holds progress (gates still guard: a failing gate rolls back);
``resume`` returns to the state it paused from with the bake and hold clocks moved by the pause, so the
bake time left is kept; a hook's timeout starts again. ``abort`` works from any non-terminal state but
``rolling-back``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from turnout.domain.gates import (
    Check,
    Figures,
    GateResult,
    Gates,
    Metrics,
    Verdict,
    evaluate,
    evaluate_shadow,
    overall,
)
from turnout.domain.routing import BASIS_POINTS, Route, Routing
from turnout.domain.strategy import Strategy
from turnout.errors import InvalidAliasTarget, InvalidInput, InvalidRolloutTransition


class State(StrEnum):
    PENDING = "pending"
    PRE_HOOK = "pre-hook"
    SHADOW = "shadow"
    STEPPING = "stepping"
    BAKING = "baking"
    POST_HOOK = "post-hook"
    PAUSED = "paused"
    ROLLING_BACK = "rolling-back"
    SUCCEEDED = "succeeded"
    ROLLED_BACK = "rolled-back"
    FAILED = "failed"
    ABORTED = "aborted"


_S = State
TRANSITIONS: Mapping[State, frozenset[State]] = {
    _S.PENDING: frozenset({_S.PRE_HOOK, _S.SHADOW, _S.STEPPING, _S.PAUSED, _S.ROLLING_BACK}),
    _S.PRE_HOOK: frozenset({_S.SHADOW, _S.STEPPING, _S.FAILED, _S.PAUSED, _S.ROLLING_BACK}),
    _S.SHADOW: frozenset({_S.STEPPING, _S.SUCCEEDED, _S.FAILED, _S.PAUSED, _S.ROLLING_BACK}),
    _S.STEPPING: frozenset({_S.BAKING, _S.PAUSED, _S.ROLLING_BACK}),
    _S.BAKING: frozenset({_S.STEPPING, _S.POST_HOOK, _S.SUCCEEDED, _S.PAUSED, _S.ROLLING_BACK}),
    _S.POST_HOOK: frozenset({_S.SUCCEEDED, _S.PAUSED, _S.ROLLING_BACK}),
    _S.PAUSED: frozenset(
        {_S.PENDING, _S.PRE_HOOK, _S.SHADOW, _S.STEPPING, _S.BAKING, _S.POST_HOOK, _S.ROLLING_BACK}
    ),
    _S.ROLLING_BACK: frozenset({_S.ROLLED_BACK, _S.ABORTED, _S.FAILED}),
    _S.SUCCEEDED: frozenset(),
    _S.ROLLED_BACK: frozenset(),
    _S.FAILED: frozenset(),
    _S.ABORTED: frozenset(),
}
TERMINAL = frozenset(state for state, moves in TRANSITIONS.items() if not moves)


def transition(current: State, target: State) -> State:
    """The state after moving from ``current`` to ``target``; raises when the table has no such move.

    >>> transition(State.BAKING, State.STEPPING).value
    'stepping'
    >>> transition(State.SUCCEEDED, State.ROLLING_BACK)
    Traceback (most recent call last):
    turnout.errors.InvalidRolloutTransition: a rollout cannot go from succeeded to rolling-back
    """
    if target not in TRANSITIONS[current]:
        raise InvalidRolloutTransition(
            f"a rollout cannot go from {current.value} to {target.value}", state=current.value
        )
    return target


class Action(StrEnum):
    """What the controller does with a decision. ``set-weights``/``promote``/``roll-back`` come with the
    routing to set (``promote``: the candidate at 100%). ``run-pre-hook``/``run-post-hook`` repeat every tick
    while the hook has not reported: start it unless it already runs (so a restarted controller starts it
    again). ``shadow``: keep mirroring live requests to the candidate. ``finish``: the rollout is over; stop
    ticking it (blue-green: let the idle version cool)."""

    RUN_PRE_HOOK = "run-pre-hook"
    SHADOW = "shadow"
    SET_WEIGHTS = "set-weights"
    PROMOTE = "promote"
    HOLD = "hold"
    RUN_POST_HOOK = "run-post-hook"
    ROLL_BACK = "roll-back"
    FINISH = "finish"
    TAKE_OVER = "take-over"  # only in the history: another node's controller took the rollout on


@dataclass(frozen=True)
class Policy:
    """How a rollout is judged: its gates, its hooks (named checks the controller runs), its patience and
    its shadow phase (``shadow_s`` seconds of mirrored traffic before any step; ``shadow_only``: just it)."""

    gates: Gates = field(default_factory=Gates)
    pre_hook: str | None = None
    post_hook: str | None = None
    hook_timeout_s: int = 300
    max_hold_s: int = 600
    shadow_s: int | None = None
    shadow_only: bool = False

    def __post_init__(self) -> None:
        if self.hook_timeout_s < 1 or self.max_hold_s < 0:
            raise InvalidInput("hook_timeout_s must be at least 1 and max_hold_s at least 0")
        if self.shadow_s is not None and self.shadow_s < 0:
            raise InvalidInput("shadow_s cannot be negative")
        if self.shadow_only and self.shadow_s is None:
            raise InvalidInput("a shadow-only rollout needs a shadow phase (shadow_s)")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Policy:
        return cls(**{**data, "gates": Gates.from_json(data.get("gates", {}))})


@dataclass(frozen=True)
class Record:
    """One line of a rollout's history: a decision that changed its state, step, hold or routing."""

    at: datetime
    action: Action
    state: State
    step: int
    routing: Routing | None
    reason: str
    figures: Figures = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        routing = self.routing.to_json() if self.routing else None
        return {**_plain(self, "at", "action", "state", "step", "reason", "figures"), "routing": routing}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Record:
        routing = Routing.from_json(data["routing"]) if data.get("routing") else None
        at, action, state = datetime.fromisoformat(data["at"]), Action(data["action"]), State(data["state"])
        return cls(at, action, state, int(data["step"]), routing, data["reason"], dict(data["figures"]))


def _plain(obj: object, *names: str) -> dict[str, Any]:
    """Fields as JSON values: datetimes in ISO 8601, enums by their value."""
    out: dict[str, Any] = {}
    for name in names:
        value = getattr(obj, name)
        if isinstance(value, datetime):
            value = value.isoformat()
        out[name] = value.value if isinstance(value, StrEnum) else value
    return out


_TIMES = ("created_at", "state_since", "step_started_at", "held_since", "paused_at")
_STATES = ("paused_from", "ends_as")


@dataclass(frozen=True)
class Rollout:
    """A rollout's whole persisted state. ``step`` indexes ``strategy.steps`` (-1: no traffic moved yet);
    ``step_started_at`` is when that step's bake began; ``held_since`` when gates first could not judge
    after the bake; ``ends_as`` the terminal state a rollback finishes in."""

    alias: str
    baseline: int
    candidate: int
    strategy: Strategy
    state: State
    created_at: datetime
    state_since: datetime
    step: int = -1
    step_started_at: datetime | None = None
    held_since: datetime | None = None
    paused_from: State | None = None
    paused_at: datetime | None = None
    ends_as: State | None = None
    history: tuple[Record, ...] = ()

    def __repr__(self) -> str:
        moving = f"{self.baseline} -> {self.candidate}"
        return f"Rollout({self.alias}: {moving}, {self.state.value}, step {self.step})"

    @property
    def candidate_bp(self) -> int:
        """The candidate's share as the current step set it (see :attr:`serving_bp` for what is in effect)."""
        return self.strategy.steps[self.step].weight_bp if self.step >= 0 else 0

    @property
    def serving_bp(self) -> int:
        """The candidate's share in effect now: none once rolled back, aborted or failed."""
        if self.state in (State.ROLLING_BACK, State.ROLLED_BACK, State.ABORTED, State.FAILED):
            return 0
        return self.candidate_bp

    def routing(self, candidate_bp: int) -> Routing:
        """The alias's target with the candidate at ``candidate_bp``."""
        if candidate_bp <= 0:
            return Routing.single(self.baseline)
        if candidate_bp >= BASIS_POINTS:
            return Routing.single(self.candidate)
        return Routing(
            (Route(self.baseline, BASIS_POINTS - candidate_bp), Route(self.candidate, candidate_bp))
        )

    def bake_left_s(self, now: datetime) -> float:
        """Seconds of the current step's bake still to run (0 once over, or before it started)."""
        if self.step < 0 or self.step_started_at is None:
            return 0.0
        elapsed = (now - self.step_started_at).total_seconds()
        return max(0.0, self.strategy.steps[self.step].bake_s - elapsed)

    def to_json(self) -> dict[str, Any]:
        plain = _plain(self, "alias", "baseline", "candidate", "state", "step", *_TIMES, *_STATES)
        history = [r.to_json() for r in self.history]
        return {**plain, "strategy": self.strategy.to_json(), "history": history}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Rollout:
        optional: dict[str, Any] = {
            **{k: datetime.fromisoformat(data[k]) if data.get(k) else None for k in _TIMES},
            **{k: State(data[k]) if data.get(k) else None for k in _STATES},
        }
        return cls(
            alias=data["alias"],
            baseline=int(data["baseline"]),
            candidate=int(data["candidate"]),
            strategy=Strategy.from_json(data["strategy"]),
            state=State(data["state"]),
            step=int(data["step"]),
            history=tuple(Record.from_json(r) for r in data.get("history", ())),
            **optional,
        )


def start(alias: str, baseline: int, candidate: int, strategy: Strategy, now: datetime) -> Rollout:
    """A new rollout, ``pending``: nothing moves until the first ``decide()``."""
    if baseline == candidate or min(baseline, candidate) < 1:
        raise InvalidAliasTarget("a rollout moves between two different numbered versions")
    return Rollout(alias, baseline, candidate, strategy, State.PENDING, created_at=now, state_since=now)


@dataclass(frozen=True)
class Decision:
    """One tick's answer: persist ``rollout``, set the alias to ``routing`` when it is not ``None``."""

    action: Action
    rollout: Rollout
    routing: Routing | None
    reason: str
    figures: Figures

    @property
    def state(self) -> State:
        return self.rollout.state

    @property
    def weights_bp(self) -> dict[int, int] | None:
        """The target weights per version in basis points, when this decision sets them."""
        return {r.version or 0: r.weight_bp for r in self.routing.routes} if self.routing else None

    def __repr__(self) -> str:
        return f"Decision({self.action.value} -> {self.state.value}: {self.reason})"


@dataclass(frozen=True)
class _Tick:
    rollout: Rollout
    metrics: Metrics
    policy: Policy
    now: datetime
    pre_hook: Check | None
    post_hook: Check | None

    def move(self, action: Action, state: State, reason: str, figures: Figures | None = None) -> Decision:
        return _move(self.rollout, self.now, action, state, reason, figures)

    def advance(self, why: str, figures: Figures | None = None) -> Decision:
        return _advance(self.rollout, self.policy, self.now, why, figures or {})

    def roll_back(self, reason: str, figures: Figures | None = None) -> Decision:
        return _roll_back(self.rollout, self.now, reason, figures or {})

    def judge(self) -> tuple[Verdict, str, Figures]:
        """The gates' verdict; relative gates only while the step leaves the baseline some traffic."""
        results = evaluate(self.policy.gates, self.metrics, relative=self.rollout.candidate_bp < BASIS_POINTS)
        figures = {**self.metrics.candidate.figures("candidate"), **self.metrics.baseline.figures("baseline")}
        return self._verdict(results, figures)

    def judge_shadow(self) -> tuple[Verdict, str, Figures]:
        """The shadow phase's verdict: the mirrored calls and the output comparison."""
        m = self.metrics
        figures = {**m.shadow.figures("shadow"), **m.baseline.figures("baseline")}
        figures.update({"shadow.compared": m.compared, "shadow.mismatches": m.mismatches})
        return self._verdict(evaluate_shadow(self.policy.gates, m), figures)

    def _verdict(self, results: tuple[GateResult, ...], figures: Figures) -> tuple[Verdict, str, Figures]:
        verdict = overall(results)
        for result in results:
            figures.update(result.figures)
        shown = [r.reason for r in results if r.verdict is verdict] or ["no gates"]
        return verdict, "; ".join(shown), figures


def decide(
    rollout: Rollout,
    metrics: Metrics,
    policy: Policy,
    now: datetime,
    *,
    pre_hook: Check | None = None,
    post_hook: Check | None = None,
) -> Decision:
    """The decision of one tick: a pure function of the rollout, what was observed, the policy and ``now``.

    ``pre_hook``/``post_hook`` are the hooks' results once reported (``None`` while they run).

    >>> from datetime import timedelta
    >>> from turnout.domain.strategy import canary
    >>> t0 = datetime(2026, 1, 1)
    >>> first = decide(start("prod", 1, 2, canary(1000, 300), t0), Metrics(), Policy(), t0)
    >>> first.action.value, first.state.value, first.routing.describe()
    ('set-weights', 'stepping', '1 (90%), 2 (10%)')
    >>> decide(first.rollout, Metrics(), Policy(), t0 + timedelta(seconds=5))
    Decision(hold -> baking: step 1/2 at 10% in effect; baking 300s)
    """
    return _HANDLERS[rollout.state](_Tick(rollout, metrics, policy, now, pre_hook, post_hook))


def pause(rollout: Rollout, now: datetime, reason: str = "paused by an operator") -> Decision:
    """Stop progress where it is (gates keep guarding); :func:`resume` continues with the bake time left."""
    transition(rollout.state, State.PAUSED)
    return _move(rollout, now, Action.HOLD, State.PAUSED, reason, paused_from=rollout.state, paused_at=now)


def resume(rollout: Rollout, now: datetime) -> Decision:
    """Back to the state the rollout paused from, its bake and hold clocks moved on by the pause."""
    if rollout.paused_from is None or rollout.paused_at is None:
        raise InvalidRolloutTransition(f"only a paused rollout can resume; this one is {rollout.state.value}")
    paused = now - rollout.paused_at
    clocks = {k: v + paused for k in ("step_started_at", "held_since") if (v := getattr(rollout, k))}
    reason = f"resumed after {paused.total_seconds():.1f}s paused"
    back = rollout.paused_from
    return _move(rollout, now, Action.HOLD, back, reason, paused_from=None, paused_at=None, **clocks)


def abort(rollout: Rollout, now: datetime, reason: str = "aborted by an operator") -> Decision:
    """Give the baseline all its traffic back now; the next tick ends the rollout ``aborted``."""
    transition(rollout.state, State.ROLLING_BACK)
    return _roll_back(rollout, now, reason, {}, ends_as=State.ABORTED)


def blocked(rollout: Rollout, now: datetime, reason: str) -> Decision:
    """A move the compatibility guard refused (a rollback to a baseline that no longer accepts a shared
    resource's version, a step to such a candidate): the alias stays where it is and the rollout holds,
    ``paused`` with ``reason``, for an operator (abort with force, set the alias with force, or move the
    resource back). A paused rollout whose gates still fail asks again each tick; the line is kept once."""
    if rollout.state is State.PAUSED:
        return _move(rollout, now, Action.HOLD, State.PAUSED, reason)
    transition(rollout.state, State.PAUSED)
    return _move(rollout, now, Action.HOLD, State.PAUSED, reason, paused_from=rollout.state, paused_at=now)


def noted(rollout: Rollout, now: datetime, reason: str) -> Rollout:
    """The rollout with a history line that changes nothing else (a forced start's override)."""
    record = Record(now, Action.HOLD, rollout.state, rollout.step, None, reason)
    return replace(rollout, history=(*rollout.history, record))


def roll_back(rollout: Rollout, now: datetime, reason: str) -> Decision:
    """Give the baseline all its traffic back now (another member of its release failed); the next tick
    ends the rollout ``rolled-back``."""
    transition(rollout.state, State.ROLLING_BACK)
    return _roll_back(rollout, now, reason, {})


def promote(rollout: Rollout, policy: Policy, now: datetime, reason: str = "promoted") -> Decision:
    """Skip what is left of the steps, bakes and gates (or the shadow phase): the candidate gets 100% now."""
    movable = (State.BAKING, State.STEPPING) + (() if policy.shadow_only else (State.SHADOW,))
    if rollout.state not in movable:
        raise InvalidRolloutTransition(
            f"only a baking, stepping or shadowing rollout can be promoted, not a {rollout.state} one"
        )
    return _advance(rollout, policy, now, reason, {}, to_last=True)


def _move(
    rollout: Rollout,
    now: datetime,
    action: Action,
    state: State,
    reason: str,
    figures: Figures | None = None,
    routing: Routing | None = None,
    **changes: Any,
) -> Decision:
    """Apply a decision to the rollout; record it in the history when it changed more than the clock."""
    if state is not rollout.state:
        changes["state_since"] = transition(rollout.state, state) and now
    after = replace(rollout, state=state, **changes)
    figures = {"step": after.step, "candidate_bp": after.candidate_bp, **(figures or {})}
    key = (rollout.state, rollout.step, rollout.held_since is None)
    if routing is not None or key != (after.state, after.step, after.held_since is None):
        record = Record(now, action, state, after.step, routing, reason, figures)
        after = replace(after, history=(*after.history, record))
    return Decision(action, after, routing, reason, figures)


def taken_over(rollout: Rollout, now: datetime, previous: str, node: str) -> Rollout:
    """The rollout with a history line saying that ``node``'s controller took it on from ``previous``'s
    (whose lease ran out, or who died): the next decisions are ``node``'s, from the stored state."""
    reason = f"controller taken over by node {node} from node {previous}"
    record = Record(now, Action.TAKE_OVER, rollout.state, rollout.step, None, reason)
    return replace(rollout, history=(*rollout.history, record))


def _advance(
    rollout: Rollout, policy: Policy, now: datetime, why: str, figures: Figures, *, to_last: bool = False
) -> Decision:
    """To the next step (or straight to the last), or past the last one to the post-hook or success."""
    steps = rollout.strategy.steps
    nxt = len(steps) - 1 if to_last and rollout.step < len(steps) - 1 else rollout.step + 1
    if nxt < len(steps):
        bp = steps[nxt].weight_bp
        action = Action.PROMOTE if bp == BASIS_POINTS else Action.SET_WEIGHTS
        reason = f"{why}; step {nxt + 1}/{len(steps)}: candidate {rollout.candidate} at {bp / 100:g}%"
        changes = {"step": nxt, "step_started_at": None, "held_since": None}
        return _move(rollout, now, action, State.STEPPING, reason, figures, rollout.routing(bp), **changes)
    if policy.post_hook is not None:
        reason = f"{why}; running post-traffic hook {policy.post_hook}"
        return _move(rollout, now, Action.RUN_POST_HOOK, State.POST_HOOK, reason, figures, held_since=None)
    return _move(rollout, now, Action.FINISH, State.SUCCEEDED, f"{why}; the candidate serves 100%", figures)


def _roll_back(
    rollout: Rollout, now: datetime, reason: str, figures: Figures, ends_as: State = State.ROLLED_BACK
) -> Decision:
    """Baseline back to 100% (unless traffic never moved); the next tick finishes as ``ends_as``."""
    routing = rollout.routing(0) if rollout.step >= 0 else None
    changes = {"ends_as": ends_as, "held_since": None, "paused_from": None, "paused_at": None}
    return _move(rollout, now, Action.ROLL_BACK, State.ROLLING_BACK, reason, figures, routing, **changes)


def _wait_for_hook(t: _Tick, check: Check | None, name: str | None, action: Action) -> Decision | None:
    """``None`` once the hook passed; else its failure, its timeout, or 'keep it running'."""
    where = "pre" if action is Action.RUN_PRE_HOOK else "post"
    verdict = check.verdict if check else Verdict.PENDING
    if verdict is Verdict.PASS:
        return None
    if check is not None and verdict is Verdict.FAIL:
        reason = f"{where}-traffic hook {name} failed" + (f": {check.message}" if check.message else "")
    elif (t.now - t.rollout.state_since).total_seconds() >= t.policy.hook_timeout_s:
        reason = f"{where}-traffic hook {name} did not report within {t.policy.hook_timeout_s}s"
    else:
        return t.move(action, t.rollout.state, f"waiting for the {where}-traffic hook {name}")
    if where == "pre":
        return t.move(Action.FINISH, State.FAILED, f"{reason}; the alias never moved")
    return t.roll_back(reason)


def _pending(t: _Tick) -> Decision:
    if t.policy.pre_hook is None:
        return _after_pre_hook(t, "no pre-traffic hook")
    return t.move(Action.RUN_PRE_HOOK, State.PRE_HOOK, f"running pre-traffic hook {t.policy.pre_hook}")


def _pre_hook(t: _Tick) -> Decision:
    waiting = _wait_for_hook(t, t.pre_hook, t.policy.pre_hook, Action.RUN_PRE_HOOK)
    return waiting or _after_pre_hook(t, "pre-traffic hook passed")


def _after_pre_hook(t: _Tick, why: str) -> Decision:
    if t.policy.shadow_s is None:
        return t.advance(why)
    reason = f"{why}; mirroring live requests to candidate {t.rollout.candidate} for {t.policy.shadow_s}s"
    return _move(
        t.rollout, t.now, Action.SHADOW, State.SHADOW, reason, step_started_at=t.now, held_since=None
    )


def _shadow(t: _Tick) -> Decision:
    r, now = t.rollout, t.now
    verdict, why, figures = t.judge_shadow()
    if verdict is Verdict.FAIL:
        return t.move(
            Action.FINISH, State.FAILED, f"shadow phase failed: {why}; the alias never moved", figures
        )
    started = r.step_started_at or now
    figures["shadow_left_s"] = left = max(0.0, (t.policy.shadow_s or 0) - (now - started).total_seconds())
    if left > 0:
        return t.move(Action.SHADOW, State.SHADOW, f"shadow phase, {left:g}s left", figures)
    if verdict is Verdict.PASS or t.policy.shadow_s == 0:
        if t.policy.shadow_only:
            return t.move(Action.FINISH, State.SUCCEEDED, f"shadow phase passed: {why}", figures)
        return t.advance(f"shadow phase passed: {why}", figures)
    held_since = r.held_since or now
    figures["held_s"] = held = (now - held_since).total_seconds()
    if held >= t.policy.max_hold_s:
        reason = f"shadow phase cannot judge after holding {held:g}s: {why}; the alias never moved"
        return t.move(Action.FINISH, State.FAILED, reason, figures)
    reason = f"shadow phase holding {held:g}s of {t.policy.max_hold_s}s until the gates can judge: {why}"
    return _move(r, now, Action.SHADOW, State.SHADOW, reason, figures, held_since=held_since)


def _stepping(t: _Tick) -> Decision:
    r = t.rollout
    step = f"step {r.step + 1}/{len(r.strategy.steps)} at {r.candidate_bp / 100:g}%"
    reason = f"{step} in effect; baking {r.strategy.steps[r.step].bake_s}s"
    return _move(r, t.now, Action.HOLD, State.BAKING, reason, step_started_at=t.now)


def _baking(t: _Tick) -> Decision:
    r, now = t.rollout, t.now
    verdict, why, figures = t.judge()
    step = f"step {r.step + 1}/{len(r.strategy.steps)}"
    if verdict is Verdict.FAIL:
        return t.roll_back(f"{step} failed its gates: {why}", figures)
    figures["bake_left_s"] = left = r.bake_left_s(now)
    if left > 0:
        return t.move(Action.HOLD, State.BAKING, f"{step} baking, {left:g}s left", figures)
    if verdict is Verdict.PASS:
        return t.advance(f"{step} passed: {why}", figures)
    if r.strategy.steps[r.step].bake_s == 0:
        return t.advance(f"{step} has no bake time to judge", figures)
    held_since = r.held_since or now
    figures["held_s"] = held = (now - held_since).total_seconds()
    if held >= t.policy.max_hold_s:
        return t.roll_back(f"{step} cannot judge after holding {held:g}s: {why}", figures)
    reason = f"{step} holding {held:g}s of {t.policy.max_hold_s}s until the gates can judge: {why}"
    return _move(r, now, Action.HOLD, State.BAKING, reason, figures, held_since=held_since)


def _post_hook(t: _Tick) -> Decision:
    verdict, why, figures = t.judge()
    if verdict is Verdict.FAIL:
        return t.roll_back(f"gates failed at 100%: {why}", figures)
    waiting = _wait_for_hook(t, t.post_hook, t.policy.post_hook, Action.RUN_POST_HOOK)
    return waiting or t.move(Action.FINISH, State.SUCCEEDED, "post-traffic hook passed; all traffic moved")


def _paused(t: _Tick) -> Decision:
    verdict, why, figures = t.judge()
    if verdict is Verdict.FAIL and t.rollout.step >= 0:
        return t.roll_back(f"gates failed while paused: {why}", figures)
    return t.move(Action.HOLD, State.PAUSED, f"paused in {t.rollout.paused_from}; resume or abort")


def _rolling_back(t: _Tick) -> Decision:
    ends_as = t.rollout.ends_as or State.ROLLED_BACK
    cause = next((r.reason for r in reversed(t.rollout.history) if r.action is Action.ROLL_BACK), "")
    reason = f"{ends_as}, baseline {t.rollout.baseline} serves 100%" + (f": {cause}" if cause else "")
    return t.move(Action.FINISH, ends_as, reason)


def _finished(t: _Tick) -> Decision:
    return t.move(Action.FINISH, t.rollout.state, f"the rollout is over: {t.rollout.state}")


_HANDLERS = {
    State.PENDING: _pending,
    State.PRE_HOOK: _pre_hook,
    State.SHADOW: _shadow,
    State.STEPPING: _stepping,
    State.BAKING: _baking,
    State.POST_HOOK: _post_hook,
    State.PAUSED: _paused,
    State.ROLLING_BACK: _rolling_back,
    **{state: _finished for state in TERMINAL},
}
