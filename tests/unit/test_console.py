"""The console's pure parts: sealed session cookies, CSRF tokens, the signing key file, how people type
alias targets, the side-by-side layout of a diff, and how a release is described and which of its
actions are offered."""

from __future__ import annotations

import doctest
import stat
from pathlib import Path

import pytest

from turnout.console import releases
from turnout.console.actions import parse_targets
from turnout.console.rollouts import gate_rows, verdict
from turnout.console.session import MAX_AGE_S, Signer, load_key
from turnout.console.sidebyside import side_by_side
from turnout.errors import InvalidInput, InvalidWeights

NOW = 1_800_000_000.0


def test_a_session_cookie_opens_with_the_key_that_sealed_it_and_hides_the_token() -> None:
    signer = Signer(b"k" * 32)
    cookie = signer.issue("tt_secret", NOW)
    session = signer.read(cookie, NOW + 60)
    assert session is not None and session.token == "tt_secret"
    assert "tt_secret" not in cookie and "secret" not in repr(session)


def test_a_changed_cookie_a_cookie_of_another_key_or_an_old_one_opens_nothing() -> None:
    signer = Signer(b"k" * 32)
    cookie = signer.issue("tt_secret", NOW)
    tampered = cookie[:-2] + ("AA" if cookie[-2:] != "AA" else "BB")
    assert signer.read(tampered, NOW) is None
    assert Signer(b"j" * 32).read(cookie, NOW) is None
    assert signer.read(cookie, NOW + MAX_AGE_S + 1) is None
    assert signer.read("", NOW) is None and signer.read("not a cookie!", NOW) is None


def test_the_csrf_token_belongs_to_one_session() -> None:
    signer = Signer(b"k" * 32)
    first = signer.read(signer.issue("tt_a", NOW), NOW)
    second = signer.read(signer.issue("tt_a", NOW), NOW)
    assert first is not None and second is not None
    assert signer.csrf_ok(first, signer.csrf(first))
    assert not signer.csrf_ok(first, signer.csrf(second))
    assert not signer.csrf_ok(first, None) and not signer.csrf_ok(first, "")


def test_the_key_is_made_once_private_to_its_owner(tmp_path: Path) -> None:
    path = tmp_path / "console-key"
    key = load_key(path)
    assert len(key) == 32 and load_key(path) == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_targets_read_as_people_type_them() -> None:
    assert parse_targets("3").describe() == "3"
    assert parse_targets(" 1=90, 2=10 ").describe() == "1 (90%), 2 (10%)"
    assert parse_targets("$LATEST").describe() == "$LATEST"


@pytest.mark.parametrize(
    ("text", "error"), [("", InvalidInput), ("1=90 2", InvalidInput), ("1=50", InvalidWeights)]
)
def test_a_target_that_is_not_a_version_or_a_split_is_refused(text: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        parse_targets(text)


def test_a_diff_side_by_side_pairs_removed_with_added_lines() -> None:
    unified = "--- a/app.py\n+++ b/app.py\n@@ -1,3 +1,3 @@\n def f():\n-    return 1\n+    return 2\n+# new\n"
    rows = [(r.left, r.right, r.kind) for r in side_by_side(unified)]
    assert rows == [
        ("@@ -1,3 +1,3 @@", "@@ -1,3 +1,3 @@", "hunk"),
        ("def f():", "def f():", "same"),
        ("    return 1", "    return 2", "changed"),
        (None, "# new", "added"),
    ]


def test_each_gate_set_is_shown_with_the_figure_it_judges_against_its_limit() -> None:
    metrics = {
        "candidate": {"error_rate": 0.25, "p99_ms": 40.0},
        "baseline": {"error_rate": 0.05, "p99_ms": 10.0},
    }
    gates = {
        "max_error_rate": None,
        "max_error_rate_increase": 0.01,
        "max_p99_ratio": 5.0,
        "max_p99_ms": None,
    }
    assert gate_rows(gates, metrics) == [
        {"gate": "max_error_rate_increase", "figure": pytest.approx(0.2), "limit": 0.01, "ok": False},
        {"gate": "max_p99_ratio", "figure": 4.0, "limit": 5.0, "ok": True},
    ]


def test_only_a_rollout_that_rolled_back_by_itself_has_a_verdict() -> None:
    failed = {"action": "roll-back", "reason": "gates failed", "figures": {"candidate.error_rate": 0.3}}
    done = {"action": "finish", "reason": "over", "figures": {}}
    assert verdict({"state": "rolled-back", "history": [failed, done]}) == {
        "reason": "gates failed",
        "figures": {"candidate.error_rate": 0.3},
    }
    assert verdict({"state": "aborted", "history": [failed, done]}) is None
    assert verdict({"state": "succeeded", "history": [done]}) is None


def test_a_release_says_how_it_moves_and_offers_only_the_actions_its_state_allows() -> None:
    assert doctest.testmod(releases).failed == 0
    rollout = {"state": "baking", "step": 0, "steps": 2, "candidate_percent": 20.0, "reason": "baking"}
    strategy = {"kind": "canary", "name": "Canary10Percent5Minutes", "steps": [{"weight_bp": 10000}]}
    offered = {}
    for state in ("pending", "running", "rolling-back", "succeeded", "rolled-back", "aborted", "failed"):
        member = {"function": "api", "alias": "prod", "rollout": rollout}
        data = releases._shown({"state": state, "rollout": {"strategy": strategy}, "members": [member]})
        offered[state] = (data["can_roll_back"], data["can_steer"])
        assert data["how"] == "rollout: Canary10Percent5Minutes (canary), 100%"
        assert data["members"][0]["rollout_text"] == "baking, step 1/2, 20%"
    assert offered == {
        "pending": (False, True),
        "running": (False, True),
        "rolling-back": (False, False),
        "succeeded": (True, False),
        "rolled-back": (False, False),
        "aborted": (False, False),
        "failed": (False, False),
    }
    at_once = releases._shown({"state": "succeeded", "rollout": None, "members": [{"rollout": None}]})
    assert (at_once["how"], at_once["members"][0]["rollout_text"]) == ("at once", "—")
