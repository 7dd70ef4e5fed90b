"""Secrets at rest: opening the keyring at start, sealing what an upgrade left in plain text, rotating
the key. The cryptography itself is ``turnout.keyring``; which values are secret, ``domain.secrets``."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from turnout.clock import Clock
from turnout.domain.config import FunctionConfig, fingerprint
from turnout.domain.secrets import is_sealed
from turnout.errors import SecretKeyInvalid
from turnout.keyring import (
    Keyring,
    new_key,
    read_key,
    unwrap_digest_key,
    wrap_digest_key,
    write_key,
)
from turnout.services.changes import ChangeFeed
from turnout.store import Store, Tx
from turnout.store.keyring import StoredEnvironment

log = logging.getLogger("turnout.secrets")


@dataclass(frozen=True)
class KeyFile:
    """Where the secret key lives; ``explicit``: named by TURNOUT_SECRET_KEY_FILE (never generated)."""

    path: Path
    explicit: bool = False

    @property
    def pending(self) -> Path:
        """The new key while a rotation commits; it replaces ``path`` once the store is re-sealed."""
        return self.path.with_name(self.path.name + ".new")


@dataclass(frozen=True)
class RotationReport:
    values: int  # sealed values re-sealed under the new key
    key_file: str


def load_keyring(store: Store, key_file: KeyFile, clock: Clock) -> Keyring:
    """The keyring for this store: the key from its file, checked against the store's check value.

    At the very first start (no check value yet) a missing default key file is generated (0600). A
    rotation interrupted after its commit is finished here (the pending key file is the right one).
    """
    with store.write() as tx:
        row = tx.keyring.get(lock=True)
        if row is None:
            key = _first_key(key_file)
            digest_key = new_key()
            tx.keyring.create(wrap_digest_key(key, digest_key), clock())
            return Keyring(key, digest_key)
    for candidate in _candidates(key_file):
        found = unwrap_digest_key(read_key(candidate), row.check_value)
        if found is not None:
            if candidate == key_file.pending:
                os.replace(key_file.pending, key_file.path)
                log.warning("finished an interrupted key rotation: %s is the new key", key_file.path)
            return Keyring(read_key(key_file.path), found)
    raise SecretKeyInvalid(
        f"the secret key in {key_file.path} is not the key this store's secrets were sealed with; "
        "start with the right key file (TURNOUT_SECRET_KEY_FILE; every node of a cluster shares one)"
    )


def _first_key(key_file: KeyFile) -> bytes:
    if key_file.path.exists():
        return read_key(key_file.path)
    if key_file.explicit:
        raise SecretKeyInvalid(
            f"TURNOUT_SECRET_KEY_FILE names {key_file.path}, which does not exist; create it "
            "(32 random bytes, base64: `python -c \"import os,base64;print(base64.urlsafe_b64encode("
            "os.urandom(32)).decode())\"`) or unset the setting to have one generated in the data folder"
        )
    key = new_key()
    write_key(key_file.path, key)
    log.warning("generated the secret key %s: back it up, the stored secrets need it", key_file.path)
    return key


def _candidates(key_file: KeyFile) -> list[Path]:
    found = [path for path in (key_file.path, key_file.pending) if path.exists()]
    if not found:
        raise SecretKeyInvalid(
            f"this store's secrets are sealed, but the secret key file {key_file.path} is missing; "
            "restore it from a backup or another node (TURNOUT_SECRET_KEY_FILE names where it is)"
        )
    return found


class SecretService:
    def __init__(
        self,
        store: Store,
        keyring: Keyring,
        key_file: KeyFile,
        clock: Clock,
        changes: ChangeFeed | None = None,
    ) -> None:
        self.store, self.keyring, self.key_file, self.clock = store, keyring, key_file, clock
        self.changes = changes or ChangeFeed()

    def reveal(self, environment: Mapping[str, str]) -> dict[str, str]:
        """The plain values, for an admin's ``?reveal=true``."""
        return self.keyring.open_environment(environment)

    def seal_stored(self) -> int:
        """Seal every secret value still stored in plain text (left by a version before 0013), in one
        transaction; a version's fingerprint is recomputed, as its secrets now count by digest."""
        sealed = 0
        with self.store.write() as tx:
            for stored in tx.keyring.environments():
                environment = self.keyring.seal_environment(stored.environment, stored.declared)
                if environment != dict(stored.environment):
                    tx.keyring.replace(stored, environment, **_fingerprint(stored, environment))
                    sealed += 1
        if sealed:
            log.warning("sealed the plain-text secrets of %d stored environments", sealed)
        return sealed

    def rotate_key(self) -> RotationReport:
        """Re-seal every secret under a new key, in one transaction, then make it the key file."""
        key = new_key()
        write_key(self.key_file.pending, key)
        try:
            with self.store.write() as tx:
                values = self._reseal_all(tx, key)
        except BaseException:
            self.key_file.pending.unlink(missing_ok=True)
            raise
        os.replace(self.key_file.pending, self.key_file.path)
        self.keyring.rotate_to(key)
        self._reload_all()
        return RotationReport(values, str(self.key_file.path))

    def _reseal_all(self, tx: Tx, key: bytes) -> int:
        if tx.keyring.get(lock=True) is None:
            raise SecretKeyInvalid("the store has no keyring; restart the server to make one")
        values = 0
        for stored in tx.keyring.environments():
            changed = {
                name: self.keyring.reseal(name, value, key)
                for name, value in stored.environment.items()
                if is_sealed(value)
            }
            if changed:
                tx.keyring.replace(stored, {**stored.environment, **changed})
                values += len(changed)
        tx.keyring.set_check(wrap_digest_key(key, self.keyring.digest_key), self.clock())
        return values

    def _reload_all(self) -> None:
        """Every function's routing entry is read again, so workers start from the re-sealed values."""
        after: str | None = None
        while True:
            with self.store.read() as tx:
                page = tx.functions.list(after, 500)
            for function in page:
                self.changes.publish(function.name)
            if len(page) < 500:
                return
            after = page[-1].name


def _fingerprint(stored: StoredEnvironment, environment: Mapping[str, str]) -> dict[str, str]:
    if stored.table != "versions" or stored.row is None:
        return {}
    config = FunctionConfig.from_json({**(stored.config or {}), "environment": dict(environment)})
    row = stored.row
    return {"fingerprint": fingerprint(row["bundle_sha256"], config, tuple(row["dependencies"]))}

