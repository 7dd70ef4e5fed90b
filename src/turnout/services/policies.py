"""Resource-policy statements (Lambda's AddPermission, GetPolicy, RemovePermission) per function
qualifier. Stored and echoed so tools that manage them see what they wrote; they grant nothing in
Turnout, where the caller's token decides what it may do."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from turnout.clock import Clock
from turnout.domain.names import parse_qualifier
from turnout.errors import AliasNotFound, Conflict, NotFound, VersionNotFound
from turnout.services.functions import check_revision, load_function
from turnout.store import Store, Tx


@dataclass(frozen=True)
class Policy:
    statements: list[dict[str, Any]]
    revision_id: str


class PolicyService:
    def __init__(self, store: Store, clock: Clock) -> None:
        self.store, self.clock = store, clock

    def add(
        self,
        function_name: str,
        qualifier: str | None,
        statement_id: str,
        statement: dict[str, Any],
        revision_id: str | None = None,
    ) -> None:
        """Add a statement; its id must be new for the qualifier."""
        with self.store.write() as tx:
            function_id, key, current = _target(tx, function_name, qualifier, lock=True)
            check_revision("function", revision_id, current)
            if statement_id in tx.policies.of(function_id, key):
                raise Conflict(
                    f"The statement id ({statement_id}) provided already exists. Please provide a new "
                    "statement id, or remove the existing statement."
                )
            tx.policies.add(function_id, key, statement_id, statement, self.clock())

    def get(self, function_name: str, qualifier: str | None) -> Policy:
        with self.store.read() as tx:
            function_id, key, revision = _target(tx, function_name, qualifier)
            statements = list(tx.policies.of(function_id, key).values())
        if not statements:
            raise NotFound("The resource you requested does not exist.")
        return Policy(statements, revision)

    def remove(
        self, function_name: str, qualifier: str | None, statement_id: str, revision_id: str | None = None
    ) -> None:
        with self.store.write() as tx:
            function_id, key, current = _target(tx, function_name, qualifier, lock=True)
            check_revision("function", revision_id, current)
            if not tx.policies.remove(function_id, key, statement_id):
                raise NotFound(f"Statement {statement_id} is not found in resource policy.")


def _target(tx: Tx, function_name: str, qualifier: str | None, lock: bool = False) -> tuple[int, str, str]:
    """(function id, stored qualifier, the revision id a RevisionId is checked against)."""
    function = load_function(tx, function_name, lock=lock)
    parsed = parse_qualifier(qualifier)
    if parsed.alias is not None:
        alias = tx.aliases.get(function.id, parsed.alias)
        if alias is None:
            raise AliasNotFound(f"function {function_name!r} has no alias {parsed.alias!r}")
        return function.id, parsed.alias, alias.revision_id
    if parsed.version is not None:
        version = tx.versions.get(function.id, parsed.version)
        if version is None:
            raise VersionNotFound(f"function {function_name!r} has no version {parsed.version}")
        return function.id, str(parsed.version), version.revision_id
    return function.id, "", function.revision_id
