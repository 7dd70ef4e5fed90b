"""A fresh PostgreSQL schema per test, so tests never see each other's rows."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from tests.support import POSTGRES_URL

# Not UTC on purpose: nothing in the store may depend on the database session's time zone.
SESSION_TIMEZONE = "Asia/Kolkata"


@contextmanager
def postgres_schema(timezone: str | None = SESSION_TIMEZONE) -> Iterator[str]:
    """Create schema ``t_<uuid>``, yield a URL whose connections work in it, drop it afterwards.

    Fails (never skips) when PostgreSQL is unreachable: CI starts it, so a missing server is a bug.
    """
    schema = f"t_{uuid.uuid4().hex}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        try:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        except OperationalError as exc:
            pytest.fail(f"PostgreSQL at {POSTGRES_URL} is unreachable ({exc.orig}); start it, CI does")
        options = f"-csearch_path={schema}" + (f" -ctimezone={timezone}" if timezone else "")
        url = make_url(POSTGRES_URL).update_query_dict({"options": options})
        try:
            yield url.render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        admin.dispose()
