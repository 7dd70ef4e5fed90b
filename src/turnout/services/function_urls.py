"""Function URLs: an HTTP endpoint bound to a function's alias (or $LATEST).

A URL config names a qualifier, never a version: the URL follows its alias wherever the alias moves
(and splits traffic as the alias does), which is what Lambda allows too. Each config gets a random
32-character url id, the part of the URL that serving looks up; ids are never reused.

Serving resolves the url id on every request, so :meth:`FunctionUrlService.resolve` keeps what it read
for ``cache_seconds``. Changes through this service forget the entry at once on this node; other
nodes (and deleting the whole function, unless ``changes`` is given) see the change when the entry
runs out.
"""

from __future__ import annotations

import secrets
import string
import threading
import time
from dataclasses import dataclass
from typing import Any

from turnout.clock import Clock
from turnout.domain.http_event import Cors
from turnout.domain.names import LATEST, parse_qualifier
from turnout.errors import AliasNotFound, AlreadyExists, InvalidInput, NotFound
from turnout.services.changes import ChangeFeed
from turnout.services.functions import load_function
from turnout.store import Store, Tx
from turnout.store.function_urls import FunctionUrlRecord

AUTH_TYPES = ("NONE", "AWS_IAM")
BUFFERED, RESPONSE_STREAM = "BUFFERED", "RESPONSE_STREAM"
URL_ID_ALPHABET = string.ascii_lowercase + string.digits
URL_ID_LENGTH = 32
MAX_PAGE = 50
CACHE_SECONDS = 2.0


@dataclass(frozen=True)
class ResolvedUrl:
    """What serving needs to know about a url id."""

    url_id: str
    function: str
    qualifier: str
    auth_type: str
    cors: Cors | None

    @property
    def invoke_qualifier(self) -> str | None:
        """The qualifier to invoke with: None for $LATEST (so the invoked ARN is unqualified)."""
        return None if self.qualifier == LATEST else self.qualifier


def new_url_id() -> str:
    """A random url id: 32 lowercase letters and digits, like Lambda's (about 165 bits)."""
    return "".join(secrets.choice(URL_ID_ALPHABET) for _ in range(URL_ID_LENGTH))


def url_qualifier(text: str | None) -> str:
    """The stored qualifier of a URL config: an alias name or ``$LATEST`` (none given); a version number
    is refused, as Lambda refuses it.

    >>> url_qualifier(None), url_qualifier("prod")
    ('$LATEST', 'prod')
    """
    parsed = parse_qualifier(text)
    if parsed.version is not None:
        raise InvalidInput(
            f"a function URL is bound to an alias or $LATEST, not to version {parsed.version}: "
            "point an alias at the version and use the alias"
        )
    return str(parsed)


def check_auth_type(auth_type: str) -> str:
    if auth_type not in AUTH_TYPES:
        raise InvalidInput(f"AuthType is NONE or AWS_IAM, not {auth_type!r}")
    return auth_type


def check_invoke_mode(invoke_mode: str | None) -> str:
    if invoke_mode is None or invoke_mode == BUFFERED:
        return BUFFERED
    if invoke_mode == RESPONSE_STREAM:
        raise InvalidInput("InvokeMode RESPONSE_STREAM is not supported by Turnout: use BUFFERED")
    raise InvalidInput(f"InvokeMode is BUFFERED, not {invoke_mode!r}")


def cors_json(cors: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if cors is None else Cors.from_json(cors).to_json()


class FunctionUrlService:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        changes: ChangeFeed | None = None,
        cache_seconds: float = CACHE_SECONDS,
    ) -> None:
        self.store, self.clock = store, clock
        self.cache_seconds = cache_seconds
        self._cache: dict[str, tuple[ResolvedUrl, float]] = {}
        self._lock = threading.Lock()
        if changes is not None:
            changes.subscribe(self.forget_function)

    def __repr__(self) -> str:
        return f"FunctionUrlService({self.store!r})"

    def create(
        self,
        function_name: str,
        qualifier: str | None,
        auth_type: str,
        cors: dict[str, Any] | None = None,
        invoke_mode: str | None = None,
    ) -> FunctionUrlRecord:
        """A new URL config for an existing alias or $LATEST; one per qualifier."""
        stored_qualifier = url_qualifier(qualifier)
        values = (check_auth_type(auth_type), cors_json(cors), check_invoke_mode(invoke_mode))
        with self.store.write() as tx:
            function = load_function(tx, function_name, lock=True)
            if stored_qualifier != LATEST and tx.aliases.get(function.id, stored_qualifier) is None:
                raise AliasNotFound(f"function {function.name!r} has no alias {stored_qualifier!r}")
            if tx.function_urls.get(function.id, stored_qualifier) is not None:
                raise AlreadyExists(
                    f"function {function.name!r} already has a function URL for {stored_qualifier}",
                    function=function.name,
                    qualifier=stored_qualifier,
                )
            tx.function_urls.insert(function.id, stored_qualifier, new_url_id(), *values, self.clock())
            return _found(tx, function.id, function.name, stored_qualifier)

    def get(self, function_name: str, qualifier: str | None) -> FunctionUrlRecord:
        stored_qualifier = url_qualifier(qualifier)
        with self.store.read() as tx:
            function = load_function(tx, function_name)
            return _found(tx, function.id, function.name, stored_qualifier)

    def update(
        self,
        function_name: str,
        qualifier: str | None,
        auth_type: str | None = None,
        cors: dict[str, Any] | None = None,
        invoke_mode: str | None = None,
    ) -> FunctionUrlRecord:
        """Change the auth type, CORS settings or invoke mode; ``None`` keeps the current value."""
        stored_qualifier = url_qualifier(qualifier)
        new_auth = None if auth_type is None else check_auth_type(auth_type)
        new_cors = cors_json(cors)
        new_mode = None if invoke_mode is None else check_invoke_mode(invoke_mode)
        with self.store.write() as tx:
            function = load_function(tx, function_name, lock=True)
            current = _found(tx, function.id, function.name, stored_qualifier)
            tx.function_urls.update(
                function.id,
                stored_qualifier,
                new_auth or current.auth_type,
                current.cors if cors is None else new_cors,
                new_mode or current.invoke_mode,
                self.clock(),
            )
            updated = _found(tx, function.id, function.name, stored_qualifier)
            tx.announce(function.name)  # every node forgets the cached resolution
        return updated

    def delete(self, function_name: str, qualifier: str | None) -> None:
        stored_qualifier = url_qualifier(qualifier)
        with self.store.write() as tx:
            function = load_function(tx, function_name, lock=True)
            _found(tx, function.id, function.name, stored_qualifier)
            tx.function_urls.delete(function.id, stored_qualifier)
            tx.announce(function.name)

    def list(
        self, function_name: str, marker: str | None = None, max_items: int | None = None
    ) -> tuple[list[FunctionUrlRecord], str | None]:
        """(configs, next marker): a page of the function's URL configs, ordered by qualifier."""
        limit = MAX_PAGE if max_items is None else max_items
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidInput(f"MaxItems must be from 1 to {MAX_PAGE}, not {limit}")
        with self.store.read() as tx:
            function = load_function(tx, function_name)
            page = tx.function_urls.list(function.id, marker or None, limit + 1)
        if len(page) > limit:
            return page[:limit], page[limit - 1].qualifier
        return page, None

    def peek(self, url_id: str) -> ResolvedUrl | None:
        """The cached resolution of a url id, or None: never reads the store (safe on the event loop)."""
        cached = self._cache.get(url_id)
        return cached[0] if cached is not None and cached[1] > time.monotonic() else None

    def resolve(self, url_id: str) -> ResolvedUrl:
        """The function and qualifier behind a url id, for serving (cached ``cache_seconds``)."""
        now = time.monotonic()
        cached = self._cache.get(url_id)
        if cached is not None and cached[1] > now:
            return cached[0]
        if len(url_id) != URL_ID_LENGTH or not all(c in URL_ID_ALPHABET for c in url_id):
            raise NotFound(f"no function URL has the id {url_id!r}")
        with self.store.read() as tx:
            record = tx.function_urls.by_url_id(url_id)
        if record is None:
            raise NotFound(f"no function URL has the id {url_id!r}")
        cors = None if record.cors is None else Cors.from_json(record.cors)
        found = ResolvedUrl(url_id, record.function, record.qualifier, record.auth_type, cors)
        if self.cache_seconds > 0:
            with self._lock:
                self._cache[url_id] = (found, now + self.cache_seconds)
        return found

    def forget(self, url_id: str) -> None:
        with self._lock:
            self._cache.pop(url_id, None)

    def forget_function(self, function_name: str) -> None:
        """A :class:`ChangeFeed` subscriber: drop every cached URL of a function that changed (or went;
        ``*``: every function)."""
        with self._lock:
            if function_name == "*":
                self._cache.clear()
            for url_id in [k for k, (v, _) in self._cache.items() if v.function == function_name]:
                del self._cache[url_id]


def _found(tx: Tx, function_id: int, function: str, qualifier: str) -> FunctionUrlRecord:
    record = tx.function_urls.get(function_id, qualifier)
    if record is None:
        where = "" if qualifier == LATEST else f" for alias {qualifier!r}"
        raise NotFound(f"function {function!r} has no function URL{where}", function=function)
    return record
