"""The ASGI application: ``create_app(settings)``."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from ferry import __version__
from ferry.control import db
from ferry.control.agent_sweeper import AgentSweeper
from ferry.control.arm import install_error_handlers
from ferry.control.audit import install_audit
from ferry.control.openapi import install_openapi
from ferry.control.paths import ArmPathMiddleware
from ferry.control.routes import (
    agent_leases,
    agent_pools,
    agent_protocol,
    agents,
    audit_log,
    endpoints,
    job_definitions,
    job_run_logs,
    job_runs,
    operations,
    projects,
    storage_accounts,
    storage_movers,
    tokens,
)
from ferry.control.routes import secrets as secret_routes
from ferry.control.scheduler import Scheduler
from ferry.control.secrets import BOX_INFO_KEY, SecretBox, check_master_key, load_master_key
from ferry.control.settings import Settings
from ferry.control.tokens import ensure_admin_token


def prepare_database(settings: Settings) -> SecretBox:
    """Migrate the schema, issue the first Owner token on a fresh database, and check the
    secret store's master key against the database (MasterKeyError if it is not usable)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    box = SecretBox(load_master_key(settings.data_dir))
    engine = db.make_engine(settings.db_url)
    try:
        with db.migration_lock(engine) as connection:
            db.upgrade(connection)
            with db.make_sessions(engine)() as session:
                ensure_admin_token(session, settings.admin_token_path)
                check_master_key(session, box)
    finally:
        engine.dispose()
    return box


def create_app(settings: Settings) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        box = await run_in_threadpool(prepare_database, settings)
        engine = db.make_engine(settings.db_url)
        app.state.sessions = db.make_sessions(engine, {BOX_INFO_KEY: box})
        scheduler = Scheduler(app.state.sessions, settings)
        app.state.scheduler = scheduler
        if settings.scheduler_interval_seconds is not None:
            scheduler.start()
        sweeper = AgentSweeper(app.state.sessions, settings)
        if settings.agent_sweep_interval_seconds is not None:
            sweeper.start()
        try:
            yield
        finally:
            await run_in_threadpool(sweeper.stop)
            await run_in_threadpool(scheduler.stop)
            engine.dispose()

    app = FastAPI(
        title="Ferry control plane",
        version=__version__,
        description="The Azure Storage Mover API (api-version 2025-12-01), self-hosted.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    install_error_handlers(app)
    install_openapi(app)
    install_audit(app)
    app.add_middleware(ArmPathMiddleware)  # outermost: routing and the audit see its path
    for module in (
        storage_movers,
        agents,
        agent_pools,
        endpoints,
        projects,
        job_definitions,
        job_runs,
        job_run_logs,
        operations,
        tokens,
        audit_log,
        secret_routes,
        storage_accounts,
        agent_protocol,
        agent_leases,
    ):
        app.include_router(module.router)
    return app
