"""Every server setting, declared once: name, type, default and help.

Settings are read from an injected environ (``TURNOUT_<NAME>``), never at import time::

    settings = Settings.from_environ({"TURNOUT_PORT": "9000"})

``docs/settings.md`` lists them all; a test fails when one is missing there.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from turnout.errors import InsecureSettings, InvalidInput

ENV_PREFIX = "TURNOUT_"
SANDBOX_MODES = ("require", "auto", "off")
MiB = 1024 * 1024


def _setting(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class Settings:
    data_dir: Path = _setting(
        Path(".turnout"), "Folder for the embedded database, blobs and the admin token."
    )
    database_url: str = _setting(
        "", "SQLAlchemy URL of the metadata store; empty means SQLite at DATA_DIR/turnout.db."
    )
    host: str = _setting("127.0.0.1", "Address `turnout serve` listens on.")
    port: int = _setting(8420, "Port `turnout serve` listens on.")
    keep_alive_s: int = _setting(
        65,
        "How long an idle keep-alive connection stays open (s): longer than clients' own idle expiry "
        "(httpx 5 s, load balancers 60 s), so a client never reuses a connection the server is closing.",
    )
    header_timeout_s: float = _setting(
        10.0,
        "A request's line and headers must arrive within this many seconds of its first byte (or of the "
        "connection opening); then the connection is closed with 408.",
    )
    body_timeout_s: float = _setting(
        30.0,
        "A request body that stops arriving for this many seconds (between two reads) is cut off with 408.",
    )
    max_connections: int = _setting(
        0,
        "Most open client connections; past it the oldest idle ones are closed (logged). 0: derived from "
        "the open-file limit (raised to its hard limit at start): three quarters of it, at most 10000.",
    )
    allowed_hosts: str = _setting(
        "",
        "Comma-separated extra Host names the API and the Lambda API answer (besides loopback names, "
        "HOST, PUBLIC_URL's host and ADVERTISE_URL's host); '.example.com' allows its subdomains, '*' any "
        "(not for browsers' machines). Routes and function URLs answer any Host.",
    )
    bundle_max_zipped_bytes: int = _setting(50 * MiB, "Largest accepted bundle, zipped.")
    bundle_max_unpacked_bytes: int = _setting(250 * MiB, "Largest accepted bundle, unpacked.")
    bundle_max_files: int = _setting(20_000, "Most files a bundle may hold.")
    bundle_max_ratio: int = _setting(
        100, "Largest unpacked/zipped size ratio (zip-bomb guard), applied above 1 MiB unpacked."
    )
    blob_gc_grace_seconds: int = _setting(
        3600, "Unreferenced blobs younger than this are kept by gc (an upload may be about to use one)."
    )
    log_level: str = _setting("info", "Server log level (debug, info, warning, error).")
    wheel_dir: str = _setting(
        "", "Folder of wheels that dependency layers may install from (uv --find-links); empty means none."
    )
    offline: bool = _setting(
        False, "Build dependency layers without any index: only WHEEL_DIR and uv's cache (1/0, true/false)."
    )
    index_url: str = _setting(
        "", "Package index layers are resolved against (uv --index-url); empty means uv's default (PyPI)."
    )
    function_concurrency: int = _setting(
        0,
        "Most invocations of one function running at once on this node; more wait in the version's queue. "
        "0: chosen from the machine, 8 per core and at most one per 128 MiB of memory (at least 2).",
    )
    queue_length: int = _setting(
        1000,
        "Requests that may wait, per version, for a concurrency slot of their function; past it 429 "
        "Throttled.",
    )
    queue_wait_ms: int = _setting(
        10_000, "How long a request waits in its version's queue for a slot before it is Throttled (429)."
    )
    worker_idle_seconds: int = _setting(300, "A worker idle for this long is stopped (pools shrink to zero).")
    worker_idle_cap: int = _setting(
        0,
        "Most idle warm workers on this node; past it the least recently used are stopped within a second "
        "(never provisioned or busy ones). 0: one per 64 MiB of memory (at least 8).",
    )
    invoke_max_request_bytes: int = _setting(6 * MiB, "Largest invocation payload accepted (413 above).")
    invoke_max_response_bytes: int = _setting(6 * MiB, "Largest function result returned (an error above).")
    token_cache_seconds: int = _setting(
        2, "How long a checked API token is trusted without reading the store again (0 = always read)."
    )
    log_max_bytes: int = _setting(
        64 * MiB,
        "A function's invocation log (DATA_DIR/logs/FN.jsonl) rotates past this size; one older is kept.",
    )
    metrics_public: bool = _setting(
        False, "Serve GET /metrics without a token (1/0); by default it needs a token with read scope."
    )
    zygote: bool = _setting(
        True, "Fork workers from a zygote (1); 0 starts every worker as a fresh interpreter (slower)."
    )
    sandbox: str = _setting(
        "auto",
        "Worker sandbox (docs/security.md): 'require' refuses to start without it, 'auto' uses it where the "
        "machine supports it (root, Landlock) and warns where not, 'off' runs workers unconfined.",
    )
    sandbox_uid_base: int = _setting(
        600_000, "Sandboxed workers run as uid/gid BASE + hash(function) % COUNT: one uid per function."
    )
    sandbox_uid_count: int = _setting(
        100_000, "How many uids (from SANDBOX_UID_BASE) functions are spread over."
    )
    sandbox_tmp_mb: int = _setting(
        512, "Size of each sandboxed worker's /tmp (a tmpfs of its own; writes past it fail with ENOSPC)."
    )
    rollout_tick_ms: int = _setting(
        1000, "How often the rollout controller judges each running rollout (milliseconds)."
    )
    node_name: str = _setting(
        "",
        "This node's name: in the nodes table, rollout and async-event leases, and the `node` label of "
        "/metrics; unique per node and kept across restarts. Empty: HOSTNAME:PORT.",
    )
    advertise_url: str = _setting(
        "",
        "URL other nodes reach this node at (they ask it for its logs); empty: PUBLIC_URL, else "
        "http://HOST:PORT (with this machine's host name when HOST is 0.0.0.0 or ::).",
    )
    peer_timeout_ms: int = _setting(
        2000,
        "How long a node waits for each peer's logs when it answers GET /v1/functions/{fn}/logs (ms); a "
        "peer slower than this is listed in `missing_nodes` instead.",
    )
    node_heartbeat_s: int = _setting(2, "How often a node writes its heartbeat to the nodes table (s).")
    node_dead_after_s: int = _setting(
        10,
        "A node whose heartbeat is older than this is dead: its rollout and async-event leases move on and "
        "cluster-wide limits are divided over the others (s).",
    )
    change_poll_s: int = _setting(
        5,
        "Cluster mode: besides LISTEN/NOTIFY, how often a node reads the change sequence anyway (s), a "
        "safety net for a notification lost with its connection.",
    )
    change_retention_s: int = _setting(
        3600,
        "Cluster mode: how long rows of the change sequence are kept (s); a node away for longer reloads "
        "everything when it comes back.",
    )
    drain_s: int = _setting(
        0,
        "On SIGTERM, how long the node keeps serving while GET /v1/ready answers 503 before it stops taking "
        "connections (s): set it to a few load-balancer probe intervals so no client meets a closed port.",
    )
    window_publish_ms: int = _setting(
        250,
        "Cluster mode (PostgreSQL): how often a node publishes its rollout window buckets and reads the "
        "other nodes' ones (ms); gates judge every node's traffic this much (plus a tick) late.",
    )
    schedule_tick_ms: int = _setting(200, "How often the scheduler looks for due schedule ticks (ms).")
    schedule_grace_ms: int = _setting(
        1500, "A schedule tick later than this fires as usual; later ones count as missed (see --missed)."
    )
    async_backoff_ms: int = _setting(
        1000, "Async invocations: delay before the first retry (doubled per retry, with up to 25% jitter)."
    )
    async_max_retries: int = _setting(2, "Async invocations: retries after a failed first attempt.")
    async_max_age_s: int = _setting(
        6 * 3600, "Async invocations: an event not done this long after it was accepted is dead-lettered."
    )
    async_poll_ms: int = _setting(
        500, "Async invocations: how often the store is checked for due events when nothing wakes the queue."
    )
    async_lease_s: int = _setting(
        30,
        "Async invocations: a node's lease on a running event; after a crash it is taken again after this.",
    )
    async_retention_s: int = _setting(
        24 * 3600,
        "Async invocations: succeeded events are deleted this long after they finished (0 keeps them until "
        "purged); dead letters are kept until redriven or purged.",
    )
    lambda_auth: str = _setting(
        "any",
        "Lambda-compatible API: 'any' accepts any well-formed SigV4 signature; 'token' needs a Turnout API "
        "token as the access key id.",
    )
    secret_key_file: str = _setting(
        "",
        "File holding the key that seals secret environment values (base64 of 32 bytes, mode 0600); empty: "
        "DATA_DIR/secret-key, generated at first start. Every node of a cluster needs the same key.",
    )
    allow_open_network: bool = _setting(
        False,
        "I know: allow LAMBDA_AUTH=any and METRICS_PUBLIC=1 while listening on a non-loopback address "
        "(1/0); without it `turnout serve` refuses to start so.",
    )
    public_url: str = _setting(
        "", "Base URL clients reach this server at, used in function URLs; empty: http://HOST:PORT."
    )
    region: str = _setting("us-east-1", "Region shown in ARNs and AWS_REGION inside functions.")
    account_id: str = _setting("000000000000", "Account id shown in function and alias ARNs.")

    @classmethod
    def from_environ(cls, environ: Mapping[str, str], **overrides: Any) -> Settings:
        """Build settings from ``TURNOUT_*`` variables; ``overrides`` (e.g. CLI flags) win."""
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = environ.get(ENV_PREFIX + f.name.upper())
            if raw is not None and raw != "":
                values[f.name] = _convert(f.name, raw, f.type)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def __post_init__(self) -> None:
        if self.window_publish_ms < 10:
            raise InvalidInput(
                f"setting {ENV_PREFIX}WINDOW_PUBLISH_MS={self.window_publish_ms} is too small: it is how "
                "often rollout windows are published to the store, at least 10 (ms)"
            )
        if self.sandbox not in SANDBOX_MODES:
            raise InvalidInput(
                f"setting TURNOUT_SANDBOX={self.sandbox!r} is not one of {', '.join(SANDBOX_MODES)}"
            )
        if self.function_concurrency < 0 or self.worker_idle_cap < 0:
            raise InvalidInput(
                "settings TURNOUT_FUNCTION_CONCURRENCY and TURNOUT_WORKER_IDLE_CAP must be 0 (chosen from "
                "the machine) or positive whole numbers"
            )
        if self.queue_length < 0 or self.queue_wait_ms < 0:
            raise InvalidInput("settings TURNOUT_QUEUE_LENGTH and TURNOUT_QUEUE_WAIT_MS must be 0 or more")
        if self.sandbox_uid_base < 1 or self.sandbox_uid_count < 1 or self.sandbox_tmp_mb < 1:
            raise InvalidInput(
                "settings TURNOUT_SANDBOX_UID_BASE, TURNOUT_SANDBOX_UID_COUNT and TURNOUT_SANDBOX_TMP_MB "
                "must be positive whole numbers"
            )

    @property
    def on_loopback(self) -> bool:
        """The server listens where only this machine can reach it (127.0.0.0/8, ::1, localhost)."""
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host.strip("[]")).is_loopback
        except ValueError:
            return False

    def check_exposure(self) -> None:
        """Refuse to listen on the network with a door anyone can walk through, unless told "I know".

        ``TURNOUT_LAMBDA_AUTH=any`` lets any caller deploy code through the Lambda API, and
        ``TURNOUT_METRICS_PUBLIC=1`` shows every function's traffic: fine on loopback only.
        """
        if self.on_loopback or self.allow_open_network:
            return
        problems = []
        if self.lambda_auth == "any":
            problems.append(
                "TURNOUT_LAMBDA_AUTH=any lets anyone who reaches it deploy and run code through the "
                "Lambda-compatible API: set TURNOUT_LAMBDA_AUTH=token (clients then send a Turnout API "
                "token as their AWS access key id)"
            )
        if self.metrics_public:
            problems.append("TURNOUT_METRICS_PUBLIC=1 shows /metrics to anyone: unset it (send a read token)")
        if problems:
            raise InsecureSettings(
                f"refusing to listen on {self.host}, which is reachable from other machines: "
                + "; ".join(problems)
                + ". Listen on 127.0.0.1, or set TURNOUT_ALLOW_OPEN_NETWORK=1 if the network is trusted.",
                host=self.host,
            )

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'turnout.db').resolve()}"

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def node(self) -> str:
        """This node's name (``TURNOUT_NODE_NAME``, else ``HOSTNAME:PORT``)."""
        return self.node_name or f"{socket.gethostname()}:{self.port}"

    @property
    def node_url(self) -> str:
        """Where other nodes reach this one (``TURNOUT_ADVERTISE_URL``, else the base URL)."""
        if self.advertise_url:
            return self.advertise_url.rstrip("/")
        if self.public_url:
            return self.base_url
        host = socket.gethostname() if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{host}:{self.port}"

    @property
    def secret_key_path(self) -> Path:
        return Path(self.secret_key_file) if self.secret_key_file else self.data_dir / "secret-key"

    @property
    def api_max_body_bytes(self) -> int:
        """Largest JSON body the API parses: a Lambda CreateFunction carries a whole zip in base64."""
        return self.bundle_max_zipped_bytes * 4 // 3 + MiB

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def admin_token_path(self) -> Path:
        return self.data_dir / "admin-token"

    @property
    def layers_dir(self) -> Path:
        """Installed dependency layers, one folder per pinned set (see ``turnout.build.layer``)."""
        return self.data_dir / "layers"

    @property
    def logs_dir(self) -> Path:
        """Invocation logs, one JSON-lines file per function (see ``turnout.gateway.logs``)."""
        return self.data_dir / "logs"

    @property
    def uv_cache_dir(self) -> Path:
        """uv's cache for layer builds: Turnout's own, so offline builds work and the user's is untouched."""
        return self.data_dir / "uv-cache"

    @property
    def wheel_path(self) -> Path | None:
        return Path(self.wheel_dir) if self.wheel_dir else None

    @classmethod
    def describe(cls) -> list[tuple[str, str, str]]:
        """(environment variable, default, help) for every setting, in declaration order."""
        return [
            (ENV_PREFIX + f.name.upper(), str(f.default), f.metadata["help"]) for f in dataclasses.fields(cls)
        ]


_TRUE = frozenset({"1", "true", "yes"})
_FALSE = frozenset({"0", "false", "no"})


def _convert(name: str, raw: str, type_name: Any) -> Any:
    kind = str(type_name)
    if kind == "bool":
        word = raw.strip().lower()
        if word in _TRUE or word in _FALSE:
            return word in _TRUE
        raise InvalidInput(
            f"setting {ENV_PREFIX}{name.upper()}={raw!r} is not a yes/no value: use 1/0, true/false or yes/no"
        )
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "Path":
            return Path(raw)
    except ValueError as exc:
        raise InvalidInput(f"setting {ENV_PREFIX}{name.upper()}={raw!r} is not a number") from exc
    return raw
