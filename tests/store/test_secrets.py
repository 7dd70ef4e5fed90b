"""Secrets at rest, on SQLite and PostgreSQL: sealed in every table, opened only with the right key."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select, update

from tests.store.conftest import Kit
from turnout.domain.secrets import is_sealed
from turnout.errors import SecretKeyInvalid
from turnout.keyring import Keyring, new_key, read_key, wrap_digest_key, write_key
from turnout.services.functions import DraftChanges
from turnout.services.secrets import KeyFile, load_keyring
from turnout.settings import Settings
from turnout.store import Store
from turnout.store.schema import functions, keyring, metadata, versions

DB_PASSWORD = "pw-7f3a9c0e51"
API_TOKEN = "tok-c4d2e8b710"
PLAN_CODE = "plan-91be53aa02"
PLAINS = (DB_PASSWORD, API_TOKEN, PLAN_CODE)


def every_stored_text(store: Store) -> str:
    """Every row of every table, as text: what a dump of the database would show."""
    with store.read() as tx:
        return "\n".join(
            repr(tuple(row)) for table in metadata.sorted_tables for row in tx.conn.execute(select(table))
        )


def with_secrets(kit: Kit, name: str) -> None:
    kit.deploy(name, environment={"DB_PASSWORD": DB_PASSWORD, "GREETING": "hello-visible"})
    kit.publish(name)
    kit.alias(name, "prod", 1, settings={"API_TOKEN": API_TOKEN, "PLAN": PLAN_CODE}, secret_keys={"PLAN"})


def test_secret_values_are_sealed_in_drafts_versions_and_alias_settings(kit: Kit) -> None:
    with_secrets(kit, "shop")
    text = every_stored_text(kit.store)
    assert "hello-visible" in text
    assert not [plain for plain in PLAINS if plain in text]
    draft = kit.services.functions.get("shop").config.environment
    assert is_sealed(draft["DB_PASSWORD"]) and draft["GREETING"] == "hello-visible"
    settings = kit.services.aliases.get("shop", "prod").settings
    assert kit.services.secrets.reveal(settings) == {"API_TOKEN": API_TOKEN, "PLAN": PLAN_CODE}


def test_deploying_the_same_secret_again_changes_nothing_and_publishes_no_new_version(kit: Kit) -> None:
    first = kit.deploy("shop", environment={"DB_PASSWORD": DB_PASSWORD})
    again = kit.deploy("shop", environment={"DB_PASSWORD": DB_PASSWORD})
    assert again.revision_id == first.revision_id
    assert kit.publish("shop").number == 1
    assert kit.services.versions.publish("shop")[1] is False  # nothing changed: no new version
    kit.deploy("shop", environment={"DB_PASSWORD": "another"})
    assert kit.publish("shop").number == 2


def test_rotate_key_reseals_every_secret_and_the_old_key_opens_none(kit: Kit, settings: Settings) -> None:
    with_secrets(kit, "shop")
    old_key = read_key(settings.secret_key_path)
    before = kit.services.versions.get("shop", 1)
    report = kit.services.secrets.rotate_key()
    assert report.values == 4  # the draft's, version 1's and the alias's two
    assert read_key(settings.secret_key_path) != old_key
    assert not settings.secret_key_path.with_name("secret-key.new").exists()
    after = kit.services.versions.get("shop", 1)
    assert after.fingerprint == before.fingerprint
    assert after.config.environment["DB_PASSWORD"] != before.config.environment["DB_PASSWORD"]
    reopened = load_keyring(kit.store, KeyFile(settings.secret_key_path), kit.clock)
    assert reopened.open_environment(after.config.environment)["DB_PASSWORD"] == DB_PASSWORD
    stale = Keyring(old_key, reopened.digest_key)
    with pytest.raises(SecretKeyInvalid):
        stale.open_environment(after.config.environment)
    assert not [plain for plain in PLAINS if plain in every_stored_text(kit.store)]
    assert kit.services.versions.publish("shop")[1] is False


def test_a_wrong_key_file_is_refused_with_a_clear_message(kit: Kit, settings: Settings) -> None:
    with_secrets(kit, "shop")
    write_key(settings.secret_key_path, new_key())
    with pytest.raises(SecretKeyInvalid, match="is not the key this store's secrets were sealed with"):
        load_keyring(kit.store, KeyFile(settings.secret_key_path), kit.clock)


def test_a_missing_key_file_is_refused_once_secrets_are_sealed(kit: Kit, settings: Settings) -> None:
    with_secrets(kit, "shop")
    settings.secret_key_path.unlink()
    with pytest.raises(SecretKeyInvalid, match="key file .* is missing"):
        load_keyring(kit.store, KeyFile(settings.secret_key_path), kit.clock)


def test_a_named_key_file_that_does_not_exist_is_refused_at_first_start(
    backend: Store, tmp_path: Path, kit: Kit
) -> None:
    with backend.write() as tx:
        tx.conn.execute(keyring.delete())  # a store no server has started on yet
    with pytest.raises(SecretKeyInvalid, match="does not exist"):
        load_keyring(backend, KeyFile(tmp_path / "nowhere" / "key", explicit=True), kit.clock)


def test_a_rotation_interrupted_after_its_commit_is_finished_at_start(kit: Kit, settings: Settings) -> None:
    with_secrets(kit, "shop")
    key_file = KeyFile(settings.secret_key_path)
    key = new_key()
    write_key(key_file.pending, key)
    with kit.store.write() as tx:  # the commit happened; the rename did not
        tx.keyring.set_check(wrap_digest_key(key, kit.services.secrets.keyring.digest_key), kit.clock())
    load_keyring(kit.store, key_file, kit.clock)
    assert read_key(key_file.path) == key and not key_file.pending.exists()


def test_plain_secrets_left_by_an_upgrade_are_sealed_at_start_and_publish_stays_idempotent(kit: Kit) -> None:
    kit.deploy("shop", environment={"GREETING": "hi"})
    kit.publish("shop")
    plain = {"DB_PASSWORD": DB_PASSWORD, "GREETING": "hi"}
    with kit.store.write() as tx:  # what a server before migration 0013 stored
        for table in (functions, versions):
            config = tx.conn.execute(select(table.c.config)).scalar_one()
            tx.conn.execute(update(table).values(config={**config, "environment": plain}))
    assert DB_PASSWORD in every_stored_text(kit.store)
    assert kit.services.secrets.seal_stored() == 2
    assert DB_PASSWORD not in every_stored_text(kit.store)
    assert kit.services.secrets.seal_stored() == 0
    assert kit.services.versions.publish("shop")[1] is False  # the draft still matches version 1
    kit.services.functions.put_draft("shop", DraftChanges(environment=plain))
    assert kit.services.versions.publish("shop")[1] is False
