"""The ASGI application: ``create_app(settings)``."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from ferry import __version__
from ferry.control import db
from ferry.control.arm import install_error_handlers
from ferry.control.audit import install_audit
from ferry.control.routes import (
    audit_log,
    endpoints,
    job_definitions,
    job_runs,
    operations,
    projects,
    storage_movers,
    tokens,
)
from ferry.control.settings import Settings
from ferry.control.tokens import ensure_admin_token


def prepare_database(settings: Settings) -> None:
    """Migrate the schema and, on a fresh database, issue the first Owner token."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = db.make_engine(settings.db_url)
    try:
        with db.migration_lock(engine) as connection:
            db.upgrade(connection)
            with db.make_sessions(engine)() as session:
                ensure_admin_token(session, settings.admin_token_path)
    finally:
        engine.dispose()


def create_app(settings: Settings) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(prepare_database, settings)
        engine = db.make_engine(settings.db_url)
        app.state.sessions = db.make_sessions(engine)
        try:
            yield
        finally:
            engine.dispose()

    app = FastAPI(
        title="Ferry control plane",
        version=__version__,
        description="The Azure Storage Mover API (api-version 2025-12-01), self-hosted.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    install_error_handlers(app)
    install_audit(app)
    for module in (
        storage_movers,
        endpoints,
        projects,
        job_definitions,
        job_runs,
        operations,
        tokens,
        audit_log,
    ):
        app.include_router(module.router)
    return app
