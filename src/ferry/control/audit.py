"""The audit log: every mutating call, who made it, when, and how it ended (docs/design.md §6.5).
Every response, logged or not, carries ``x-ms-request-id`` (made here) and
``x-ms-correlation-request-id`` (the client's, or the request id), as ARM's do, and the audit
entry records both, so a caller can find the record of a call."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import overload

from fastapi import FastAPI, Request, Response
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from ferry.control.arm import CORRELATION_HEADER, REQUEST_ID_HEADER, request_ids
from ferry.control.auth import SAFE_METHODS, principal_of
from ferry.control.models import ID_LENGTH, AuditEntry, utcnow

CLIENT_ID_LENGTH = 100  # AuditEntry.client_request_id


@overload
def clip(value: str, length: int) -> str: ...
@overload
def clip(value: str | None, length: int) -> str | None: ...
def clip(value: str | None, length: int) -> str | None:
    """``value`` cut to fit its column (a client may send any length; the log must not fail)."""
    return value if value is None or len(value) <= length else value[: length - 1] + "…"


def install_audit(app: FastAPI) -> None:
    @app.middleware("http")
    async def audit(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        request_id, correlation = request_ids(request)
        try:
            response = await call_next(request)
        except Exception:
            # the generic handler answers 500 further out; the attempt is recorded all the same
            if request.method not in SAFE_METHODS:
                await run_in_threadpool(record, request.app.state.sessions, request, 500)
            raise
        if request.method not in SAFE_METHODS:
            await run_in_threadpool(
                record, request.app.state.sessions, request, response.status_code
            )
        response.headers[REQUEST_ID_HEADER] = request_id
        response.headers[CORRELATION_HEADER] = correlation
        return response


def record(sessions: sessionmaker[Session], request: Request, status_code: int) -> None:
    principal = principal_of(request)
    entry = AuditEntry(
        at=utcnow(),
        principal=principal.name if principal else None,
        token_id=principal.token_id if principal else None,
        method=request.method,
        path=clip(request.url.path, ID_LENGTH),
        status_code=status_code,
        result="Succeeded" if status_code < 400 else "Failed",
        client_request_id=clip(request.headers.get("x-ms-client-request-id"), CLIENT_ID_LENGTH),
        request_id=request_ids(request)[0],
        correlation_request_id=request_ids(request)[1],
    )
    with sessions() as session:
        session.add(entry)
        session.commit()
