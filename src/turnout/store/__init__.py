"""Metadata store on SQLAlchemy Core: SQLite (WAL) by default, PostgreSQL by URL."""

from turnout.store.store import Store, Tx, open_store

__all__ = ["Store", "Tx", "open_store"]
