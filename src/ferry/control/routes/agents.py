"""agents: read, update (description, upload-limit schedule) and unregister. Agents come into
being by registration (docs/design.md §8.2), so a PUT can only update an agent that exists."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from sqlalchemy.orm import Session

from ferry.control import registrations, work_units
from ferry.control.arm import (
    bad_request,
    envelope,
    require_api_version,
    resource_type,
)
from ferry.control.auth import Principal, authorize_path, require_visible
from ferry.control.deps import get_session
from ferry.control.models import Agent
from ferry.control.resources import (
    agent_id,
    commit,
    find_agent,
    missing,
    require_mover,
    stamp_modified,
)
from ferry.control.routes import MOVER_PATH
from ferry.control.routes.arm_routes import DELETE_RESPONSES, AuthorizedCall, in_use, not_there
from ferry.control.schemas import Body, Description
from ferry.control.upload_limits import SCHEDULE_FIELD, check_schedule
from ferry.protocol import UploadLimitSchedule

TYPE = resource_type("storageMovers", "agents")
COLLECTION = MOVER_PATH + "/agents"
ITEM = COLLECTION + "/{agent}"
# what the agent reports about itself, kept in Agent.properties under these wire names
TELEMETRY_FIELDS = (
    "agentVersion",
    "lastStatusUpdate",
    "localIPAddress",
    "memoryInMB",
    "numberOfCores",
    "uptimeInSeconds",
    "timeZone",
    "errorDetails",
)
router = APIRouter(tags=["agents"], dependencies=[Depends(require_api_version)])


class AgentPutProperties(Body):
    description: Description = None
    # required by the SDK's model, fixed at registration: accepted only unchanged
    arc_resource_id: str | None = None
    arc_vm_uuid: str | None = None
    upload_limit_schedule: UploadLimitSchedule | None = None


class AgentPut(Body):
    properties: AgentPutProperties


class AgentPatchProperties(Body):
    description: Description = None
    upload_limit_schedule: UploadLimitSchedule | None = None


class AgentPatch(Body):
    properties: AgentPatchProperties | None = None


def render(agent: Agent) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "arcResourceId": agent.arc_resource_id,
        "arcVmUuid": agent.arc_vm_uuid,
        "agentStatus": agent.agent_status,
    }
    if agent.description is not None:
        properties["description"] = agent.description
    properties.update({name: agent.properties.get(name) for name in TELEMETRY_FIELDS})
    if SCHEDULE_FIELD in agent.properties:
        properties[SCHEDULE_FIELD] = agent.properties[SCHEDULE_FIELD]
    return envelope(agent, agent_id(agent), TYPE, properties)


def set_schedule(agent: Agent, schedule: UploadLimitSchedule | None) -> None:
    """Replace the whole schedule (as the Storage Mover tools do); None clears it."""
    properties = {k: v for k, v in agent.properties.items() if k != SCHEDULE_FIELD}
    if schedule is not None:
        check_schedule(schedule)
        properties[SCHEDULE_FIELD] = schedule.model_dump(mode="json", by_alias=True)
    agent.properties = properties


def check_unchanged(agent: Agent, given: AgentPutProperties) -> None:
    for field, current, wanted in (
        ("arcResourceId", agent.arc_resource_id, given.arc_resource_id),
        ("arcVmUuid", agent.arc_vm_uuid, given.arc_vm_uuid),
    ):
        if wanted is not None and wanted.lower() != current.lower():
            raise bad_request(
                "PropertyChangeNotAllowed",
                f"The {field} of agent '{agent.name}' is set at registration and cannot be "
                "changed.",
                target=f"properties.{field}",
            )


def load_agent(
    session: Session, subscription: str, group: str, mover: str, name: str
) -> Agent | None:
    return find_agent(session, require_mover(session, subscription, group, mover), name)


@router.get(ITEM)
def get_agent(
    subscription_id: str,
    resource_group: str,
    mover: str,
    agent: str,
    principal: Annotated[Principal, Depends(authorize_path)],
    session: Annotated[Session, Depends(get_session)],
) -> dict[str, Any]:
    row = load_agent(session, subscription_id, resource_group, mover, agent)
    if row is None:
        raise missing("agent", agent)
    require_visible(principal, agent_id(row))
    return render(row)


@router.put(ITEM)
def put_agent(
    subscription_id: str,
    resource_group: str,
    mover: str,
    agent: str,
    body: AgentPut,
    principal: Annotated[Principal, Depends(authorize_path)],
    session: Annotated[Session, Depends(get_session)],
) -> dict[str, Any]:
    row = load_agent(session, subscription_id, resource_group, mover, agent)
    if row is None:
        raise bad_request(
            "AgentRegistrationRequired",
            f"Agent '{agent}' is not registered. Agents are added by registering them "
            "('ferry agent register' on the agent's machine), not by PUT.",
            target=agent,
        )
    check_unchanged(row, body.properties)
    row.description = body.properties.description
    set_schedule(row, body.properties.upload_limit_schedule)
    stamp_modified(row, principal)
    commit(session, f"Agent '{agent}'")
    return render(row)


@router.patch(ITEM)
def patch_agent(
    subscription_id: str,
    resource_group: str,
    mover: str,
    agent: str,
    body: AgentPatch,
    principal: Annotated[Principal, Depends(authorize_path)],
    session: Annotated[Session, Depends(get_session)],
) -> dict[str, Any]:
    row = load_agent(session, subscription_id, resource_group, mover, agent)
    if row is None:
        raise missing("agent", agent)
    changes = body.properties
    if changes is not None:
        if "description" in changes.model_fields_set:
            row.description = changes.description
        if "upload_limit_schedule" in changes.model_fields_set:
            set_schedule(row, changes.upload_limit_schedule)
    stamp_modified(row, principal)
    commit(session, f"Agent '{agent}'")
    return render(row)


@router.delete(ITEM, status_code=202, responses=DELETE_RESPONSES)
def delete_agent(
    subscription_id: str, resource_group: str, mover: str, agent: str, call: AuthorizedCall
) -> Response:
    """Unregister (registrations.unregister): refused while a run of a job definition naming
    the agent waits for it (Queued, or its unit queued again after a lost lease);
    runs the agent is carrying out end Failed (AgentUnregistered) and the stored access
    policies behind their SAS are removed, so its grants end at once. Definitions that name
    it keep going without an agent."""
    session = call.session
    parent = require_mover(session, subscription_id, resource_group, mover)
    row = find_agent(session, parent, agent)
    if row is None:
        return not_there()
    busy = work_units.waiting_runs_of(session, row.id)
    if busy:
        raise in_use(
            "AgentInUse",
            "Agent",
            row.name,
            f"has active job runs of the job definition(s) {', '.join(busy)}",
            then="stop them first",
        )

    return call.accepted_delete(
        parent.location, agent_id(row), lambda: registrations.unregister(session, row)
    )


@router.get(COLLECTION)
def list_agents(
    subscription_id: str, resource_group: str, mover: str, call: AuthorizedCall
) -> dict[str, Any]:
    return call.mover_page(subscription_id, resource_group, mover, Agent, render)
