"""Console sessions: a sealed cookie that holds the Turnout token someone signed in with, and the CSRF
token of their forms.

The cookie is ``base64url(nonce + AES-GCM(key, json))``: the JSON holds the token, a random session id and
when it was issued, sealed so the browser can neither read the token nor change anything in it. The token
is authenticated again on every request (a deleted token ends its sessions at once), so the cookie adds no
authority of its own. The key is 32 random bytes in ``DATA_DIR/console-key`` (mode 0600), made at first
use; deleting it signs everyone out.

Forms carry ``csrf = hmac(sha256("turnout-console-csrf:" + key), session id)``: a page of another site can
neither read it nor send the cookie (``SameSite=Strict``); a post without the right value gets 403.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

COOKIE = "turnout_console"
_AAD = b"turnout-console-session"
MAX_AGE_S = 12 * 3600  # a session lasts a working day; the token itself may be revoked sooner


@dataclass(frozen=True)
class Session:
    """One signed-in browser: the token it signed in with, its id (the CSRF seed), when it began."""

    token: str
    sid: str
    issued: float

    def __repr__(self) -> str:
        return f"Session(sid={self.sid[:6]}…, issued={self.issued:.0f})"  # never the token


class Signer:
    """Seals and opens session cookies, and makes and checks CSRF tokens, with the key in the data folder."""

    def __init__(self, key: bytes) -> None:
        self.key = key  # seals cookies; the CSRF tokens use a key derived from it
        self._csrf_key = hashlib.sha256(b"turnout-console-csrf:" + key).digest()

    @classmethod
    def from_file(cls, path: Path) -> Signer:
        return cls(load_key(path))

    def issue(self, token: str, now: float) -> str:
        """The cookie value of a new session for ``token``."""
        payload = json.dumps({"t": token, "s": secrets.token_urlsafe(16), "i": int(now)}).encode()
        nonce = secrets.token_bytes(12)
        return _b64(nonce + AESGCM(self.key).encrypt(nonce, payload, _AAD))

    def read(self, cookie: str | None, now: float) -> Session | None:
        """The session of a cookie, or None when it is missing, forged or older than :data:`MAX_AGE_S`."""
        if not cookie or len(cookie) > 4096:
            return None
        try:
            sealed = _unb64(cookie)
            data = json.loads(AESGCM(self.key).decrypt(sealed[:12], sealed[12:], _AAD))
            session = Session(str(data["t"]), str(data["s"]), float(data["i"]))
        except (ValueError, KeyError, TypeError, binascii.Error, InvalidTag):
            return None
        return session if 0 <= now - session.issued <= MAX_AGE_S else None

    def csrf(self, session: Session) -> str:
        return _b64(hmac.new(self._csrf_key, session.sid.encode(), hashlib.sha256).digest())

    def csrf_ok(self, session: Session, given: str | None) -> bool:
        return bool(given) and hmac.compare_digest(str(given), self.csrf(session))


def load_key(path: Path) -> bytes:
    """The signing key in ``path``, made (32 random bytes, mode 0600) when the file does not exist."""
    try:
        return bytes.fromhex(path.read_text().strip())
    except FileNotFoundError:
        pass
    key = secrets.token_bytes(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first
        return bytes.fromhex(path.read_text().strip())
    try:
        os.write(fd, key.hex().encode() + b"\n")
    finally:
        os.close(fd)
    return key


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
