"""Tables of the metadata store. Alembic migrations under ``migrations/`` create exactly these."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ColumnElement

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

Timestamp = DateTime(timezone=True)


class EmptyJsonList(ColumnElement[Any]):
    """The server default ``'[]'`` of a JSON column, spelled as each database reflects it.

    PostgreSQL reports it as ``'[]'::json``; spelling it the same way lets the schema comparison match
    the text without asking the server to compare two ``json`` values (it has no ``=`` for them).
    """

    inherit_cache = True


@compiles(EmptyJsonList)
def _empty_json_list(element: EmptyJsonList, compiler: SQLCompiler, **kw: Any) -> str:
    return "'[]'"


@compiles(EmptyJsonList, "postgresql")
def _empty_json_list_postgresql(element: EmptyJsonList, compiler: SQLCompiler, **kw: Any) -> str:
    return "'[]'::json"


bundles = Table(
    "bundles",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("zipped_bytes", BigInteger, nullable=False),
    Column("unpacked_bytes", BigInteger, nullable=False),
    Column("files", JSON, nullable=False),
    Column("dependencies", JSON, nullable=False),
    Column("uploaded_at", Timestamp, nullable=False),
)

functions = Table(
    "functions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("bundle_sha256", String(64), ForeignKey("bundles.sha256"), nullable=False),
    Column("config", JSON, nullable=False),
    Column("dependencies", JSON, nullable=False),
    Column("revision_id", String(36), nullable=False),
    Column("last_version", Integer, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    Column("reserved_concurrency", Integer, nullable=True),  # None: the server-wide limit
)

versions = Table(
    "versions",
    metadata,
    Column("function_id", Integer, ForeignKey("functions.id", ondelete="CASCADE"), primary_key=True),
    Column("number", Integer, primary_key=True),
    Column("bundle_sha256", String(64), ForeignKey("bundles.sha256"), nullable=False),
    Column("config", JSON, nullable=False),
    Column("dependencies", JSON, nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("description", String(256), nullable=False),
    Column("revision_id", String(36), nullable=False),
    Column("created_at", Timestamp, nullable=False),
    # The resolved name==version set the layer was built from, and the layer's folder name (None: no
    # dependencies). Added by migration 0002; older rows got [] and NULL.
    Column("pinned_dependencies", JSON, nullable=False, server_default=EmptyJsonList()),
    Column("layer_hash", String(64), nullable=True),
)

aliases = Table(
    "aliases",
    metadata,
    Column("function_id", Integer, ForeignKey("functions.id", ondelete="CASCADE"), primary_key=True),
    Column("name", String(128), primary_key=True),
    Column("description", String(256), nullable=False),
    Column("settings", JSON, nullable=False),
    Column("secret_keys", JSON, nullable=False),
    Column("revision_id", String(36), nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
)

# One row per version an alias routes to. version NULL means $LATEST. The foreign key to versions
# makes it impossible, at the database level, for an alias to point at a version that does not exist.
alias_routes = Table(
    "alias_routes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("function_id", Integer, nullable=False),
    Column("alias_name", String(128), nullable=False),
    Column("version", Integer, nullable=True),
    Column("weight_bp", Integer, nullable=False),
    ForeignKeyConstraint(
        ["function_id", "alias_name"], ["aliases.function_id", "aliases.name"], ondelete="CASCADE"
    ),
    ForeignKeyConstraint(["function_id", "version"], ["versions.function_id", "versions.number"]),
    Index("ix_alias_routes_alias", "function_id", "alias_name"),
    Index("ix_alias_routes_version", "function_id", "version"),
)

alias_history = Table(
    "alias_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("function_id", Integer, ForeignKey("functions.id", ondelete="CASCADE"), nullable=False),
    Column("alias_name", String(128), nullable=False),
    Column("action", String(16), nullable=False),
    Column("before", JSON, nullable=True),
    Column("after", JSON, nullable=True),
    Column("actor", String(128), nullable=False),
    Column("reason", Text, nullable=False),
    Column("details", JSON, nullable=False),
    Column("at", Timestamp, nullable=False),
    Index("ix_alias_history_alias", "function_id", "alias_name", "id"),
)

tokens = Table(
    "tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("scopes", JSON, nullable=False),
    Column("created_at", Timestamp, nullable=False),
)

# Provisioned concurrency: warm workers kept for an alias (spread over its versions by weight) or a
# version. Not part of any version's snapshot: it is operational state, changed without publishing.
provisioned = Table(
    "provisioned",
    metadata,
    Column("function_id", Integer, ForeignKey("functions.id", ondelete="CASCADE"), primary_key=True),
    Column("qualifier", String(128), primary_key=True),
    Column("workers", Integer, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
)

# Tags of a function (Lambda's TagResource): kept and echoed, they mean nothing to Turnout itself.
function_tags = Table(
    "function_tags",
    metadata,
    Column("function_id", Integer, ForeignKey("functions.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(128), primary_key=True),
    Column("value", String(256), nullable=False),
)

# Resource-policy statements (Lambda's AddPermission) per function qualifier ("" for the function
# itself): ``statement`` is the IAM statement as GetPolicy shows it. Stored and echoed, they grant
# nothing in Turnout (its tokens decide who may do what).
function_policies = Table(
    "function_policies",
    metadata,
    Column("function_id", Integer, ForeignKey("functions.id", ondelete="CASCADE"), primary_key=True),
    Column("qualifier", String(128), primary_key=True),
    Column("statement_id", String(100), primary_key=True),
    Column("statement", JSON, nullable=False),
    Column("created_at", Timestamp, nullable=False),
)

# Async invocation configs (Lambda's EventInvokeConfig), per function qualifier: destinations for
# events that succeeded or failed for good, and retry limits that replace the server's for its events.
event_configs = Table(
    "event_configs",
    metadata,
    Column("function_id", Integer, ForeignKey("functions.id", ondelete="CASCADE"), primary_key=True),
    Column("qualifier", String(128), primary_key=True),
    Column("on_success", String(200), nullable=True),
    Column("on_failure", String(200), nullable=True),
    Column("max_retries", Integer, nullable=True),
    Column("max_age_s", Integer, nullable=True),
    Column("updated_at", Timestamp, nullable=False),
)

# Rollouts: the whole state machine's state as JSON (``turnout.domain.rollout.Rollout``) and the plan
# (policy, hooks, shadow) it runs by. ``active_alias`` holds the alias name while the rollout runs and
# NULL once it is over: the unique constraint then allows one running rollout per alias, at the database
# level, and any number of finished ones. ``lease_owner``/``lease_until``: the node whose controller
# ticks it (another node takes over once the lease has run out).
rollouts = Table(
    "rollouts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("function_id", Integer, ForeignKey("functions.id", ondelete="CASCADE"), nullable=False),
    Column("alias_name", String(128), nullable=False),
    Column("active_alias", String(128), nullable=True),
    Column("state", String(16), nullable=False),
    Column("data", JSON, nullable=False),
    Column("plan", JSON, nullable=False),
    Column("actor", String(128), nullable=False),
    Column("lease_owner", String(64), nullable=True),
    Column("lease_until", Timestamp, nullable=True),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    Column("release_id", Integer, nullable=True),  # a member of a release rollout: decided with the others
    UniqueConstraint("function_id", "active_alias"),
    Index("ix_rollouts_alias", "function_id", "alias_name", "id"),
    Index("ix_rollouts_release", "release_id"),
)

releases = Table(
    "releases",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("reason", Text, nullable=False),
    Column("actor", String(128), nullable=False),
    Column("plan", JSON, nullable=True),  # a release rollout's strategy and plan; none when applied at once
    Column("history", JSON, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    UniqueConstraint("name"),
)

release_members = Table(
    "release_members",
    metadata,
    Column("release_id", Integer, ForeignKey("releases.id", ondelete="CASCADE"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("function_id", Integer, ForeignKey("functions.id", ondelete="CASCADE"), nullable=False),
    Column("alias_name", String(128), nullable=False),
    Column("version", Integer, nullable=False),
    Column("before", JSON, nullable=False),
    Column("after", JSON, nullable=False),
    Column("rollout_id", Integer, nullable=True),
    Index("ix_release_members_alias", "function_id", "alias_name"),
)

# Function URLs: a public HTTP endpoint bound to one alias (or $LATEST) of a function, as Lambda's
# CreateFunctionUrlConfig makes them. ``qualifier`` is the alias name or "$LATEST" (never a version);
# ``url_id`` is the random 32-character id in the URL (unique across functions, so serving finds the
# row by it alone); ``cors`` is Lambda's Cors structure as sent (NULL: none). Deleting the function
# deletes its URLs.
function_urls = Table(
    "function_urls",
    metadata,
    Column("function_id", Integer, ForeignKey("functions.id", ondelete="CASCADE"), primary_key=True),
    Column("qualifier", String(128), primary_key=True),
    Column("url_id", String(32), nullable=False, unique=True),
    Column("auth_type", String(16), nullable=False),
    Column("cors", JSON, nullable=True),
    Column("invoke_mode", String(16), nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
)

# Async invocations
# One row per accepted async event (``id`` is its request id). ``function`` is the name, not a foreign
# key: an event outlives its function and is then dead-lettered with the reason. ``version`` is pinned by
# the first recorded attempt (NULL before it, or for $LATEST); retries run on it even if the alias moved.
# ``status``: queued, running, succeeded, dead (``turnout.domain.retry.Status``). A node takes a due
# event by setting ``lease_owner``/``lease_until``; once a lease runs out (the node died) another takes
# it again: at-least-once. ``accepted_at`` starts the maximum-age clock (enqueue, or the last redrive).
# ``attempt_log``: one entry per attempt (version, started, outcome code, duration).
events = Table(
    "events",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("function", String(64), nullable=False),
    Column("qualifier", String(128), nullable=True),
    Column("version", Integer, nullable=True),
    Column("payload", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("attempt_log", JSON, nullable=False),
    Column("last_error", JSON, nullable=True),
    Column("enqueued_at", Timestamp, nullable=False),
    Column("accepted_at", Timestamp, nullable=False),
    Column("due_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    Column("lease_owner", String(64), nullable=True),
    Column("lease_until", Timestamp, nullable=True),
    Index("ix_events_status_due", "status", "due_at"),
    Index("ix_events_function_status", "function", "status"),
)

# HTTP routes: a method (or ANY), a host ("" for any host) and a path bound to a qualifier of a function:
# an alias name (the route follows the alias), a version number (pinned for good) or "$LATEST".
# ``shape`` is the path with parameter names left out (``/items/{}``): two routes of the same method,
# host and shape would match the same requests, so the unique constraint refuses the second one.
# ``sticky_cookie``/``sticky_header``: where the routing key of a sticky route comes from (NULL: none).
# Deleting the function deletes its routes.
routes = Table(
    "routes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("function_id", Integer, ForeignKey("functions.id", ondelete="CASCADE"), nullable=False),
    Column("qualifier", String(128), nullable=False),
    Column("method", String(8), nullable=False),
    Column("host", String(253), nullable=False),
    Column("path", String(1024), nullable=False),
    Column("shape", String(1024), nullable=False),
    Column("sticky_cookie", String(128), nullable=True),
    Column("sticky_header", String(128), nullable=True),
    Column("queued", Integer, nullable=False),  # 1: requests go on the async queue (answered 202)
    Column("created_by", String(128), nullable=False),
    Column("created_at", Timestamp, nullable=False),
    UniqueConstraint("method", "host", "shape"),
    Index("ix_routes_function_id", "function_id"),
)

# Schedules: a cron or rate expression bound to one qualifier (alias, version or $LATEST) of a function.
# ``name`` is global. ``next_fire_at`` is the next tick not yet claimed (NULL: none left, or disabled):
# a scheduler claims a due tick by moving it forward with a compare-and-set UPDATE, so each tick fires
# on one node only, once. ``anchor`` is where rate ticks count from. ``input`` is the fixed event as
# JSON text (NULL: the EventBridge scheduled event). ``missed``: "fire-once" or "skip" (ticks missed
# while no scheduler ran). Deleting the function deletes its schedules.
schedules = Table(
    "schedules",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("function_id", Integer, ForeignKey("functions.id", ondelete="CASCADE"), nullable=False),
    Column("qualifier", String(128), nullable=False),
    Column("expression", String(256), nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("input", Text, nullable=True),
    Column("enabled", Integer, nullable=False),
    Column("missed", String(16), nullable=False),
    Column("queued", Integer, nullable=False),  # 1: ticks go on the async queue in the claim's transaction
    Column("anchor", Timestamp, nullable=False),
    Column("next_fire_at", Timestamp, nullable=True),
    Column("last_fired_at", Timestamp, nullable=True),
    Column("last_result", JSON, nullable=True),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    Index("ix_schedules_next_fire_at", "next_fire_at"),
    Index("ix_schedules_function_id", "function_id"),
)

# Cluster mode (docs/cluster.md). On SQLite these tables exist but stay empty: one node, local files.
#
# Bundles in PostgreSQL: ``blobs`` names a complete blob (written last, in the same transaction as its
# chunks), ``blob_chunks`` holds its bytes in order, at most 1 MiB a row. A node reads them once, checks
# the sha256 and keeps the bytes in its local cache (``DATA_DIR/blobs``).
blobs = Table(
    "blobs",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("chunks", Integer, nullable=False),
    Column("created_at", Timestamp, nullable=False),
)

blob_chunks = Table(
    "blob_chunks",
    metadata,
    Column("sha256", String(64), ForeignKey("blobs.sha256", ondelete="CASCADE"), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("data", LargeBinary, nullable=False),
)

# The durable change sequence: one row per committed change that other nodes must follow, numbered in
# commit order by ``seq``. ``topic``: "function" (``key`` is its name), "routes", "tokens", "urls",
# "nodes". A node that lost its LISTEN connection reads every row after the last one it applied.
changes = Table(
    "changes",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("topic", String(16), nullable=False),
    Column("key", String(200), nullable=False),
    Column("node", String(200), nullable=False),
    Column("at", Timestamp, nullable=False),
    Index("ix_changes_at", "at"),
)

# Nodes and their heartbeats: a node whose ``seen_at`` is older than TURNOUT_NODE_DEAD_AFTER_S is dead;
# its leases move on. ``info``: pools, busy workers, sandbox, readiness, as the node last reported.
nodes = Table(
    "nodes",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("address", String(300), nullable=False),
    Column("version", String(32), nullable=False),
    Column("started_at", Timestamp, nullable=False),
    Column("seen_at", Timestamp, nullable=False),
    Column("stopped_at", Timestamp, nullable=True),
    Column("info", JSON, nullable=False),
)

# Rollout windows of every node: a node writes its one-second buckets of functions under a rollout
# (``data``: invocations, errors by code, cold starts, sampled durations, shadow comparisons) so the
# controller, on whichever node holds the lease, judges the traffic of all nodes.
window_buckets = Table(
    "window_buckets",
    metadata,
    Column("node", String(200), primary_key=True),
    Column("function", String(64), primary_key=True),
    Column("version", String(16), primary_key=True),
    Column("channel", String(8), primary_key=True),
    Column("second", BigInteger, primary_key=True),
    Column("data", JSON, nullable=False),
    Index("ix_window_buckets_function_second", "function", "second"),
)

# Secrets at rest (``turnout.keyring``): one row (id 1). ``check_value`` is the store's digest key sealed
# under the secret key: a key that cannot open it is the wrong key, and the server refuses to start.
keyring = Table(
    "keyring",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("check_value", Text, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("rotated_at", Timestamp, nullable=True),
)

# Shared resources (``domain/compat.py``): a name and its current PEP 440 version, as text; and the
# history of its moves, like an alias's (``forced``: a move past the compatibility guard).
resources = Table(
    "resources",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("version", String(64), nullable=False),
    Column("updated_by", String(128), nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
)

resource_history = Table(
    "resource_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("resource", String(64), ForeignKey("resources.name", ondelete="CASCADE"), nullable=False),
    Column("before", String(64), nullable=True),
    Column("after", String(64), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("reason", Text, nullable=False),
    Column("forced", Boolean, nullable=False),
    Column("details", JSON, nullable=False),
    Column("at", Timestamp, nullable=False),
    Index("ix_resource_history_resource", "resource", "id"),
)
