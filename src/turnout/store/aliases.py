"""Rows of aliases, the versions each routes to, and their change history."""

from __future__ import annotations

import builtins
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, delete, select

from turnout.domain.alias import Alias, AliasAction, AliasChange
from turnout.domain.routing import Route, Routing
from turnout.store.rows import utc
from turnout.store.schema import alias_history, alias_routes, aliases


class AliasRows:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def get(self, function_id: int, name: str) -> Alias | None:
        found = self._load(function_id, name)
        return found[0] if found else None

    def list(self, function_id: int) -> builtins.list[Alias]:
        return self._load(function_id, None)

    def _load(self, function_id: int, name: str | None) -> builtins.list[Alias]:
        """Aliases with their routes, in one statement so both come from the same snapshot."""
        joined = aliases.join(
            alias_routes,
            (alias_routes.c.function_id == aliases.c.function_id)
            & (alias_routes.c.alias_name == aliases.c.name),
        )
        query = (
            select(aliases, alias_routes.c.version, alias_routes.c.weight_bp)
            .select_from(joined)
            .where(aliases.c.function_id == function_id)
            .order_by(aliases.c.name, alias_routes.c.id)
        )
        if name is not None:
            query = query.where(aliases.c.name == name)
        rows: dict[str, Any] = {}
        routes: dict[str, builtins.list[Route]] = defaultdict(list)
        for row in self.conn.execute(query).mappings():
            rows.setdefault(row["name"], row)
            routes[row["name"]].append(Route(row["version"], row["weight_bp"]))
        return [_alias(row, Routing(tuple(routes[alias]))) for alias, row in rows.items()]

    def references(self, function_id: int) -> dict[int, builtins.list[str]]:
        """version -> names of the aliases that route to it."""
        query = select(alias_routes.c.version, alias_routes.c.alias_name).where(
            alias_routes.c.function_id == function_id, alias_routes.c.version.is_not(None)
        )
        found: dict[int, builtins.list[str]] = defaultdict(list)
        for row in self.conn.execute(query).mappings():
            found[int(row["version"])].append(str(row["alias_name"]))
        return {v: sorted(names) for v, names in found.items()}

    def save(self, alias: Alias, exists: bool) -> None:
        """Insert or replace an alias and its routes."""
        values = {
            "description": alias.description,
            "settings": dict(alias.settings),
            "secret_keys": sorted(alias.secret_keys),
            "revision_id": alias.revision_id,
            "updated_at": alias.updated_at,
        }
        if exists:
            self.conn.execute(
                aliases.update()
                .where(aliases.c.function_id == alias.function_id, aliases.c.name == alias.name)
                .values(**values)
            )
            self._delete_routes(alias.function_id, alias.name)
        else:
            self.conn.execute(
                aliases.insert().values(
                    function_id=alias.function_id, name=alias.name, created_at=alias.created_at, **values
                )
            )
        self.conn.execute(
            alias_routes.insert(),
            [
                {
                    "function_id": alias.function_id,
                    "alias_name": alias.name,
                    "version": route.version,
                    "weight_bp": route.weight_bp,
                }
                for route in alias.routing.routes
            ],
        )

    def delete(self, function_id: int, name: str) -> None:
        self._delete_routes(function_id, name)
        self.conn.execute(delete(aliases).where(aliases.c.function_id == function_id, aliases.c.name == name))

    def _delete_routes(self, function_id: int, name: str) -> None:
        self.conn.execute(
            delete(alias_routes).where(
                alias_routes.c.function_id == function_id, alias_routes.c.alias_name == name
            )
        )

    def record(self, function_id: int, change: AliasChange) -> None:
        self.conn.execute(
            alias_history.insert().values(
                function_id=function_id,
                alias_name=change.alias,
                action=change.action.value,
                before=None if change.before is None else change.before.to_json(),
                after=None if change.after is None else change.after.to_json(),
                actor=change.actor,
                reason=change.reason,
                details=dict(change.details),
                at=change.at,
            )
        )

    def history(self, function_id: int, name: str, limit: int = 100) -> builtins.list[AliasChange]:
        """The alias's changes, newest first."""
        query = (
            select(alias_history)
            .where(alias_history.c.function_id == function_id, alias_history.c.alias_name == name)
            .order_by(alias_history.c.id.desc())
            .limit(limit)
        )
        return [_change(r) for r in self.conn.execute(query).mappings()]


def _alias(row: Mapping[Any, Any], routing: Routing) -> Alias:
    return Alias(
        function_id=row["function_id"],
        name=row["name"],
        routing=routing,
        description=row["description"],
        settings=dict(row["settings"]),
        secret_keys=frozenset(row["secret_keys"]),
        revision_id=row["revision_id"],
        created_at=utc(row["created_at"]),
        updated_at=utc(row["updated_at"]),
    )


def _change(row: Mapping[Any, Any]) -> AliasChange:
    return AliasChange(
        id=row["id"],
        alias=row["alias_name"],
        action=AliasAction(row["action"]),
        before=None if row["before"] is None else Routing.from_json(row["before"]),
        after=None if row["after"] is None else Routing.from_json(row["after"]),
        actor=row["actor"],
        reason=row["reason"],
        details=dict(row["details"]),
        at=utc(row["at"]),
    )
