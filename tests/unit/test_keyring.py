"""Sealing secret values: AES-GCM under the secret key, digests that fingerprint without revealing."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from turnout.domain.config import FunctionConfig, fingerprint
from turnout.domain.diff import diff_environment
from turnout.domain.secrets import MASK, is_sealed, mask, plain_size
from turnout.errors import InvalidInput, SecretKeyInvalid
from turnout.keyring import Keyring, new_key, read_key, unwrap_digest_key, wrap_digest_key, write_key
from turnout.settings import Settings


def keyring() -> Keyring:
    return Keyring(new_key(), new_key())


def test_a_sealed_value_opens_to_the_plain_value_and_does_not_contain_it() -> None:
    ring = keyring()
    sealed = ring.seal("DB_PASSWORD", "hunter2-hunter2")
    assert is_sealed(sealed) and "hunter2" not in sealed
    assert ring.open("DB_PASSWORD", sealed) == "hunter2-hunter2"
    assert plain_size(sealed) == len("hunter2-hunter2")


def test_sealing_twice_gives_different_text_with_the_same_digest() -> None:
    ring = keyring()
    first, second = ring.seal("TOKEN", "abc"), ring.seal("TOKEN", "abc")
    assert first != second
    assert first.split(":")[1] == second.split(":")[1]


def test_another_key_cannot_open_a_sealed_value() -> None:
    sealed = keyring().seal("DB_PASSWORD", "hunter2")
    with pytest.raises(SecretKeyInvalid, match="cluster needs the same TURNOUT_SECRET_KEY_FILE"):
        keyring().open("DB_PASSWORD", sealed)


def test_a_sealed_value_moved_to_another_name_does_not_open() -> None:
    ring = keyring()
    with pytest.raises(SecretKeyInvalid):
        ring.open("OTHER_PASSWORD", ring.seal("DB_PASSWORD", "hunter2"))


def test_seal_environment_seals_secret_names_and_declared_keys_only() -> None:
    ring = keyring()
    sealed = ring.seal_environment({"DB_PASSWORD": "p", "REGION": "eu", "PLAN": "gold"}, declared={"PLAN"})
    assert sealed["REGION"] == "eu"
    assert is_sealed(sealed["DB_PASSWORD"]) and is_sealed(sealed["PLAN"])
    assert ring.open_environment(sealed) == {"DB_PASSWORD": "p", "REGION": "eu", "PLAN": "gold"}


def test_an_unchanged_secret_keeps_its_sealed_text_so_deploys_stay_idempotent() -> None:
    ring = keyring()
    before = ring.seal_environment({"DB_PASSWORD": "p"})
    assert ring.seal_environment({"DB_PASSWORD": "p"}, previous=before) == before
    assert ring.seal_environment({"DB_PASSWORD": "q"}, previous=before) != before


def test_a_sealed_value_from_another_key_is_refused_as_input() -> None:
    foreign = keyring().seal("DB_PASSWORD", "p")
    with pytest.raises(InvalidInput, match="send the plain value"):
        keyring().seal_environment({"DB_PASSWORD": foreign})


def test_the_fingerprint_changes_with_a_secret_and_is_the_same_for_the_same_secret() -> None:
    ring = keyring()

    def config(password: str) -> FunctionConfig:
        env = ring.seal_environment({"DB_PASSWORD": password})
        return FunctionConfig(handler="app.handler", environment=env)

    assert fingerprint("b" * 64, config("a"), ()) == fingerprint("b" * 64, config("a"), ())
    assert fingerprint("b" * 64, config("a"), ()) != fingerprint("b" * 64, config("b"), ())


def test_sealed_values_are_masked_and_a_changed_secret_shows_changed_in_a_diff() -> None:
    ring = keyring()
    before = ring.seal_environment({"DB_PASSWORD": "a", "X": "1"})
    same = ring.seal_environment({"DB_PASSWORD": "a", "X": "1"})
    after = ring.seal_environment({"DB_PASSWORD": "b", "X": "1"})
    assert mask(before) == {"DB_PASSWORD": MASK, "X": "1"}
    assert diff_environment(before, same) == ()
    (change,) = diff_environment(before, after)
    assert (change.key, change.before, change.after) == ("DB_PASSWORD", MASK, MASK + " (changed)")


def test_the_environment_limit_counts_plain_bytes_not_sealed_text() -> None:
    ring = keyring()
    environment = ring.seal_environment({"DB_PASSWORD": "x" * 4000})
    FunctionConfig(handler="app.handler", environment=environment)  # 4011 plain bytes: within 4096


def test_the_check_value_tells_the_right_key_from_a_wrong_one() -> None:
    key, digest_key = new_key(), new_key()
    check = wrap_digest_key(key, digest_key)
    assert unwrap_digest_key(key, check) == digest_key
    assert unwrap_digest_key(new_key(), check) is None


def test_a_key_file_is_written_0600_and_read_back(tmp_path: Path) -> None:
    key = new_key()
    write_key(tmp_path / "secret-key", key)
    assert stat.S_IMODE((tmp_path / "secret-key").stat().st_mode) == 0o600
    assert read_key(tmp_path / "secret-key") == key


def test_a_file_that_is_not_a_key_is_refused_clearly(tmp_path: Path) -> None:
    (tmp_path / "k").write_text("not a key\n")
    with pytest.raises(SecretKeyInvalid, match="is not a Turnout secret key"):
        read_key(tmp_path / "k")


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.5", "::1", "localhost"])
def test_lambda_auth_any_is_allowed_on_loopback(host: str) -> None:
    Settings(host=host, lambda_auth="any", metrics_public=True).check_exposure()


@pytest.mark.parametrize(
    ("changes", "named"),
    [({"lambda_auth": "any"}, "TURNOUT_LAMBDA_AUTH=token"), ({"metrics_public": True}, "METRICS_PUBLIC")],
)
def test_an_open_door_on_a_network_address_is_refused_naming_the_fix(
    changes: dict[str, object], named: str
) -> None:
    settings = Settings(host="0.0.0.0", **{"lambda_auth": "token", **changes})  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match=named) as raised:
        settings.check_exposure()
    assert raised.value.code == "InsecureSettings"


def test_token_auth_or_the_i_know_setting_allows_a_network_address() -> None:
    Settings(host="0.0.0.0", lambda_auth="token").check_exposure()
    Settings(host="10.1.2.3", lambda_auth="any", allow_open_network=True).check_exposure()
