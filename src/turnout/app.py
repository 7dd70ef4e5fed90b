"""The composition root: builds every object from settings and wires them together."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
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
    observability,
    provisioning,
    rollouts,
    routes,
    schedules,
    tokens,
)
from turnout.api.body_limits import BodyLimits
from turnout.api.errors import install_error_handlers
from turnout.api.hosts import HostGuard, HostPolicy
from turnout.blobs import BlobStore, FileBlobStore
from turnout.build.bundle import BundleLimits
from turnout.build.layer import LayerBuilder
from turnout.clock import Clock, utc_now
from turnout.domain.function import Function
from turnout.gateway.controller import ControllerSettings, RolloutController
from turnout.gateway.dispatcher import Dispatcher
from turnout.gateway.invoke import Gateway
from turnout.gateway.logs import LogSink
from turnout.gateway.metrics import Metrics
from turnout.gateway.provisioner import Provisioner
from turnout.gateway.scheduler import Scheduler
from turnout.gateway.shadow import Mirror
from turnout.gateway.table import RoutingTable
from turnout.gateway.window import Windows
from turnout.lambda_api import concurrency as lambda_concurrency
from turnout.lambda_api import event_configs as lambda_event_configs
from turnout.lambda_api import functions as lambda_functions
from turnout.lambda_api import urls as lambda_urls
from turnout.runtime.code import CodeCache
from turnout.runtime.supervisor import RuntimeSettings, Supervisor, Target
from turnout.services import Services
from turnout.services.aliases import AliasService
from turnout.services.bundles import BundleService
from turnout.services.changes import ChangeFeed
from turnout.services.diff import DiffService
from turnout.services.event_configs import EventConfigService
from turnout.services.function_urls import FunctionUrlService
from turnout.services.functions import FunctionService
from turnout.services.provisioning import ProvisioningService
from turnout.services.queue import EventQueue
from turnout.services.rollouts import RolloutService
from turnout.services.routes import RouteService
from turnout.services.schedules import ScheduleService
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
) -> Services:
    limits = BundleLimits(
        max_zipped_bytes=settings.bundle_max_zipped_bytes,
        max_unpacked_bytes=settings.bundle_max_unpacked_bytes,
        max_files=settings.bundle_max_files,
        max_ratio=settings.bundle_max_ratio,
    )
    changes = ChangeFeed()
    aliases = AliasService(store, clock, changes)
    return Services(
        bundles=BundleService(store, blobs, limits, clock),
        functions=FunctionService(store, clock, changes),
        versions=VersionService(
            store, blobs, clock, settings.blob_gc_grace_seconds, layers or build_layers(settings), changes
        ),
        aliases=aliases,
        diff=DiffService(store, blobs),
        tokens=TokenService(store, clock, settings.token_cache_seconds),
        changes=changes,
        provisioning=ProvisioningService(store, clock, changes),
        rollouts=RolloutService(store, clock, changes, aliases),
        function_urls=FunctionUrlService(store, clock, changes),
        routes=RouteService(store, clock, changes),
        schedules=ScheduleService(store, clock, changes),
        queue=EventQueue(store, clock, changes),
        event_configs=EventConfigService(store, clock, changes),
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

    The runtime (zygote, pools) starts with the app's lifespan and stops with it.
    """
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = store or open_store(settings.resolved_database_url)
    blobs = blobs or FileBlobStore(settings.blob_dir)
    layers = build_layers(settings)
    services = build_services(settings, store, blobs, clock, layers)
    services.tokens.ensure_admin(settings.admin_token_path)
    supervisor = Supervisor(
        RuntimeSettings(
            data_dir=settings.data_dir,
            region=settings.region,
            account_id=settings.account_id,
            concurrency=settings.function_concurrency,
            idle_seconds=settings.worker_idle_seconds,
            zygote=settings.zygote,
        ),
        CodeCache(settings.data_dir / "code", blobs),
        layers,
    )
    table = RoutingTable(store)
    supervisor.reserved = table.reserved_concurrency
    services.versions.layers_in_use = supervisor.layers_in_use
    services.changes.subscribe(table.refresh)
    gateway = Gateway(
        table,
        supervisor,
        settings.region,
        settings.account_id,
        settings.invoke_max_request_bytes,
        settings.invoke_max_response_bytes,
    )
    logs = LogSink(settings.logs_dir, settings.log_max_bytes)
    metrics = Metrics(lambda: supervisor.in_flight, lambda: logs.dropped)
    windows = Windows()
    mirror = Mirror(gateway, windows)
    gateway.observers += [logs, metrics.observe, windows.observe, mirror.observe]
    gateway.failure_observers += [metrics.failed, windows.failed]
    controller = RolloutController(
        services.rollouts,
        gateway,
        windows,
        mirror,
        clock,
        ControllerSettings(
            tick_s=settings.rollout_tick_ms / 1000,
            lease_s=max(15.0, settings.rollout_tick_ms / 1000 * 5),
            node=settings.node_name or f"{socket.gethostname()}-{os.getpid()}",
        ),
    )
    services.rollouts.wake.append(controller.wake)
    scheduler = Scheduler(services, gateway, settings, clock)
    dispatcher = Dispatcher(services, gateway, settings, clock)

    def forget(name: str) -> None:
        """A deleted function's workers stop, and its logs, metric series and windows go, so a function
        made later under its name starts empty (on the event loop, where observers touch them)."""
        supervisor.forget(name)
        logs.forget(name)
        metrics.forget(name)
        windows.forget(name)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        logs.start()
        await supervisor.start()
        table.listeners.append(gateway.warm_routes(loop, timeout=WARM_TIMEOUT))
        table.listeners.append(Provisioner(supervisor, loop, timeout=WARM_TIMEOUT).listener)

        def deleted(name: str, before: object, after: object) -> None:
            if after is None:
                loop.call_soon_threadsafe(forget, name)

        table.listeners.append(deleted)
        for name in await asyncio.to_thread(services.provisioning.function_names):
            await asyncio.to_thread(table.refresh, name)  # warms their provisioned workers
        services.versions.import_check = _import_check(supervisor, loop)
        controller.start()
        dispatcher.start()
        scheduler.start()
        log.info("Turnout %s on %s; admin token in %s", __version__, store, settings.admin_token_path)
        yield
        await scheduler.stop()
        await dispatcher.stop()
        await controller.stop()
        await mirror.close()
        services.versions.import_check = None
        await supervisor.stop()
        logs.close()
        store.close()

    app = FastAPI(
        title="Turnout",
        version=__version__,
        description="Versions, aliases and safe updates for Python functions.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.services = services
    app.state.gateway = gateway
    app.state.logs, app.state.metrics = logs, metrics
    app.state.controller = controller
    app.state.scheduler, app.state.dispatcher = scheduler, dispatcher
    install_error_handlers(app)
    app.state.hosts = HostPolicy.from_settings(settings)
    app.add_middleware(BodyLimits, max_bytes=settings.api_max_body_bytes)
    app.add_middleware(HostGuard, policy=app.state.hosts)  # outermost: a refused Host sends nothing on
    triggers = (routes, schedules, events, event_configs)
    for module in (
        bundles,
        functions,
        aliases,
        rollouts,
        tokens,
        invoke,
        provisioning,
        observability,
        *triggers,
    ):
        app.include_router(module.router)
    app.include_router(lambda_functions.router)
    app.include_router(lambda_urls.router)
    app.include_router(lambda_concurrency.router)
    app.include_router(lambda_event_configs.router)

    @app.get("/v1/health", tags=["health"])
    def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    return app


def _import_check(supervisor: Supervisor, loop: asyncio.AbstractEventLoop) -> ImportCheck:
    """Publish-time validation: import the draft's handler in a throwaway worker of the runtime."""

    def check(function: Function, layer_key: str | None) -> dict[str, Any] | None:
        target = Target(function.name, None, function.config, function.bundle_sha256, layer_key)
        future = asyncio.run_coroutine_threadsafe(supervisor.check_import(target), loop)
        return future.result(IMPORT_CHECK_TIMEOUT)

    return check
