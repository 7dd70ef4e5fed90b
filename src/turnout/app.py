"""The composition root: builds every object from settings and wires them together."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI

from turnout import __version__
from turnout.api import (
    aliases,
    bundles,
    event_configs,
    events,
    functions,
    invoke,
    nodes,
    observability,
    provisioning,
    releases,
    resources,
    rollouts,
    routes,
    schedules,
    secrets,
    tokens,
)
from turnout.api.body_limits import BodyLimits
from turnout.api.errors import install_error_handlers
from turnout.api.hosts import HostGuard, HostPolicy
from turnout.blobs import BlobStore, FileBlobStore
from turnout.build.bundle import BundleLimits
from turnout.build.layer import LayerBuilder
from turnout.clock import Clock, utc_now
from turnout.cluster.blobs import PostgresBlobStore
from turnout.cluster.feed import ClusterFeed
from turnout.cluster.nodes import Identity, Membership
from turnout.cluster.peers import ClusterLogs
from turnout.cluster.windows import MergedWindows, WindowPublisher
from turnout.console.routes import mount as mount_console
from turnout.domain.function import Function
from turnout.gateway.controller import ControllerSettings, RolloutController
from turnout.gateway.dispatcher import Dispatcher
from turnout.gateway.entry import InvocationEntry
from turnout.gateway.invoke import Gateway
from turnout.gateway.logs import LogSink
from turnout.gateway.metrics import Metrics
from turnout.gateway.provisioner import Provisioner
from turnout.gateway.readiness import Readiness
from turnout.gateway.scheduler import Scheduler
from turnout.gateway.shadow import Mirror
from turnout.gateway.table import RoutingTable
from turnout.gateway.window import Windows
from turnout.keyring import Keyring
from turnout.lambda_api import concurrency as lambda_concurrency
from turnout.lambda_api import event_configs as lambda_event_configs
from turnout.lambda_api import features as lambda_features
from turnout.lambda_api import functions as lambda_functions
from turnout.lambda_api import policies as lambda_policies
from turnout.lambda_api import provisioned as lambda_provisioned
from turnout.lambda_api import tags as lambda_tags
from turnout.lambda_api import urls as lambda_urls
from turnout.runtime.capacity import Machine, default_concurrency, default_idle_cap
from turnout.runtime.code import CodeCache
from turnout.runtime.isolation import Isolation, SandboxStatus, decide
from turnout.runtime.supervisor import RuntimeSettings, Supervisor, Target
from turnout.services import Services
from turnout.services.aliases import AliasService
from turnout.services.bundles import BundleService
from turnout.services.changes import TOKENS, ChangeFeed
from turnout.services.diff import DiffService
from turnout.services.event_configs import EventConfigService
from turnout.services.function_urls import FunctionUrlService
from turnout.services.functions import FunctionService
from turnout.services.policies import PolicyService
from turnout.services.provisioning import ProvisioningService
from turnout.services.queue import EventQueue
from turnout.services.releases import ReleaseService
from turnout.services.resources import ResourceService
from turnout.services.rollouts import RolloutService
from turnout.services.routes import RouteService
from turnout.services.schedules import ScheduleService
from turnout.services.secrets import KeyFile, SecretService, load_keyring
from turnout.services.tags import TagService
from turnout.services.tokens import TokenService
from turnout.services.versions import ImportCheck, VersionService
from turnout.settings import Settings
from turnout.store import Store, open_store

log = logging.getLogger("turnout")
WARM_TIMEOUT = 30.0
IMPORT_CHECK_TIMEOUT = 60.0


def build_services(
    settings: Settings,
    store: Store,
    blobs: BlobStore,
    clock: Clock = utc_now,
    layers: LayerBuilder | None = None,
    keyring: Keyring | None = None,
) -> Services:
    """The services over ``store``; ``keyring`` defaults to the one the settings' key file opens."""
    key_file = KeyFile(settings.secret_key_path, explicit=bool(settings.secret_key_file))
    keyring = keyring or load_keyring(store, key_file, clock)
    limits = BundleLimits(
        max_zipped_bytes=settings.bundle_max_zipped_bytes,
        max_unpacked_bytes=settings.bundle_max_unpacked_bytes,
        max_files=settings.bundle_max_files,
        max_ratio=settings.bundle_max_ratio,
    )
    changes = ChangeFeed()
    store.committed.append(changes.deliver)
    aliases = AliasService(store, clock, keyring, changes)
    tokens = TokenService(store, clock, settings.token_cache_seconds)
    changes.subscribe(tokens.forget, TOKENS)
    rollouts = RolloutService(store, clock, changes, aliases)
    return Services(
        bundles=BundleService(store, blobs, limits, clock),
        functions=FunctionService(store, clock, keyring, changes),
        versions=VersionService(
            store, blobs, clock, settings.blob_gc_grace_seconds, layers or build_layers(settings), changes
        ),
        aliases=aliases,
        diff=DiffService(store, blobs),
        tokens=tokens,
        changes=changes,
        provisioning=ProvisioningService(store, clock, changes),
        rollouts=rollouts,
        function_urls=FunctionUrlService(store, clock, changes),
        routes=RouteService(store, clock, changes),
        schedules=ScheduleService(store, clock, changes),
        queue=EventQueue(store, clock, changes),
        event_configs=EventConfigService(store, clock, changes),
        secrets=SecretService(store, keyring, key_file, clock, changes),
        tags=TagService(store),
        policies=PolicyService(store, clock),
        resources=ResourceService(store, clock),
        releases=ReleaseService(store, clock, aliases, rollouts),
    )


def build_layers(settings: Settings) -> LayerBuilder:
    return LayerBuilder(
        settings.layers_dir,
        wheel_dir=settings.wheel_path,
        offline=settings.offline,
        index_url=settings.index_url or None,
        cache_dir=settings.uv_cache_dir,
    )


def create_app(
    settings: Settings, store: Store | None = None, blobs: BlobStore | None = None, clock: Clock = utc_now
) -> FastAPI:
    """Open (and migrate) the store, make the admin token if needed, and return the ASGI app.

    The runtime (zygote, pools) and every background loop start with the app's lifespan and stop with it.
    """
    node = build_node(settings, store, blobs, clock)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await node.start()
        yield
        await node.stop()

    app = FastAPI(
        title="Turnout",
        version=__version__,
        description="Versions, aliases and safe updates for Python functions.",
        lifespan=lifespan,
    )
    _expose(app, node)
    install_error_handlers(app)
    app.state.hosts = HostPolicy.from_settings(settings)
    app.add_middleware(BodyLimits, max_bytes=settings.api_max_body_bytes)
    app.add_middleware(HostGuard, policy=app.state.hosts)  # outermost: a refused Host sends nothing on
    for module in ROUTERS:
        app.include_router(module.router)
    mount_console(app, settings)  # the web console at /ui (docs/console.md)
    return app


# the native API (api/) and the Lambda-compatible one (lambda_api/), in the order they are matched
ROUTERS: tuple[Any, ...] = (
    nodes,
    bundles,
    functions,
    aliases,
    rollouts,
    releases,
    tokens,
    invoke,
    provisioning,
    observability,
    secrets,
    resources,
    routes,
    schedules,
    events,
    event_configs,
    lambda_functions,
    lambda_urls,
    lambda_concurrency,
    lambda_event_configs,
    lambda_tags,
    lambda_policies,
    lambda_provisioned,
    lambda_features,
)


def _expose(app: FastAPI, node: Node) -> None:
    """What the HTTP adapters and the console reach through ``request.app.state``."""
    state = app.state
    state.settings, state.services, state.sandbox = node.settings, node.services, node.sandbox
    state.gateway, state.entry = node.gateway, node.entry
    state.logs, state.metrics, state.cluster_logs = node.logs, node.metrics, node.cluster_logs
    state.controller, state.windows = node.controller, node.windows
    state.readiness, state.membership, state.feed = node.readiness, node.membership, node.feed
    state.scheduler, state.dispatcher = node.scheduler, node.dispatcher


@dataclass
class Node:
    """Everything one node runs, wired together (:func:`build_node`); started and stopped with the app."""

    settings: Settings
    store: Store
    services: Services
    sandbox: SandboxStatus
    supervisor: Supervisor
    table: RoutingTable
    membership: Membership
    feed: ClusterFeed | None
    readiness: Readiness
    gateway: Gateway
    entry: InvocationEntry
    logs: LogSink
    cluster_logs: ClusterLogs
    metrics: Metrics
    windows: Windows
    mirror: Mirror
    publisher: WindowPublisher | None
    controller: RolloutController
    scheduler: Scheduler
    dispatcher: Dispatcher

    async def start(self) -> None:
        """Start the runtime, follow changes (and other nodes'), load the routing, then the loops."""
        loop = asyncio.get_running_loop()
        self.logs.start()
        await self.supervisor.start()
        self._listen(loop)
        if self.feed is not None:
            await asyncio.to_thread(
                self.feed.start
            )  # from the newest change: what came before is in the store
        await asyncio.to_thread(self.membership.beat)  # in the nodes table (and the live set) before serving
        await asyncio.to_thread(self.table.preload)
        for name in await asyncio.to_thread(self.services.provisioning.function_names):
            await asyncio.to_thread(self.table.refresh, name)  # warms their provisioned workers
        await asyncio.to_thread(self.services.queue.release, self.settings.node)  # leases of its last run
        self.readiness.loaded = True
        self.membership.start()
        self.services.versions.import_check = _import_check(self.supervisor, loop)
        if self.publisher is not None:
            self.publisher.start()
        self.controller.start()
        self.dispatcher.start()
        self.scheduler.start()
        log.info(
            "Turnout %s on %s; admin token in %s", __version__, self.store, self.settings.admin_token_path
        )

    def _listen(self, loop: asyncio.AbstractEventLoop) -> None:
        """What follows each routing-table change: warm new routes, provisioned workers, deleted functions."""
        table = self.table
        table.listeners.append(self.gateway.warm_routes(loop, timeout=WARM_TIMEOUT))
        provisioner = Provisioner(self.supervisor, loop, timeout=WARM_TIMEOUT, share=self.membership.share)
        table.listeners.append(provisioner.listener)
        self.membership.on_change.append(lambda: _reprovision(self.services, table))

        def deleted(name: str, before: object, after: object) -> None:
            if after is None:
                loop.call_soon_threadsafe(self.forget, name)

        table.listeners.append(deleted)

    def forget(self, name: str) -> None:
        """A deleted function's workers stop, and its logs, metric series and windows go, so a function
        made later under its name starts empty (on the event loop, where observers touch them)."""
        self.supervisor.forget(name)
        self.logs.forget(name)
        self.metrics.forget(name)
        self.windows.forget(name)
        if self.publisher is not None:
            self.publisher.forget(name)

    async def stop(self) -> None:
        """Not ready (draining), leave the cluster, stop the loops, then the runtime and the store."""
        self.readiness.draining = True
        await self.membership.stop()
        if self.feed is not None:
            await asyncio.to_thread(self.feed.stop)
        await self.scheduler.stop()
        await self.dispatcher.stop()
        await self.controller.stop()
        if self.publisher is not None:
            await self.publisher.stop()
        await self.mirror.close()
        self.services.versions.import_check = None
        await self.supervisor.stop()
        await self.cluster_logs.close()
        self.logs.close()
        self.store.close()


def build_node(
    settings: Settings, store: Store | None = None, blobs: BlobStore | None = None, clock: Clock = utc_now
) -> Node:
    """Every object of one node from its settings (the store opened and migrated, the admin token made)."""
    sandbox = decide(settings.sandbox)  # TURNOUT_SANDBOX=require without support: refuse to start
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    store = store or open_store(settings.resolved_database_url)
    blobs = blobs or _blob_store(settings, store, clock)
    layers = build_layers(settings)
    services = build_services(settings, store, blobs, clock, layers)
    services.secrets.seal_stored()  # plain-text secrets an upgrade left behind
    services.tokens.ensure_admin(settings.admin_token_path)
    _warn_if_readable(settings)
    if settings.sandbox != "off" and not sandbox.active:
        log.warning("workers run WITHOUT the sandbox (TURNOUT_SANDBOX=auto): %s", sandbox.reason)
    supervisor = _supervisor(settings, blobs, layers, sandbox)
    supervisor.unseal = services.secrets.keyring.open_environment
    services.versions.layers_in_use = supervisor.layers_in_use
    table = RoutingTable(store)
    services.changes.subscribe(table.changed)
    readiness = Readiness()
    membership = Membership(
        store,
        Identity(settings.node, settings.node_url, __version__, clock()),
        clock,
        settings.node_heartbeat_s,
        settings.node_dead_after_s,
        info=lambda: {**_node_info(supervisor, readiness), "sandbox": sandbox.to_json()},
    )
    supervisor.reserved = _reserved_share(table, membership)
    feed = _cluster_feed(settings, store, services, clock)
    _readiness_checks(readiness, settings, supervisor, feed)
    gateway = Gateway(
        table,
        supervisor,
        settings.region,
        settings.account_id,
        settings.invoke_max_request_bytes,
        settings.invoke_max_response_bytes,
    )
    entry = InvocationEntry(gateway, services.queue)
    logs = LogSink(settings.logs_dir, settings.log_max_bytes)
    cluster_logs = ClusterLogs(
        logs, settings.node, membership.peers, settings.peer_timeout_ms / 1000, lambda: clock().timestamp()
    )
    metrics = Metrics(
        settings.node,
        lambda: supervisor.in_flight,
        lambda: logs.dropped,
        lambda: supervisor.admission.queues,
        lambda: entry.counts,
    )
    services.rollouts.blocked.append(
        lambda function, alias: metrics.rollouts_blocked.labels(settings.node, function, alias).inc()
    )
    windows = Windows()
    mirror = Mirror(gateway, windows)
    gateway.observers += [logs, metrics.observe, windows.observe, mirror.observe]
    gateway.failure_observers += [metrics.failed, windows.failed]
    publisher = _window_publisher(settings, store, windows, settings.node)
    controller = RolloutController(
        services.rollouts,
        entry,
        publisher.merged if publisher is not None else windows,
        mirror,
        clock,
        ControllerSettings(
            tick_s=settings.rollout_tick_ms / 1000,
            lease_s=max(15.0, settings.rollout_tick_ms / 1000 * 5),
            node=settings.node,
        ),
        services.releases,
    )
    services.rollouts.wake.append(controller.wake)
    return Node(
        settings=settings,
        store=store,
        services=services,
        sandbox=sandbox,
        supervisor=supervisor,
        table=table,
        membership=membership,
        feed=feed,
        readiness=readiness,
        gateway=gateway,
        entry=entry,
        logs=logs,
        cluster_logs=cluster_logs,
        metrics=metrics,
        windows=windows,
        mirror=mirror,
        publisher=publisher,
        controller=controller,
        scheduler=Scheduler(services, entry, settings, clock),
        dispatcher=Dispatcher(services, entry, settings, clock),
    )


def _supervisor(
    settings: Settings, blobs: BlobStore, layers: LayerBuilder, sandbox: SandboxStatus
) -> Supervisor:
    """The runtime: worker pools with limits chosen from this machine unless set, in the sandbox."""
    machine = Machine.this_one()
    return Supervisor(
        RuntimeSettings(
            data_dir=settings.data_dir,
            region=settings.region,
            account_id=settings.account_id,
            concurrency=settings.function_concurrency or default_concurrency(machine),
            idle_seconds=settings.worker_idle_seconds,
            queue_length=settings.queue_length,
            queue_wait_s=settings.queue_wait_ms / 1000.0,
            idle_cap=settings.worker_idle_cap or default_idle_cap(machine),
            zygote=settings.zygote,
        ),
        CodeCache(settings.data_dir / "code", blobs),
        layers,
        Isolation(
            sandbox,
            settings.data_dir,
            settings.sandbox_uid_base,
            settings.sandbox_uid_count,
            settings.sandbox_tmp_mb,
        ),
    )


def _cluster_feed(settings: Settings, store: Store, services: Services, clock: Clock) -> ClusterFeed | None:
    """Cluster mode (PostgreSQL): other nodes follow this one's changes, and it theirs; none on SQLite."""
    if store.dialect != "postgresql":
        return None
    feed = ClusterFeed(
        store, services.changes, settings.node, clock, settings.change_poll_s, settings.change_retention_s
    )
    store.journal = feed.journal
    return feed


def _readiness_checks(
    readiness: Readiness, settings: Settings, supervisor: Supervisor, feed: ClusterFeed | None
) -> None:
    readiness.checks["the zygote is not running"] = lambda: not settings.zygote or supervisor.zygote_alive
    if feed is not None:
        readiness.checks["the change feed has not started listening"] = lambda: feed.listened
        readiness.warnings["the change feed is reconnecting to the store"] = lambda: feed.listening


def _reserved_share(table: RoutingTable, membership: Membership) -> Callable[[str], int | None]:
    """A function's reserved concurrency is cluster-wide: this node enforces its share of it."""

    def reserved(function: str) -> int | None:
        total = table.reserved_concurrency(function)
        return None if total is None else membership.share(total)

    return reserved


def _reprovision(services: Services, table: RoutingTable) -> None:
    """The live nodes changed: every node's share of provisioned workers changes with them."""
    for name in services.provisioning.function_names():
        table.refresh(name)


def _node_info(supervisor: Supervisor, readiness: Readiness) -> dict[str, Any]:
    """What a node says about itself in its heartbeat."""
    pools = list(supervisor.pools.values())
    return {
        "ready": not readiness.reasons(),
        "pools": len(pools),
        "workers": sum(len(p.idle) + p.busy for p in pools),
        "busy": sum(p.busy for p in pools),
        "pid": os.getpid(),
    }


def _warn_if_readable(settings: Settings) -> None:
    """Warn when the data folder, admin token, secret key or console key can be read by other users."""
    for path, mode in (
        (settings.data_dir, 0o700),
        (settings.admin_token_path, 0o600),
        (settings.secret_key_path, 0o600),
        (settings.data_dir / "console-key", 0o600),
    ):
        try:
            actual = path.stat().st_mode & 0o777
        except OSError:
            continue
        if actual & 0o077:
            log.warning(
                "%s is mode %s: other users of this machine can reach it; run chmod %s %s",
                path,
                oct(actual),
                oct(mode)[2:],
                path,
            )


def _blob_store(settings: Settings, store: Store, clock: Clock) -> BlobStore:
    """Files under ``DATA_DIR/blobs`` on SQLite; on PostgreSQL, the store itself with that folder as this
    node's cache, after copying in the bundles an older single-node install kept only in the folder."""
    local = FileBlobStore(settings.blob_dir)
    if store.dialect != "postgresql":
        return local
    shared = PostgresBlobStore(store, local, clock)
    shared.copy_local_bundles()
    return shared


def _window_publisher(
    settings: Settings, store: Store, windows: Windows, node: str
) -> WindowPublisher | None:
    """Cluster mode (PostgreSQL): share this node's rollout windows and judge every node's; one node
    (SQLite) publishes nothing and its controller judges its own windows."""
    if store.dialect != "postgresql":
        return None
    return WindowPublisher(store, MergedWindows(windows, node), interval_s=settings.window_publish_ms / 1000)


def _import_check(supervisor: Supervisor, loop: asyncio.AbstractEventLoop) -> ImportCheck:
    """Publish-time validation: import the draft's handler in a throwaway worker of the runtime."""

    def check(function: Function, layer_key: str | None) -> dict[str, Any] | None:
        target = Target(function.name, None, function.config, function.bundle_sha256, layer_key)
        future = asyncio.run_coroutine_threadsafe(supervisor.check_import(target), loop)
        return future.result(IMPORT_CHECK_TIMEOUT)

    return check
