"""The console's pure parts: sealed session cookies, CSRF tokens, the signing key file, how people type
alias targets, and the side-by-side layout of a diff."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from turnout.console.actions import parse_targets
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
