"""The agent protocol: Ferry's own API beside the ARM one, always agent-initiated.

Unauthenticated: asking for a registration and polling it. Admin token: approving a user
code. Signed with the agent key: getting an agent token. Agent token: heartbeat, leasing a
job run, progress (which renews the lease), the run's copy log and completion. Heartbeat and
lease answers carry the agent's ``uploadLimitSchedule``."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi import Body as RawBody
from pydantic import Field
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ferry.control import access_policies, copy_logs, leases, registrations, units
from ferry.control.agent_auth import (
    AgentPrincipal,
    authenticate_agent,
    current_agent,
    issue_agent_token,
)
from ferry.control.arm import ArmError, check_name, check_resource_group, conflict
from ferry.control.auth import Principal, authenticate
from ferry.control.credentials import CredentialError
from ferry.control.deps import get_session, get_settings
from ferry.control.models import (
    AgentIdentity,
    AgentRegistration,
    JobRun,
    JobRunLease,
    utcnow,
)
from ferry.control.resources import agent_id
from ferry.control.routes import agent_units
from ferry.control.routes.agents import render as render_agent
from ferry.control.routes.agents import upload_limit_schedule
from ferry.control.routes.lease_views import lease_view
from ferry.control.schemas import Body
from ferry.control.settings import Settings

PREFIX = "/ferry/v1"
REGISTRATIONS = PREFIX + "/agentRegistrations"
AGENT = PREFIX + "/agent"
Name = Annotated[str, Field(min_length=1, max_length=90)]

router = APIRouter(tags=["agent protocol"])
Session_ = Annotated[Session, Depends(get_session)]
Settings_ = Annotated[Settings, Depends(get_settings)]
Agent_ = Annotated[AgentPrincipal, Depends(authenticate_agent)]


class RegistrationRequest(Body):
    public_key: Annotated[str, Field(min_length=1, max_length=64)]
    subscription_id: Name
    resource_group: Name
    storage_mover: Name
    agent_name: Name
    facts: dict[str, Any] = Field(default_factory=dict)


class Approval(Body):
    user_code: Annotated[str, Field(min_length=1, max_length=32)]


class ErrorDetails(Body):
    code: Annotated[str, Field(max_length=100)]
    message: Annotated[str, Field(max_length=2000)]


class Heartbeat(Body):
    facts: dict[str, Any] = Field(default_factory=dict)
    error_details: ErrorDetails | None = None


class ProgressReport(Body):
    status: Annotated[str | None, Field(max_length=30)] = None
    scan_status: Annotated[str | None, Field(max_length=30)] = None
    counters: dict[str, int] | None = None


class Completion(ProgressReport):
    status: Annotated[str, Field(max_length=30)]
    error: dict[str, str] | None = None


def _registration_view(registration: AgentRegistration) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": registration.id,
        "status": registrations.current_status(registration),
        "storageMover": registration.storage_mover,
        "agentName": registration.agent_name,
        "expiresAt": registration.expires_at.isoformat(),
    }
    return view


@router.post(REGISTRATIONS, status_code=201)
def request_registration(
    body: RegistrationRequest, session: Session_, settings: Settings_
) -> dict[str, Any]:
    check_name("agent", body.agent_name)
    check_name("storage mover", body.storage_mover)
    check_resource_group(body.resource_group)
    registration, code = registrations.create(
        session,
        public_key=body.public_key,
        subscription=body.subscription_id,
        resource_group=body.resource_group,
        mover=body.storage_mover,
        agent_name=body.agent_name,
        facts=body.facts,
        ttl_seconds=settings.registration_ttl_seconds,
        max_pending=settings.max_pending_registrations,
    )
    return {**_registration_view(registration), "userCode": registrations.shown_code(code)}


@router.get(REGISTRATIONS + "/{registration_id}")
def get_registration(registration_id: str, session: Session_) -> dict[str, Any]:
    registration = session.get(AgentRegistration, registration_id)
    if registration is None:
        raise ArmError(
            404, "RegistrationNotFound", f"There is no agent registration '{registration_id}'."
        )
    return _registration_view(registration)


@router.post(REGISTRATIONS + "/approve")
def approve_registration(
    body: Approval,
    principal: Annotated[Principal, Depends(authenticate)],
    session: Session_,
) -> dict[str, Any]:
    agent = registrations.approve(session, body.user_code, principal)
    return render_agent(agent)


@router.post(AGENT + "/token")
def agent_token(request: Request, session: Session_, settings: Settings_) -> dict[str, Any]:
    token, expires = issue_agent_token(request, session, settings)
    return {
        "token": token,
        "expiresOn": expires.isoformat(),
        "expiresIn": int(settings.agent_token_ttl_seconds),
    }


@router.get(AGENT)
def agent_self(principal: Agent_, session: Session_) -> dict[str, Any]:
    agent = current_agent(session, principal)
    return render_agent(agent)


@router.post(AGENT + "/heartbeat")
def heartbeat(body: Heartbeat, principal: Agent_, session: Session_) -> dict[str, Any]:
    agent = current_agent(session, principal, for_update=True)
    now = utcnow()
    properties = {**agent.properties, **registrations.facts_of(body.facts)}
    properties["lastStatusUpdate"] = now.isoformat()
    if body.error_details is not None:
        properties["errorDetails"] = body.error_details.model_dump()
        agent.agent_status = "RequiresAttention"
    else:
        properties.pop("errorDetails", None)
        busy = leases.holds_lease(session, agent.id)
        agent.agent_status = "Executing" if busy else "Online"
    agent.properties = properties
    identity = session.get(AgentIdentity, agent.id)
    if identity is not None:
        identity.last_seen_at = now
    answer = {
        "agentStatus": agent.agent_status,
        "agentResourceId": agent_id(agent),
        "uploadLimitSchedule": upload_limit_schedule(agent),
    }
    session.commit()
    return answer


@router.post(AGENT + "/leases", responses={204: {"description": "No work."}})
def take_lease(principal: Agent_, session: Session_, settings: Settings_) -> Any:
    agent = current_agent(session, principal)
    try:
        lease = leases.acquire(session, agent, settings.agent_lease_seconds)
    except IntegrityError:  # another agent took the same run first (SQLite)
        session.rollback()
        return Response(status_code=204)
    if lease is None:
        session.rollback()
        return agent_units.take_unit(session, agent, settings)  # a unit of a pool run, if any
    try:
        view = lease_view(
            session, lease.job_run, lease.agent, lease.lease_id, lease.expires_at, settings
        )
    except CredentialError as exc:
        access_policies.revoke(session, lease.job_run, lease_ids=[lease.lease_id])
        leases.complete(
            session,
            lease,
            status="Failed",
            scan_status=None,
            counters=None,
            error={"code": "CredentialsUnavailable", "message": str(exc)},
        )
        session.commit()
        return Response(status_code=204)
    session.commit()
    return view


def _lease(session: Session, principal: AgentPrincipal, lease_id: str) -> JobRunLease:
    try:
        return leases.find_lease(session, principal.agent_id, lease_id)
    except leases.LeaseLost as exc:
        raise conflict("LeaseLost", str(exc), target=lease_id) from None


def _log_run(session: Session, principal: AgentPrincipal, lease_id: str) -> JobRun:
    """The run whose copy log ``lease_id`` (a whole-run or a work-unit lease) appends to."""
    try:
        return leases.find_lease(session, principal.agent_id, lease_id).job_run
    except leases.LeaseLost as exc:
        lost = exc
    try:
        return units.find_unit(session, principal.agent_id, lease_id).job_run
    except units.UnitLost:
        raise conflict("LeaseLost", str(lost), target=lease_id) from None


@router.post(AGENT + "/leases/{lease_id}/progress")
def report_progress(
    lease_id: str, body: ProgressReport, principal: Agent_, session: Session_, settings: Settings_
) -> dict[str, Any]:
    lease = _lease(session, principal, lease_id)
    cancel = leases.report(
        session,
        lease,
        settings.agent_lease_seconds,
        status=body.status,
        scan_status=body.scan_status,
        counters=body.counters,
    )
    ttl = dt.timedelta(seconds=settings.run_sas_ttl_seconds)
    access_policies.renew(session, lease.job_run, lease.agent_id, ttl)
    expires = lease.expires_at.isoformat()
    session.commit()
    return {"cancelRequested": cancel, "expiresAt": expires}


@router.post(AGENT + "/leases/{lease_id}/copyLog")
def ship_copy_log(
    lease_id: str,
    request: Request,
    data: Annotated[bytes, RawBody(media_type="application/octet-stream")],
    offset: Annotated[int, Query(ge=0, description="Where the chunk starts in the lease's log.")],
    principal: Agent_,
    session: Session_,
) -> dict[str, Any]:
    """Append whole JSON lines of the leased run's copy log at ``offset``; a retried chunk
    is acknowledged again. Answers the stored size of this lease's log."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > copy_logs.MAX_CHUNK_BYTES:
        raise ArmError(
            413, "CopyLogChunkTooLarge", f"At most {copy_logs.MAX_CHUNK_BYTES} bytes per chunk."
        )
    size = copy_logs.append(session, _log_run(session, principal, lease_id), lease_id, offset, data)
    session.commit()
    return {"size": size}


@router.post(AGENT + "/leases/{lease_id}/complete")
def complete_lease(
    lease_id: str, body: Completion, principal: Agent_, session: Session_
) -> dict[str, Any]:
    lease = _lease(session, principal, lease_id)
    run_row = lease.job_run
    try:
        run = leases.complete(
            session,
            lease,
            status=body.status,
            scan_status=body.scan_status,
            counters=body.counters,
            error=body.error,
        )
    except ValueError as exc:
        raise ArmError(400, "InvalidRunStatus", str(exc), target="status") from None
    access_policies.revoke(session, run_row, lease_ids=[lease_id])  # the SAS stops working
    status = run.status
    session.commit()
    return {"status": status}
