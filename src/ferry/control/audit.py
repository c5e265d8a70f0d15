"""The audit log: every mutating call, who made it, when, and how it ended (DESIGN §6)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from ferry.control.auth import SAFE_METHODS, principal_of
from ferry.control.models import AuditEntry, utcnow


def install_audit(app: FastAPI) -> None:
    @app.middleware("http")
    async def audit(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        if request.method not in SAFE_METHODS:
            await run_in_threadpool(
                record, request.app.state.sessions, request, response.status_code
            )
        return response


def record(sessions: sessionmaker[Session], request: Request, status_code: int) -> None:
    principal = principal_of(request)
    entry = AuditEntry(
        at=utcnow(),
        principal=principal.name if principal else None,
        token_id=principal.token_id if principal else None,
        method=request.method,
        path=request.url.path,
        status_code=status_code,
        result="Succeeded" if status_code < 400 else "Failed",
        client_request_id=request.headers.get("x-ms-client-request-id"),
    )
    with sessions() as session:
        session.add(entry)
        session.commit()
