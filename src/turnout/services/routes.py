"""HTTP routes: method + host + path bound to a function's qualifier (issue 6).

A route records the qualifier it names: an alias (the route follows the alias through moves, splits and
rollbacks), a version number (pinned: the version cannot be deleted while the route exists) or
``$LATEST``. Serving (``gateway/front_door.py``) matches requests against an in-memory
:class:`RouteTable`: this service rebuilds it after every route change it makes, forgets it when any
function changes (a deleted function takes its routes along), and :meth:`RouteService.peek` treats it as
stale after ``cache_seconds`` so that routes changed on another node are seen within that time; serving
keeps answering from a stale table while it is read again in the background (:meth:`serving`).
"""

from __future__ import annotations

import threading
import time

from turnout.clock import Clock
from turnout.domain.names import LATEST, Qualifier, parse_qualifier
from turnout.domain.route_table import (
    Route,
    RouteTable,
    Segment,
    check_host,
    check_method,
    check_token,
    parse_path,
    shape,
)
from turnout.errors import (
    AliasNotFound,
    Conflict,
    InvalidInput,
    RouteConflict,
    RouteNotFound,
    VersionNotFound,
)
from turnout.services.changes import ROUTES, ChangeFeed
from turnout.services.functions import load_function
from turnout.store import Store
from turnout.store.routes import RouteRecord

CACHE_SECONDS = 2.0


class RouteService:
    def __init__(
        self, store: Store, clock: Clock, changes: ChangeFeed, cache_seconds: float = CACHE_SECONDS
    ) -> None:
        self.store, self.clock, self.changes = store, clock, changes
        self.cache_seconds = cache_seconds
        self._table: RouteTable | None = None
        self._loaded_at = 0.0
        self._lock = threading.Lock()
        self._reloading = False  # a background reload of a stale table is under way (see serving())
        changes.subscribe(self._function_changed)
        changes.subscribe(self._function_changed, ROUTES)  # a route made or removed on any node

    def __repr__(self) -> str:
        return f"RouteService({self.store!r})"

    def add(
        self,
        method: str | None,
        path: str,
        function_name: str,
        qualifier: str | None,
        host: str | None = None,
        sticky_cookie: str | None = None,
        sticky_header: str | None = None,
        actor: str = "",
        queued: bool = False,
    ) -> RouteRecord:
        """A new route; RouteConflict when one with the same method, host and path shape exists."""
        method = check_method(method)
        host = check_host(host)
        segments = parse_path(path)
        cookie = check_token("cookie", sticky_cookie)
        header = check_token("header", sticky_header)
        if cookie is not None and header is not None:
            raise InvalidInput("a route is sticky by a cookie or by a header, not both")
        parsed = parse_qualifier(qualifier)
        try:
            record = self._insert(
                method, host, path, segments, function_name, parsed, cookie, header, actor, queued
            )
        except RouteConflict:
            raise
        except Conflict:  # the unique constraint: the same route was added at the same moment
            with self.store.read() as tx:
                existing = tx.routes.find(method, host, shape(segments))
            if existing is None:
                raise
            raise _conflict(existing, method, host, path) from None
        self.reload()
        return record

    def _insert(
        self,
        method: str,
        host: str,
        path: str,
        segments: tuple[Segment, ...],
        function_name: str,
        parsed: Qualifier,
        cookie: str | None,
        header: str | None,
        actor: str,
        queued: bool,
    ) -> RouteRecord:
        with self.store.write() as tx:
            function = load_function(tx, function_name, lock=True)
            if parsed.alias is not None and tx.aliases.get(function.id, parsed.alias) is None:
                raise AliasNotFound(f"function {function.name!r} has no alias {parsed.alias!r}")
            if parsed.version is not None and tx.versions.get(function.id, parsed.version) is None:
                raise VersionNotFound(f"function {function.name!r} has no version {parsed.version}")
            existing = tx.routes.find(method, host, shape(segments))
            if existing is not None:
                raise _conflict(existing, method, host, path)
            route_id = tx.routes.insert(
                function.id,
                str(parsed),
                method,
                host,
                path,
                shape(segments),
                cookie,
                header,
                actor,
                self.clock(),
                queued,
            )
            record = tx.routes.get(route_id)
            tx.announce("*", ROUTES)
        assert record is not None
        return record

    def list(self, function_name: str | None = None) -> list[RouteRecord]:
        with self.store.read() as tx:
            function_id = None if function_name is None else load_function(tx, function_name).id
            return tx.routes.list(function_id)

    def get(self, route_id: int) -> RouteRecord:
        with self.store.read() as tx:
            found = tx.routes.get(route_id)
        if found is None:
            raise RouteNotFound(f"there is no route with id {route_id}", route_id=route_id)
        return found

    def remove(self, route_id: int) -> None:
        with self.store.write() as tx:
            if not tx.routes.delete(route_id):
                raise RouteNotFound(f"there is no route with id {route_id}", route_id=route_id)
            tx.announce("*", ROUTES)
        self.reload()

    # -- serving ----------------------------------------------------------------------------------------

    def peek(self) -> RouteTable | None:
        """The route table if it is fresh, else None: never reads the store (safe on the event loop)."""
        table = self._table
        if table is None or time.monotonic() - self._loaded_at > self.cache_seconds:
            return None
        return table

    def serving(self) -> tuple[RouteTable | None, bool]:
        """(table to serve, whether to re-read it in the background) without reading the store.

        A table older than ``cache_seconds`` is still served while :meth:`reload` runs elsewhere
        (stale-while-revalidate: routes changed on another node show within one reload of that age); a
        table the change feed invalidated (a function changed or went) is not: (None, False), read it
        first. True comes back once per stale period, to the caller that should start the reload.
        """
        with self._lock:
            table, loaded_at = self._table, self._loaded_at
            if table is None or loaded_at == 0.0:
                return None, False
            if self._reloading or time.monotonic() - loaded_at <= self.cache_seconds:
                return table, False
            self._reloading = True
            return table, True

    def table(self) -> RouteTable:
        """The route table, read again from the store when it is stale."""
        return self.peek() or self.reload()

    def reload(self) -> RouteTable:
        started = time.monotonic()
        try:
            with self.store.read() as tx:
                records = tx.routes.list()
        finally:
            with self._lock:
                self._reloading = False  # a failed background reload is tried again by the next request
        table = RouteTable(route(r) for r in records)
        with self._lock:
            if started >= self._loaded_at:
                self._table, self._loaded_at = table, started
        return table

    def _function_changed(self, _: str) -> None:
        """A ChangeFeed subscriber: a function changed or went (and its routes with it): read again."""
        with self._lock:
            self._loaded_at = 0.0


def _conflict(existing: RouteRecord, method: str, host: str, path: str) -> RouteConflict:
    return RouteConflict(
        f"{existing.label} (id {existing.id}, to {existing.function}:{existing.qualifier}) "
        f"already matches the requests of {method} {host}{path}; remove it first",
        route_id=existing.id,
    )


def route(record: RouteRecord) -> Route:
    """The table's view of a stored route."""
    return Route.of(
        record.id,
        record.method,
        record.host,
        record.path,
        record.function,
        record.qualifier,
        record.sticky_cookie,
        record.sticky_header,
        record.queued,
    )


def invoke_qualifier(qualifier: str) -> str | None:
    """The qualifier to invoke with: None for $LATEST (so the invoked ARN is unqualified)."""
    return None if qualifier == LATEST else qualifier
