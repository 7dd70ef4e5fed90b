"""API tokens: the admin token made at first start, scoped tokens, and authentication."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import secrets
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from turnout.clock import Clock
from turnout.errors import (
    AlreadyExists,
    Forbidden,
    InvalidInput,
    InvalidName,
    StoreUnavailable,
    TokenNotFound,
    Unauthorized,
)
from turnout.services.changes import TOKENS
from turnout.store import Store

log = logging.getLogger(__name__)

SCOPES = ("admin", "deploy", "invoke", "read")
ADMIN = "admin"
_IMPLIES = {"admin": set(SCOPES), "deploy": {"deploy", "read"}, "invoke": {"invoke"}, "read": {"read"}}
_TOKEN_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")


@dataclass(frozen=True)
class Principal:
    """Who is calling, and what they may do."""

    name: str
    scopes: frozenset[str]

    @cached_property
    def granted(self) -> frozenset[str]:
        """Its scopes and those they imply (``admin`` implies all)."""
        return frozenset(implied for s in self.scopes for implied in _IMPLIES[s])

    def allows(self, scope: str) -> bool:
        return scope in self.granted

    def require(self, scope: str) -> None:
        if not self.allows(scope):
            raise Forbidden(
                f"token {self.name!r} has scopes {', '.join(sorted(self.scopes))}; this needs {scope!r}",
                needed=scope,
            )


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenService:
    def __init__(self, store: Store, clock: Clock, cache_seconds: float = 0) -> None:
        self.store, self.clock = store, clock
        self.cache_seconds = cache_seconds
        self._cache: dict[str, tuple[Principal, float]] = {}

    def ensure_admin(self, path: Path) -> None:
        """Make the admin token at first start and keep it in ``path`` (mode 0600)."""
        with self.store.write() as tx:
            if tx.tokens.by_name(ADMIN) is not None:
                if not path.exists():
                    log.warning("admin token exists in the store but %s is missing", path)
                return
            token = path.read_text().strip() if path.exists() else "tt_" + secrets.token_urlsafe(32)
            tx.tokens.insert(ADMIN, _hash(token), frozenset({ADMIN}), self.clock())
            if not path.exists():
                _write_private(path, token)

    def authenticate(self, token: str | None) -> Principal:
        """Who holds ``token``; a valid token is trusted for ``cache_seconds`` without a store read, and
        for as long as the store is unavailable (deleting a token clears every node's cache)."""
        if not token:
            raise Unauthorized("this needs an API token: send 'Authorization: Bearer <token>'")
        now = time.monotonic()
        cached = self._cache.get(token)  # keyed by the token itself: a hit needs no sha256
        if cached is not None and cached[1] > now:
            return cached[0]
        try:
            with self.store.read() as tx:
                record = tx.tokens.by_hash(_hash(token))
        except StoreUnavailable:
            if cached is not None:  # the store is down: a token known good keeps working meanwhile
                return cached[0]
            raise
        if record is None:
            raise Unauthorized("the API token is not valid (unknown or deleted)")
        principal = Principal(record.name, record.scopes)
        if self.cache_seconds > 0:
            self._cache[token] = (principal, now + self.cache_seconds)
        return principal

    def create(self, name: str, scopes: frozenset[str]) -> str:
        """Make a token and return it; only its hash is kept, so it is shown once."""
        if not _TOKEN_NAME.fullmatch(name):
            raise InvalidName(f"invalid token name {name!r}: use 1-64 letters, digits, '.', '-' or '_'")
        unknown = scopes - set(SCOPES)
        if not scopes or unknown:
            raise InvalidInput(f"scopes must be some of {', '.join(SCOPES)}; got {sorted(scopes)}")
        token = "tt_" + secrets.token_urlsafe(32)
        with self.store.write() as tx:
            if tx.tokens.by_name(name) is not None:
                raise AlreadyExists(f"a token named {name!r} exists; delete it first or pick another name")
            tx.tokens.insert(name, _hash(token), scopes, self.clock())
        return token

    def list(self) -> list[tuple[str, frozenset[str]]]:
        with self.store.read() as tx:
            return [(r.name, r.scopes) for r in tx.tokens.list()]

    def delete(self, name: str) -> None:
        if name == ADMIN:
            raise InvalidInput("the admin token cannot be deleted")
        with self.store.write() as tx:
            if tx.tokens.by_name(name) is None:
                raise TokenNotFound(f"no token named {name!r}")
            tx.tokens.delete(name)
            tx.announce(name, TOKENS)

    def forget(self, _: str = "*") -> None:
        """A :class:`ChangeFeed` subscriber: a token was deleted (on any node): trust none from the cache."""
        self._cache.clear()


def _write_private(path: Path, token: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token + "\n")
