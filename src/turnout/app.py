"""The composition root: builds every object from settings and wires them together."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from turnout import __version__
from turnout.api import aliases, bundles, functions, tokens
from turnout.api.errors import install_error_handlers
from turnout.blobs import BlobStore, FileBlobStore
from turnout.build.bundle import BundleLimits
from turnout.clock import Clock, utc_now
from turnout.services import Services
from turnout.services.aliases import AliasService
from turnout.services.bundles import BundleService
from turnout.services.diff import DiffService
from turnout.services.functions import FunctionService
from turnout.services.tokens import TokenService
from turnout.services.versions import VersionService
from turnout.settings import Settings
from turnout.store import Store, open_store

log = logging.getLogger("turnout")


def build_services(settings: Settings, store: Store, blobs: BlobStore, clock: Clock = utc_now) -> Services:
    limits = BundleLimits(
        max_zipped_bytes=settings.bundle_max_zipped_bytes,
        max_unpacked_bytes=settings.bundle_max_unpacked_bytes,
        max_files=settings.bundle_max_files,
        max_ratio=settings.bundle_max_ratio,
    )
    return Services(
        bundles=BundleService(store, blobs, limits, clock),
        functions=FunctionService(store, clock),
        versions=VersionService(store, blobs, clock, settings.blob_gc_grace_seconds),
        aliases=AliasService(store, clock),
        diff=DiffService(store, blobs),
        tokens=TokenService(store, clock),
    )


def create_app(
    settings: Settings, store: Store | None = None, blobs: BlobStore | None = None, clock: Clock = utc_now
) -> FastAPI:
    """Open (and migrate) the store, make the admin token if needed, and return the ASGI app."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = store or open_store(settings.resolved_database_url)
    blobs = blobs or FileBlobStore(settings.blob_dir)
    services = build_services(settings, store, blobs, clock)
    services.tokens.ensure_admin(settings.admin_token_path)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        log.info("Turnout %s on %s; admin token in %s", __version__, store, settings.admin_token_path)
        yield
        store.close()

    app = FastAPI(
        title="Turnout",
        version=__version__,
        description="Versions, aliases and safe updates for Python functions.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.services = services
    install_error_handlers(app)
    for module in (bundles, functions, aliases, tokens):
        app.include_router(module.router)

    @app.get("/v1/health", tags=["health"])
    def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    return app
