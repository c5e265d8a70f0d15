"""The agent protocol: Ferry's own API beside the ARM one, always agent-initiated.

Unauthenticated: asking for a registration and polling it. Admin token: approving a user
code. Signed with the agent key: getting an agent token. Agent token: the agent itself and its
heartbeat, whose answer carries the agent's ``uploadLimitSchedule``; leasing work is in
routes.agent_leases. Every route an agent calls checks its protocol version
(docs/agent-protocol.md)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import Field
from sqlalchemy.orm import Session

from ferry.control import registrations, work_units
from ferry.control.agent_auth import (
    AgentPrincipal,
    authenticate_agent,
    current_agent,
    issue_agent_token,
    require_protocol_version,
)
from ferry.control.arm import ArmError, check_name, check_resource_group
from ferry.control.auth import Principal, authenticate
from ferry.control.deps import get_session, get_settings
from ferry.control.models import AgentIdentity, AgentRegistration, utcnow
from ferry.control.resources import agent_id
from ferry.control.routes.agents import render as render_agent
from ferry.control.schemas import Body
from ferry.control.settings import Settings
from ferry.control.upload_limits import agent_schedule
from ferry.protocol import (
    AGENT,
    HEARTBEAT,
    REGISTRATIONS,
    TOKEN,
    AgentStatus,
    Heartbeat,
    HeartbeatAnswer,
    Registration,
    RegistrationRequest,
    TokenAnswer,
)

router = APIRouter(tags=["agent protocol"])
Session_ = Annotated[Session, Depends(get_session)]
Settings_ = Annotated[Settings, Depends(get_settings)]
Agent_ = Annotated[AgentPrincipal, Depends(authenticate_agent)]
Versioned = Depends(require_protocol_version)


class Approval(Body):
    user_code: Annotated[str, Field(min_length=1, max_length=32)]


def _registration(registration: AgentRegistration, user_code: str | None = None) -> Registration:
    return Registration.model_validate(
        {
            "id": registration.id,
            "status": registrations.current_status(registration),
            "storageMover": registration.storage_mover,
            "agentName": registration.agent_name,
            "expiresAt": registration.expires_at.isoformat(),
            "userCode": user_code,
        }
    )


@router.post(REGISTRATIONS, status_code=201, dependencies=[Versioned])
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
    return _registration(registration, registrations.shown_code(code)).wire()


@router.get(REGISTRATIONS + "/{registration_id}", dependencies=[Versioned])
def get_registration(registration_id: str, session: Session_) -> dict[str, Any]:
    registration = session.get(AgentRegistration, registration_id)
    if registration is None:
        raise ArmError(
            404, "RegistrationNotFound", f"There is no agent registration '{registration_id}'."
        )
    return _registration(registration).model_dump(mode="json", by_alias=True, exclude_none=True)


@router.post(REGISTRATIONS + "/approve")
def approve_registration(
    body: Approval,
    principal: Annotated[Principal, Depends(authenticate)],
    session: Session_,
) -> dict[str, Any]:
    agent = registrations.approve(session, body.user_code, principal)
    return render_agent(agent)


@router.post(TOKEN, dependencies=[Versioned])
def agent_token(request: Request, session: Session_, settings: Settings_) -> dict[str, Any]:
    token, expires = issue_agent_token(request, session, settings)
    answer = TokenAnswer(
        token=token,
        expires_on=expires.isoformat(),
        expires_in=int(settings.agent_token_ttl_seconds),
    )
    return answer.wire()


@router.get(AGENT, dependencies=[Versioned])
def agent_self(principal: Agent_, session: Session_) -> dict[str, Any]:
    agent = current_agent(session, principal)
    return render_agent(agent)


@router.post(HEARTBEAT, dependencies=[Versioned])
def heartbeat(body: Heartbeat, principal: Agent_, session: Session_) -> dict[str, Any]:
    agent = current_agent(session, principal, for_update=True)
    now = utcnow()
    properties = {**agent.properties, **registrations.facts_of(body.facts)}
    properties["lastStatusUpdate"] = now.isoformat()
    if body.error_details is not None:
        properties["errorDetails"] = body.error_details.model_dump()
        agent.agent_status = AgentStatus.REQUIRES_ATTENTION
    else:
        properties.pop("errorDetails", None)
        busy = work_units.holds_unit(session, agent.id)
        agent.agent_status = AgentStatus.EXECUTING if busy else AgentStatus.ONLINE
    agent.properties = properties
    identity = session.get(AgentIdentity, agent.id)
    if identity is not None:
        identity.last_seen_at = now
    answer = HeartbeatAnswer(
        agent_status=AgentStatus(agent.agent_status),
        agent_resource_id=agent_id(agent),
        upload_limit_schedule=agent_schedule(agent),
    )
    session.commit()
    return answer.wire()
