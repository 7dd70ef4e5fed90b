"""Concurrency settings: provisioned (warm workers kept for an alias or a version) and reserved (a
function's own limit of concurrent invocations per node, in place of TURNOUT_FUNCTION_CONCURRENCY)."""

from __future__ import annotations

from turnout.clock import Clock
from turnout.domain.names import parse_qualifier
from turnout.errors import AliasNotFound, InvalidInput, VersionNotFound
from turnout.services.changes import ChangeFeed
from turnout.services.functions import load_function
from turnout.store import Store

MAX_WORKERS = 1000
MAX_RESERVED = 10_000


class ProvisioningService:
    def __init__(
        self, store: Store, clock: Clock, changes: ChangeFeed, max_workers: int = MAX_WORKERS
    ) -> None:
        self.store, self.clock, self.changes = store, clock, changes
        self.max_workers = max_workers

    def set(self, function_name: str, qualifier: str, workers: int) -> dict[str, int]:
        """Keep ``workers`` warm for the alias or version (0 removes the setting). Returns them all."""
        parsed = parse_qualifier(qualifier)
        if parsed.is_latest:
            raise InvalidInput("provisioned concurrency needs an alias or a version, not $LATEST")
        if not 0 <= workers <= self.max_workers:
            raise InvalidInput(f"workers must be from 0 to {self.max_workers}, got {workers}")
        with self.store.write() as tx:
            function = load_function(tx, function_name, lock=True)
            if parsed.alias is not None and tx.aliases.get(function.id, parsed.alias) is None:
                raise AliasNotFound(f"function {function_name!r} has no alias {parsed.alias!r}")
            if parsed.version is not None and tx.versions.get(function.id, parsed.version) is None:
                raise VersionNotFound(f"function {function_name!r} has no version {parsed.version}")
            if workers == 0:
                tx.provisioned.remove(function.id, str(parsed))
            else:
                tx.provisioned.put(function.id, str(parsed), workers, self.clock())
            result = tx.provisioned.of(function.id)
            tx.announce(function_name)
        return result

    def get(self, function_name: str) -> dict[str, int]:
        with self.store.read() as tx:
            return tx.provisioned.of(load_function(tx, function_name).id)

    def reserve(self, function_name: str, limit: int | None) -> int | None:
        """Set (or, with None, clear) the function's reserved concurrency; 0 stops its invocations."""
        if limit is not None and not 0 <= limit <= MAX_RESERVED:
            raise InvalidInput(f"reserved concurrency must be from 0 to {MAX_RESERVED}, got {limit}")
        with self.store.write() as tx:
            function = load_function(tx, function_name, lock=True)
            tx.functions.set_reserved_concurrency(function.id, limit, self.clock())
            tx.announce(function_name)
        return limit

    def reserved(self, function_name: str) -> int | None:
        with self.store.read() as tx:
            return load_function(tx, function_name).reserved_concurrency

    def function_names(self) -> list[str]:
        with self.store.read() as tx:
            return tx.provisioned.function_names()
