"""Ferry's own API for reading the audit log (Owner only), newest first."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy import select
from sqlalchemy.orm import Session

from ferry.control.arm import plain_list
from ferry.control.auth import Principal, require_owner
from ferry.control.deps import get_session
from ferry.control.models import AuditEntry

router = APIRouter(tags=["audit"])


def render(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "at": entry.at.isoformat(),
        "principal": entry.principal,
        "tokenId": entry.token_id,
        "method": entry.method,
        "path": entry.path,
        "statusCode": entry.status_code,
        "result": entry.result,
        "clientRequestId": entry.client_request_id,
        "requestId": entry.request_id,
        "correlationRequestId": entry.correlation_request_id,
    }


@router.get("/ferry/v1/auditLog")
def read_audit_log(
    principal: Annotated[Principal, Depends(require_owner)],
    session: Annotated[Session, Depends(get_session)],
    top: Annotated[int, Query(alias="$top", ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    entries = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(top)).all()
    return plain_list(render(entry) for entry in entries if principal.reaches_into(entry.path))
