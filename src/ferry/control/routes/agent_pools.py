"""agentPools (Ferry extension): agents of a storage mover that share the work units of the
runs of job definitions naming the pool (``agentPoolName``). A pool named by a job
definition cannot be deleted."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from pydantic import Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from ferry.control.arm import (
    bad_request,
    check_name,
    envelope,
    require_api_version,
    resource_type,
)
from ferry.control.auth import Principal, authorize_path, require_visible
from ferry.control.deps import get_session
from ferry.control.models import Agent, AgentPool, AgentPoolMember, JobDefinition, StorageMover
from ferry.control.resources import (
    agent_id,
    commit,
    missing,
    mover_id,
    require_mover,
    stamp_created,
    stamp_modified,
)
from ferry.control.routes import MOVER_PATH
from ferry.control.routes.arm_routes import (
    DELETE_RESPONSES,
    AuthorizedCall,
    not_there,
    refuse_while_used,
)
from ferry.control.schemas import Body, Description

TYPE = resource_type("storageMovers", "agentPools")
COLLECTION = MOVER_PATH + "/agentPools"
ITEM = COLLECTION + "/{pool}"
MAX_AGENTS = 100

router = APIRouter(tags=["agentPools"], dependencies=[Depends(require_api_version)])
AgentNames = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=90)]], Field(max_length=MAX_AGENTS)
]


class AgentPoolProperties(Body):
    agents: AgentNames = Field(default_factory=list)
    description: Description = None


class AgentPoolPut(Body):
    properties: AgentPoolProperties = Field(default_factory=lambda: AgentPoolProperties())


class AgentPoolPatchProperties(Body):
    agents: AgentNames | None = None
    description: Description = None


class AgentPoolPatch(Body):
    properties: AgentPoolPatchProperties | None = None


def pool_id(pool: AgentPool) -> str:
    return f"{mover_id(pool.storage_mover)}/agentPools/{pool.name}"


def render(pool: AgentPool) -> dict[str, Any]:
    members = [member.agent for member in pool.members]
    properties: dict[str, Any] = {
        "agents": [agent.name for agent in members],
        "agentResourceIds": [agent_id(agent) for agent in members],
    }
    if pool.description is not None:
        properties["description"] = pool.description
    return envelope(pool, pool_id(pool), TYPE, properties)


def find_pool(session: Session, mover: StorageMover, name: str) -> AgentPool | None:
    return session.scalar(
        select(AgentPool).where(
            AgentPool.storage_mover_id == mover.id, AgentPool.key == name.lower()
        )
    )


def resolve_pool(session: Session, mover: StorageMover, name: str | None) -> AgentPool | None:
    """The pool a job definition's ``agentPoolName`` names (None for none), or a 400."""
    if not name:
        return None
    pool = find_pool(session, mover, name)
    if pool is None:
        raise bad_request(
            "AgentPoolNotFound",
            f"Agent pool '{name}' does not exist in storage mover '{mover.name}'.",
            target="properties.agentPoolName",
        )
    return pool


def _set_agents(session: Session, pool: AgentPool, mover: StorageMover, names: list[str]) -> None:
    keys = list(dict.fromkeys(name.lower() for name in names))
    found = {
        agent.key: agent
        for agent in session.scalars(
            select(Agent).where(Agent.storage_mover_id == mover.id, Agent.key.in_(keys))
        )
    }
    unknown = [name for name in names if name.lower() not in found]
    if unknown:
        raise bad_request(
            "AgentNotFound",
            f"Agent(s) {', '.join(sorted(set(unknown)))} are not registered in storage mover "
            f"'{mover.name}'.",
            target="properties.agents",
        )
    pool.members.clear()
    session.flush()
    pool.members.extend(
        AgentPoolMember(agent_id=found[key].id, agent=found[key], position=i)
        for i, key in enumerate(keys)
    )


@router.get(ITEM)
def get_agent_pool(
    subscription_id: str,
    resource_group: str,
    mover: str,
    pool: str,
    principal: Annotated[Principal, Depends(authorize_path)],
    session: Annotated[Session, Depends(get_session)],
) -> dict[str, Any]:
    row = find_pool(session, require_mover(session, subscription_id, resource_group, mover), pool)
    if row is None:
        raise missing("agent pool", pool)
    require_visible(principal, pool_id(row))
    return render(row)


@router.put(ITEM)
def put_agent_pool(
    subscription_id: str,
    resource_group: str,
    mover: str,
    pool: str,
    body: AgentPoolPut,
    principal: Annotated[Principal, Depends(authorize_path)],
    session: Annotated[Session, Depends(get_session)],
) -> dict[str, Any]:
    parent = require_mover(session, subscription_id, resource_group, mover)
    row = find_pool(session, parent, pool)
    if row is None:
        check_name("agent pool", pool)
        row = AgentPool(storage_mover_id=parent.id, storage_mover=parent)
        stamp_created(row, principal, pool)
        session.add(row)
    else:
        stamp_modified(row, principal)
    row.description = body.properties.description
    _set_agents(session, row, parent, body.properties.agents)
    commit(session, f"Agent pool '{pool}'")
    return render(row)


@router.patch(ITEM)
def patch_agent_pool(
    subscription_id: str,
    resource_group: str,
    mover: str,
    pool: str,
    body: AgentPoolPatch,
    principal: Annotated[Principal, Depends(authorize_path)],
    session: Annotated[Session, Depends(get_session)],
) -> dict[str, Any]:
    parent = require_mover(session, subscription_id, resource_group, mover)
    row = find_pool(session, parent, pool)
    if row is None:
        raise missing("agent pool", pool)
    changes = body.properties
    if changes is not None:
        if "description" in changes.model_fields_set:
            row.description = changes.description
        if changes.agents is not None:
            _set_agents(session, row, parent, changes.agents)
    stamp_modified(row, principal)
    commit(session, f"Agent pool '{pool}'")
    return render(row)


@router.delete(ITEM, status_code=202, responses=DELETE_RESPONSES)
def delete_agent_pool(
    subscription_id: str, resource_group: str, mover: str, pool: str, call: AuthorizedCall
) -> Response:
    session = call.session
    parent = require_mover(session, subscription_id, resource_group, mover)
    row = find_pool(session, parent, pool)
    if row is None:
        return not_there()
    users = session.scalars(
        select(JobDefinition.name)
        .where(JobDefinition.agent_pool_id == row.id)
        .order_by(JobDefinition.name)
    ).all()
    refuse_while_used(
        "Agent pool", row.name, users, "job definition(s)", "point them elsewhere first"
    )
    return call.accepted_delete(parent.location, pool_id(row), lambda: session.delete(row))


@router.get(COLLECTION)
def list_agent_pools(
    subscription_id: str, resource_group: str, mover: str, call: AuthorizedCall
) -> dict[str, Any]:
    return call.mover_page(subscription_id, resource_group, mover, AgentPool, render)
