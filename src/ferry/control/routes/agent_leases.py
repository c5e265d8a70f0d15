"""The agent protocol's work routes (docs/agent-protocol.md): lease a work unit, report its
progress (which renews the lease), ship its copy log, complete it. The rules behind them are
in ferry.control.work_units."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi import Body as RawBody
from sqlalchemy.orm import Session

from ferry.control import access_policies, copy_logs, work_units
from ferry.control.agent_auth import (
    AgentPrincipal,
    authenticate_agent,
    current_agent,
    require_protocol_version,
)
from ferry.control.arm import ArmError, conflict
from ferry.control.credentials import CredentialError
from ferry.control.deps import get_session, get_settings
from ferry.control.lease_message import lease_message
from ferry.control.settings import Settings
from ferry.protocol import (
    LEASES,
    MAX_CHUNK_BYTES,
    Completion,
    CompletionAnswer,
    CopyLogAnswer,
    Lease,
    ProgressAnswer,
    ProgressReport,
    UnitOutcome,
    error_detail,
    lease_route,
)

router = APIRouter(tags=["agent protocol"], dependencies=[Depends(require_protocol_version)])
Session_ = Annotated[Session, Depends(get_session)]
Settings_ = Annotated[Settings, Depends(get_settings)]
Agent_ = Annotated[AgentPrincipal, Depends(authenticate_agent)]
LEASE = LEASES + "/{lease_id}"


def _lost(exc: work_units.LeaseLost, lease_id: str) -> ArmError:
    return conflict("LeaseLost", str(exc), target=lease_id)


@router.post(
    LEASES,
    response_model=Lease,
    response_model_by_alias=True,
    responses={204: {"description": "No work."}},
)
def take_lease(principal: Agent_, session: Session_, settings: Settings_) -> Any:
    agent = current_agent(session, principal)
    unit = work_units.lease(session, agent, settings.agent_lease_seconds)
    if unit is None:
        session.rollback()
        return Response(status_code=204)
    run = work_units.locked_run(session, unit.job_run_id)
    assert unit.lease_id is not None
    lease_id = unit.lease_id
    try:
        message = lease_message(session, run, unit, agent, settings)
    except CredentialError as exc:
        access_policies.revoke(session, run, lease_ids=[lease_id])
        session.commit()
        failed = Completion(
            status=UnitOutcome.FAILED,
            error=error_detail("CredentialsUnavailable", str(exc)),
        )
        work_units.complete(session, agent.id, lease_id, failed, max_attempts=0)
        session.commit()
        return Response(status_code=204)
    session.commit()
    return message.wire()


@router.post(lease_route("{lease_id}", "progress"), response_model=ProgressAnswer)
def report_progress(
    lease_id: str, body: ProgressReport, principal: Agent_, session: Session_, settings: Settings_
) -> dict[str, Any]:
    try:
        unit, run, stop = work_units.report(
            session, principal.agent_id, lease_id, settings.agent_lease_seconds, body
        )
    except work_units.LeaseLost as exc:
        raise _lost(exc, lease_id) from None
    ttl = dt.timedelta(seconds=settings.run_sas_ttl_seconds)
    access_policies.renew(session, run, principal.agent_id, ttl)
    assert unit.expires_at is not None
    answer = ProgressAnswer(cancel_requested=stop, expires_at=unit.expires_at.isoformat())
    session.commit()
    return answer.wire()


@router.post(lease_route("{lease_id}", "copyLog"), response_model=CopyLogAnswer)
def ship_copy_log(
    lease_id: str,
    request: Request,
    data: Annotated[bytes, RawBody(media_type="application/octet-stream")],
    offset: Annotated[int, Query(ge=0, description="Where the chunk starts in the lease's log.")],
    principal: Agent_,
    session: Session_,
) -> dict[str, Any]:
    """Append whole JSON lines of the leased unit's copy log at ``offset``; a retried chunk
    is acknowledged again. Answers the stored size of this lease's log."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_CHUNK_BYTES:
        raise ArmError(413, "CopyLogChunkTooLarge", f"At most {MAX_CHUNK_BYTES} bytes per chunk.")
    try:
        run = work_units.find_unit(session, principal.agent_id, lease_id).job_run
    except work_units.LeaseLost as exc:
        raise _lost(exc, lease_id) from None
    size = copy_logs.append(session, run, lease_id, offset, data)
    session.commit()
    return CopyLogAnswer(size=size).wire()


@router.post(lease_route("{lease_id}", "complete"), response_model=CompletionAnswer)
def complete_lease(
    lease_id: str, body: Completion, principal: Agent_, session: Session_, settings: Settings_
) -> dict[str, Any]:
    try:
        run = work_units.complete(
            session, principal.agent_id, lease_id, body, max_attempts=settings.unit_max_attempts
        )
    except work_units.LeaseLost as exc:
        raise _lost(exc, lease_id) from None
    answer = CompletionAnswer.model_validate({"status": run.status})
    session.commit()
    return answer.wire()
