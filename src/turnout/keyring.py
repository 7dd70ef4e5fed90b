"""The secret key and what it does: seal secret values (AES-GCM) and open them again.

The key is 32 random bytes kept in a file (base64 text, mode 0600): ``TURNOUT_SECRET_KEY_FILE``, or
``DATA_DIR/secret-key`` generated at first start. A sealed value (shape in ``turnout.domain.secrets``)
is ``tsec1:<digest>:<base64(nonce + ciphertext + tag)>``; the variable's name is the associated data,
so a sealed value moved to another name does not open. The digest is an HMAC-SHA256 of the plain value
under the *digest key*: 32 random bytes made once per store and kept in the store sealed under the
secret key. That sealed digest key is also the check value: a wrong key cannot open it (the GCM tag
fails), so a server started with the wrong key refuses at once instead of handing garbage to a
function. Rotating the secret key keeps the digest key, so fingerprints and digests do not change.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from turnout.domain.secrets import NONCE_BYTES, SEALED_PREFIX, is_sealed, is_secret, sealed_parts
from turnout.errors import InvalidInput, SecretKeyInvalid

KEY_BYTES = 32
CHECK_NAME = "turnout:digest-key"


def new_key() -> bytes:
    return os.urandom(KEY_BYTES)


def read_key(path: Path) -> bytes:
    """The key in ``path``; a clear ``SecretKeyInvalid`` when it is not one."""
    try:
        text = path.read_text().strip()
    except OSError as exc:
        raise SecretKeyInvalid(f"cannot read the secret key file {path}: {exc.strerror}") from exc
    try:
        key = base64.urlsafe_b64decode(text)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != KEY_BYTES:
        raise SecretKeyInvalid(
            f"{path} is not a Turnout secret key (32 random bytes, base64); "
            "restore the right file or point TURNOUT_SECRET_KEY_FILE at it"
        )
    return key


def write_key(path: Path, key: bytes) -> None:
    """Write ``key`` to ``path`` atomically, readable by its owner only (0600)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(base64.urlsafe_b64encode(key).decode() + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode()


def seal_with(key: bytes, name: str, plain: bytes) -> str:
    """Encrypt ``plain`` under ``key`` with ``name`` as associated data: base64(nonce + ciphertext)."""
    nonce = os.urandom(NONCE_BYTES)
    return _b64(nonce + AESGCM(key).encrypt(nonce, plain, name.encode()))


def open_with(keys: Iterable[bytes], name: str, blob: str) -> bytes:
    """Decrypt ``blob`` with the first of ``keys`` that authenticates it; ``InvalidTag`` when none does."""
    try:
        raw = base64.urlsafe_b64decode(blob)
    except (binascii.Error, ValueError) as exc:
        raise InvalidTag() from exc
    nonce, sealed = raw[:NONCE_BYTES], raw[NONCE_BYTES:]
    for key in keys:
        try:
            return AESGCM(key).decrypt(nonce, sealed, name.encode())
        except InvalidTag:
            continue
    raise InvalidTag()


def wrap_digest_key(key: bytes, digest_key: bytes) -> str:
    """The check value stored in the store: the digest key sealed under the secret key."""
    return seal_with(key, CHECK_NAME, digest_key)


def unwrap_digest_key(key: bytes, check: str) -> bytes | None:
    """The digest key, or None when ``key`` is not the key ``check`` was sealed with."""
    try:
        return open_with([key], CHECK_NAME, check)
    except InvalidTag:
        return None


class Keyring:
    """Seals and opens secret values. ``rotate_to`` swaps the key in place, so every holder follows;
    values sealed under a key this process rotated away from still open (tables reload lazily)."""

    def __init__(self, key: bytes, digest_key: bytes) -> None:
        self._keys = [key]
        self._digest_key = digest_key
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Keyring(keys={len(self._keys)})"

    @property
    def key(self) -> bytes:
        return self._keys[0]

    @property
    def digest_key(self) -> bytes:
        return self._digest_key

    def digest(self, plain: str) -> str:
        """HMAC-SHA256 of ``plain`` under the digest key (base64, unpadded)."""
        mac = hmac.new(self._digest_key, plain.encode(), hashlib.sha256).digest()
        return _b64(mac).rstrip("=")

    def seal(self, name: str, plain: str) -> str:
        return f"{SEALED_PREFIX}{self.digest(plain)}:{seal_with(self.key, name, plain.encode())}"

    def open(self, name: str, sealed: str) -> str:
        """The plain value of ``sealed``; ``SecretKeyInvalid`` when no key of this server opens it."""
        try:
            return open_with(list(self._keys), name, sealed_parts(sealed)[1]).decode()
        except (InvalidTag, ValueError, UnicodeDecodeError) as exc:
            raise SecretKeyInvalid(
                f"the secret {name!r} cannot be opened with this server's secret key: it was sealed "
                "under another key (every node of a cluster needs the same TURNOUT_SECRET_KEY_FILE)"
            ) from exc

    def reseal(self, name: str, sealed: str, key: bytes) -> str:
        """``sealed`` opened with this keyring and sealed again under ``key`` (same digest)."""
        plain = self.open(name, sealed)
        return f"{SEALED_PREFIX}{sealed_parts(sealed)[0]}:{seal_with(key, name, plain.encode())}"

    def seal_environment(
        self,
        environment: Mapping[str, str],
        declared: Iterable[str] = (),
        previous: Mapping[str, str] | None = None,
    ) -> dict[str, str]:
        """``environment`` with every secret value sealed.

        A value already sealed must open with this key (a kept value, e.g. Lambda's ``****`` sent back);
        a plain value equal to the sealed one in ``previous`` keeps that sealed text, so an unchanged
        environment stays equal and deploys stay idempotent.
        """
        declared, previous = frozenset(declared), previous or {}
        sealed: dict[str, str] = {}
        for name, value in environment.items():
            if is_sealed(value):
                self._check_opens(name, value)
                sealed[name] = value
            elif is_secret(name, declared):
                sealed[name] = self._reuse(name, value, previous.get(name)) or self.seal(name, value)
            else:
                sealed[name] = value
        return sealed

    def open_environment(self, environment: Mapping[str, str]) -> dict[str, str]:
        """Every sealed value opened: only where a worker's environment is built or an admin reveals."""
        return {k: self.open(k, v) if is_sealed(v) else v for k, v in environment.items()}

    def rotate_to(self, key: bytes) -> None:
        with self._lock:
            self._keys = [key, *self._keys]

    def _reuse(self, name: str, plain: str, before: str | None) -> str | None:
        if before is not None and is_sealed(before) and sealed_parts(before)[0] == self.digest(plain):
            return before
        return None

    def _check_opens(self, name: str, value: str) -> None:
        try:
            self.open(name, value)
        except SecretKeyInvalid as exc:
            raise InvalidInput(
                f"the value of {name!r} looks like a sealed secret but is not one of this server's; "
                "send the plain value"
            ) from exc
