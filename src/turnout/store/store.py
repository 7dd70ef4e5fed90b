"""The store: transactions over the row repositories. Every multi-row change is one transaction."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import IntegrityError, OperationalError

from turnout.errors import Conflict, StoreUnavailable, TurnoutError
from turnout.store.aliases import AliasRows
from turnout.store.blob_rows import BlobRows
from turnout.store.bundles import BundleRows
from turnout.store.changes import ChangeRows
from turnout.store.engine import IMMEDIATE, make_engine
from turnout.store.event_configs import EventConfigRows
from turnout.store.events import EventRows
from turnout.store.function_urls import FunctionUrlRows
from turnout.store.functions import FunctionRows
from turnout.store.keyring import KeyringRows
from turnout.store.nodes import NodeRows
from turnout.store.policies import PolicyRows
from turnout.store.provisioned import ProvisionedRows
from turnout.store.releases import ReleaseRows
from turnout.store.resources import ResourceRows
from turnout.store.rollouts import RolloutRows
from turnout.store.routes import RouteRows
from turnout.store.schedules import ScheduleRows
from turnout.store.tags import TagRows
from turnout.store.tokens import TokenRows
from turnout.store.versions import VersionRows
from turnout.store.window_buckets import WindowBucketRows

FUNCTION = "function"
MIGRATION_LOCK = 0x74726E6D  # the advisory lock migrations run under on PostgreSQL
Announced = list[tuple[str, str]]


class Tx:
    """One open transaction, with a repository per table group."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.functions = FunctionRows(conn)
        self.versions = VersionRows(conn)
        self.aliases = AliasRows(conn)
        self.bundles = BundleRows(conn)
        self.blobs = BlobRows(conn)
        self.tokens = TokenRows(conn)
        self.provisioned = ProvisionedRows(conn)
        self.rollouts = RolloutRows(conn)
        self.releases = ReleaseRows(conn)
        self.function_urls = FunctionUrlRows(conn)
        self.events = EventRows(conn)
        self.event_configs = EventConfigRows(conn)
        self.tags = TagRows(conn)
        self.policies = PolicyRows(conn)
        self.routes = RouteRows(conn)
        self.schedules = ScheduleRows(conn)
        self.keyring = KeyringRows(conn)
        self.changes = ChangeRows(conn)
        self.nodes = NodeRows(conn)
        self.window_buckets = WindowBucketRows(conn)
        self.resources = ResourceRows(conn)
        self.announced: Announced = []

    def announce(self, key: str, topic: str = FUNCTION) -> None:
        """Say that this transaction changes ``key`` of ``topic`` (a function's name, by default): once it
        commits, this node's views refresh, and in a cluster every other node's too."""
        if (topic, key) not in self.announced:
            self.announced.append((topic, key))


class Store:
    """Transactions over the engine. ``journal`` (cluster mode) writes a transaction's announced changes
    into the change sequence just before it commits; ``committed`` hooks hear them after it has."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.journal: Callable[[Tx], None] | None = None
        self.committed: list[Callable[[Announced], None]] = []

    def __repr__(self) -> str:
        return f"Store({self.engine.url.render_as_string(hide_password=True)!r})"

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def read(self, snapshot: bool = False) -> Iterator[Tx]:
        """A read transaction. ``snapshot``: every query sees the same committed state (PostgreSQL's
        REPEATABLE READ; a SQLite read transaction always does), so rows another transaction changes
        together are never seen half old, half new - e.g. the aliases a release moved."""
        with self._transaction(immediate=False, snapshot=snapshot) as tx:
            yield tx

    @contextmanager
    def write(self) -> Iterator[Tx]:
        """A write transaction: committed when the block ends, rolled back on any exception."""
        with self._transaction(immediate=True) as tx:
            yield tx

    @contextmanager
    def _transaction(self, immediate: bool, snapshot: bool = False) -> Iterator[Tx]:
        try:
            with self.engine.connect() as conn:
                if immediate:
                    conn = conn.execution_options(**{IMMEDIATE: True})
                elif snapshot and self.dialect == "postgresql":
                    conn = conn.execution_options(isolation_level="REPEATABLE READ")
                with conn.begin():
                    tx = Tx(conn)
                    yield tx
                    if tx.announced and self.journal is not None:
                        self.journal(tx)
        except TurnoutError:
            raise
        except IntegrityError as exc:
            raise Conflict(
                "the change conflicts with another change made at the same time; retry it"
            ) from exc
        except OperationalError as exc:
            raise StoreUnavailable(f"the metadata store is unavailable: {exc.orig}") from exc
        if tx.announced:
            for hook in self.committed:
                hook(tx.announced)

    def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision."""
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
        with self.engine.begin() as conn:
            if self.dialect == "postgresql":  # nodes starting together: one migrates, the others wait
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
            config.attributes["connection"] = conn
            command.upgrade(config, "heads")  # every branch, should the history ever fork

    def close(self) -> None:
        self.engine.dispose()


def open_store(url: str, migrate: bool = True) -> Store:
    store = Store(make_engine(url))
    if migrate:
        store.migrate()
    return store
