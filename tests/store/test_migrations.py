"""Alembic creates exactly the tables of turnout.store.schema; migrating again is a no-op."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, select

from turnout.store import Store, open_store
from turnout.store import store as store_module
from turnout.store.schema import metadata, tokens


def _heads() -> list[str]:
    """The newest revision of every branch of the migration history (the store migrates to all)."""
    config = Config()
    config.set_main_option("script_location", str(Path(store_module.__file__).parent / "migrations"))
    return sorted(ScriptDirectory.from_config(config).get_heads())


def _differences(store: Store) -> list[Any]:
    with store.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        return list(compare_metadata(context, metadata))


def _heads() -> list[str]:
    from pathlib import Path

    from alembic.config import Config
    from alembic.script import ScriptDirectory

    import turnout.store

    config = Config()
    config.set_main_option("script_location", str(Path(turnout.store.__file__).parent / "migrations"))
    return list(ScriptDirectory.from_config(config).get_heads())


def _shape(store: Store) -> dict[str, Any]:
    with store.engine.connect() as conn:
        inspector = inspect(conn)
        revision = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars().all()
        return {
            "revision": revision,
            **{
                table: (
                    [(c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)],
                    sorted(i["name"] for i in inspector.get_indexes(table)),
                    sorted(str(fk["constrained_columns"]) for fk in inspector.get_foreign_keys(table)),
                )
                for table in sorted(inspector.get_table_names())
            },
        }


def test_the_migrated_database_matches_the_schema_exactly(backend: Store) -> None:
    assert _differences(backend) == []
    with backend.engine.connect() as conn:
        tables = set(inspect(conn).get_table_names())
    assert tables == set(metadata.tables) | {"alembic_version"}


def test_the_comparison_would_see_a_drifted_schema(backend: Store) -> None:
    with backend.engine.begin() as conn:
        conn.exec_driver_sql("DROP INDEX ix_alias_routes_version")
    differences = _differences(backend)
    assert [d[0] for d in differences] == ["add_index"]
    assert differences[0][1].name == "ix_alias_routes_version"


def test_migrating_twice_is_a_no_op(backend: Store) -> None:
    with backend.write() as tx:
        tx.tokens.insert("ci", "a" * 64, frozenset({"deploy"}), datetime(2024, 1, 1, tzinfo=UTC))
    before = _shape(backend)
    assert sorted(before["revision"]) == sorted(_heads())  # every branch of the history is applied

    backend.migrate()
    reopened = open_store(backend.engine.url.render_as_string(hide_password=False))
    try:
        for store in (backend, reopened):
            assert _shape(store) == before
            assert _differences(store) == []
            with store.read() as tx:
                assert tx.conn.execute(select(tokens.c.name)).scalars().all() == ["ci"]
    finally:
        reopened.close()
