"""Releases: several functions' aliases moved as one - at once, or as one rollout in step.

A release names its members (function, alias, version). Applied at once, every member's alias moves in
one transaction. Run as a rollout, each member gets a rollout of its own (the same strategy and gates),
and the controller decides the members together each tick: :func:`coordinate` takes every member's own
decision (from :func:`turnout.domain.rollout.decide`) and returns the ones to apply, so that

* no member passes a milestone (a step, the shadow phase, the post-hook, success) before every member
  has reached it: a member whose gates passed waits, holding its step, for the others;
* any member rolling back (a gate, a hook, an operator's abort) or failing rolls the whole release back:
  every other member's candidate loses its traffic in the same transaction.

Nothing here reads a clock or the store; ``now`` is passed in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from turnout.domain import rollout as machine
from turnout.domain.names import check_alias_name, check_function_name
from turnout.domain.rollout import Action, Decision, Rollout, State
from turnout.errors import InvalidInput, InvalidName

MAX_MEMBERS = 50
NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


class ReleaseState(StrEnum):
    PENDING = "pending"  # a release rollout the controller has not ticked yet
    RUNNING = "running"  # its rollouts are moving traffic
    ROLLING_BACK = "rolling-back"  # a member failed: every member is on its way back to its baseline
    SUCCEEDED = "succeeded"  # every member serves its new version (at once, or its rollout succeeded)
    ROLLED_BACK = "rolled-back"  # every member is back where it was (by the controller, or `rollback`)
    FAILED = "failed"  # a member failed before moving any traffic; no alias moved
    ABORTED = "aborted"  # an operator aborted a member's rollout; every member went back


TERMINAL = frozenset({ReleaseState.SUCCEEDED, ReleaseState.ROLLED_BACK, ReleaseState.FAILED})
TERMINAL |= {ReleaseState.ABORTED}


@dataclass(frozen=True)
class Member:
    """One alias a release moves: ``function``'s ``alias`` to ``version``."""

    function: str
    alias: str
    version: int

    def __str__(self) -> str:
        return f"{self.function}:{self.alias}={self.version}"


def check_release_name(name: str) -> str:
    """A release's name: 1-64 letters, digits, ``-``, ``_`` or ``.``, starting with a letter or digit.

    >>> check_release_name("checkout-2026.12")
    'checkout-2026.12'
    """
    if not 1 <= len(name) <= 64 or not set(name) <= NAME_CHARS or not name[0].isalnum():
        raise InvalidName(
            f"invalid release name {name!r}: 1-64 letters, digits, '-', '_' or '.', starting with a "
            "letter or digit"
        )
    return name


def check_members(members: Sequence[Member]) -> tuple[Member, ...]:
    """The members, checked: at least one, at most ``MAX_MEMBERS``, names valid, no alias twice.

    >>> check_members([Member("api", "prod", 3), Member("api", "prod", 4)])
    Traceback (most recent call last):
    turnout.errors.InvalidInput: api:prod is named twice (=3 and =4); a release moves an alias once
    """
    if not members:
        raise InvalidInput("a release moves at least one alias: give function:alias=version members")
    if len(members) > MAX_MEMBERS:
        raise InvalidInput(f"a release moves at most {MAX_MEMBERS} aliases, not {len(members)}")
    seen: dict[tuple[str, str], Member] = {}
    for member in members:
        check_function_name(member.function)
        check_alias_name(member.alias)
        if member.version < 1:
            raise InvalidInput(f"{member}: a release moves aliases to published versions (1 or more)")
        key = (member.function, member.alias)
        if key in seen:
            raise InvalidInput(
                f"{member.function}:{member.alias} is named twice "
                f"(={seen[key].version} and ={member.version}); a release moves an alias once"
            )
        seen[key] = member
    return tuple(members)


# ------------------------------------------------------------------------------------------ in step


_PHASES = {
    State.PENDING: 0,
    State.PRE_HOOK: 0,
    State.SHADOW: 1,
    State.STEPPING: 2,
    State.BAKING: 2,
    State.POST_HOOK: 3,
    State.SUCCEEDED: 4,
}
_BACK = frozenset({State.ROLLING_BACK, State.ROLLED_BACK, State.ABORTED, State.FAILED})


def milestone(rollout: Rollout) -> tuple[int, int]:
    """How far a member has gone: (phase, step). A paused member counts where it paused; stepping and
    baking the same step are the same milestone.

    >>> from turnout.domain.strategy import canary
    >>> r = machine.start("prod", 1, 2, canary(1000, 60), datetime(2026, 1, 1))
    >>> milestone(r)
    (0, -1)
    """
    state = rollout.paused_from if rollout.state is State.PAUSED and rollout.paused_from else rollout.state
    phase = _PHASES.get(state, -1)
    return (phase, rollout.step if phase == 2 else -1)


def coordinate(
    rollouts: Sequence[Rollout], decisions: Sequence[Decision], now: datetime, release: str
) -> list[Decision]:
    """The decisions to apply for a release's members, given each member's own (in the same order).

    * A member that goes back (rolls back, fails or is aborted), or is already back, takes every other
      member back with it: each still moving gets a roll-back decision naming the member and its reason.
    * Otherwise a member that would pass a milestone the slowest member's decision does not reach holds
      (its decision is dropped, its state kept): the members cross each milestone together.
    """
    if len(rollouts) != len(decisions):
        raise ValueError("one decision per member")
    back = [(r, d) for r, d in zip(rollouts, decisions, strict=True) if r.state in _BACK or d.state in _BACK]
    if back:
        first, cause = back[0]
        why = cause.rollout.history[-1].reason if cause.rollout.history else cause.reason
        reason = (
            f"release {release}: {first.alias} of a member went back ({why}); the whole release rolls back"
        )
        return [_back(r, d, now, reason) for r, d in zip(rollouts, decisions, strict=True)]
    slowest = min(milestone(d.rollout) for d in decisions)
    out = []
    for r, d in zip(rollouts, decisions, strict=True):
        if milestone(d.rollout) > max(slowest, milestone(r)):
            wait = f"release {release}: passed, waiting for the other members to reach the same step"
            out.append(Decision(Action.HOLD, r, None, wait, d.figures))
        else:
            out.append(d)
    return out


def _back(rollout: Rollout, decision: Decision, now: datetime, reason: str) -> Decision:
    """The member's own decision when it is already going back; else a roll-back for the release."""
    if rollout.state in _BACK or decision.state in _BACK or rollout.state in machine.TERMINAL:
        return decision
    return machine.roll_back(rollout, now, reason)


def release_state(states: Sequence[State]) -> ReleaseState:
    """A release rollout's state from its members' rollout states.

    >>> release_state([State.SUCCEEDED, State.BAKING]).value
    'running'
    >>> release_state([State.ROLLED_BACK, State.ABORTED]).value
    'aborted'
    """
    found = set(states)
    if not found or found == {State.PENDING}:
        return ReleaseState.PENDING
    if found & {State.ROLLING_BACK}:
        return ReleaseState.ROLLING_BACK
    if found <= machine.TERMINAL:
        if found == {State.SUCCEEDED}:
            return ReleaseState.SUCCEEDED
        if State.ABORTED in found:
            return ReleaseState.ABORTED
        if State.FAILED in found:  # a pre-hook or shadow failure: members move in step, so none had moved
            return ReleaseState.FAILED
        return ReleaseState.ROLLED_BACK
    return ReleaseState.RUNNING
