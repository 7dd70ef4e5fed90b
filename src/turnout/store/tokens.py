"""Rows of API tokens. Only a token's sha256 is stored."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, select

from turnout.store.rows import utc
from turnout.store.schema import tokens


@dataclass(frozen=True)
class TokenRecord:
    name: str
    scopes: frozenset[str]
    created_at: datetime


class TokenRows:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def by_hash(self, token_hash: str) -> TokenRecord | None:
        row = self.conn.execute(select(tokens).where(tokens.c.token_hash == token_hash)).mappings().first()
        return None if row is None else _record(row)

    def by_name(self, name: str) -> TokenRecord | None:
        row = self.conn.execute(select(tokens).where(tokens.c.name == name)).mappings().first()
        return None if row is None else _record(row)

    def list(self) -> list[TokenRecord]:
        return [_record(r) for r in self.conn.execute(select(tokens).order_by(tokens.c.name)).mappings()]

    def insert(self, name: str, token_hash: str, scopes: frozenset[str], now: datetime) -> None:
        self.conn.execute(
            tokens.insert().values(name=name, token_hash=token_hash, scopes=sorted(scopes), created_at=now)
        )

    def delete(self, name: str) -> None:
        self.conn.execute(delete(tokens).where(tokens.c.name == name))


def _record(row: object) -> TokenRecord:
    r = dict(row)  # type: ignore[call-overload]
    return TokenRecord(name=r["name"], scopes=frozenset(r["scopes"]), created_at=utc(r["created_at"]))
