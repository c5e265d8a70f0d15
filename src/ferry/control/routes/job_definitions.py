"""jobDefinitions: what to copy from which endpoint to which, and how; source, target and
subpaths are fixed at creation (a changed source must never meet an old Mirror target)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from ferry.control import schedules
from ferry.control.arm import (
    bad_request,
    check_name,
    envelope,
    require_api_version,
    resource_type,
)
from ferry.control.auth import Principal, authorize_path, require_visible
from ferry.control.deps import get_session, get_settings
from ferry.control.models import Agent, AgentPool, Endpoint, JobDefinition, Project, StorageMover
from ferry.control.resource_properties import job_definition_properties
from ferry.control.resources import (
    active_run,
    commit,
    find_endpoint,
    find_job_definition,
    job_definition_id,
    missing,
    require_mover,
    require_project,
    stamp_created,
    stamp_modified,
)
from ferry.control.routes import MOVER_PATH
from ferry.control.routes.agent_pools import resolve_pool
from ferry.control.routes.arm_routes import DELETE_RESPONSES, AuthorizedCall, in_use, not_there
from ferry.control.rules import check_pair, check_subpath
from ferry.control.schemas import (
    JOB_DEFINITION_IMMUTABLE,
    JobDefinitionPatch,
    JobDefinitionProperties,
    JobDefinitionPut,
)
from ferry.control.settings import Settings

TYPE = resource_type("storageMovers", "projects", "jobDefinitions")
COLLECTION = MOVER_PATH + "/projects/{project}/jobDefinitions"
ITEM = COLLECTION + "/{job_definition}"

router = APIRouter(tags=["jobDefinitions"], dependencies=[Depends(require_api_version)])


def renderer(session: Session) -> Any:
    def render(job: JobDefinition) -> dict[str, Any]:
        return envelope(job, job_definition_id(job), TYPE, job_definition_properties(session, job))

    return render


def require_job_definition(session: Session, project: Project, name: str) -> JobDefinition:
    job = find_job_definition(session, project, name)
    if job is None:
        raise missing("job definition", name)
    return job


def resolve_endpoint(session: Session, mover: StorageMover, name: str, field: str) -> Endpoint:
    endpoint = find_endpoint(session, mover, name)
    if endpoint is None:
        raise bad_request(
            "EndpointNotFound",
            f"Endpoint '{name}' does not exist in storage mover '{mover.name}'.",
            target=f"properties.{field}",
        )
    return endpoint


def resolve_agent(session: Session, mover: StorageMover, name: str | None) -> Agent | None:
    if not name:
        return None
    agent = session.scalar(
        select(Agent).where(Agent.storage_mover_id == mover.id, Agent.key == name.lower())
    )
    if agent is None:
        raise bad_request(
            "AgentNotFound",
            f"Agent '{name}' is not registered in storage mover '{mover.name}'.",
            target="properties.agentName",
        )
    return agent


def check_one_runner(agent: Agent | None, pool: AgentPool | None) -> None:
    if agent is not None and pool is not None:
        raise bad_request(
            "AgentAndAgentPool",
            "A job definition names an agent (agentName) or an agent pool (agentPoolName), "
            "not both.",
            target="properties.agentPoolName",
        )


def check_immutable(job: JobDefinition, new: JobDefinitionProperties) -> None:
    current = {
        "jobType": job.job_type,
        "sourceName": job.source.key,
        "sourceSubpath": job.source_subpath,
        "targetName": job.target.key,
        "targetSubpath": job.target_subpath,
    }
    wanted = {
        "jobType": new.job_type,
        "sourceName": new.source_name.lower(),
        "sourceSubpath": new.source_subpath,
        "targetName": new.target_name.lower(),
        "targetSubpath": new.target_subpath,
    }
    for field in JOB_DEFINITION_IMMUTABLE:
        if current[field] != wanted[field]:
            raise immutable(job, field)


def immutable(job: JobDefinition, field: str) -> Exception:
    return bad_request(
        "PropertyChangeNotAllowed",
        f"The property '{field}' of job definition '{job.name}' cannot be changed after "
        "creation; create a new job definition instead.",
        target=f"properties.{field}",
    )


@router.get(ITEM)
def get_job_definition(
    subscription_id: str,
    resource_group: str,
    mover: str,
    project: str,
    job_definition: str,
    principal: Annotated[Principal, Depends(authorize_path)],
    session: Annotated[Session, Depends(get_session)],
) -> dict[str, Any]:
    parent = require_project(
        session, require_mover(session, subscription_id, resource_group, mover), project
    )
    job = require_job_definition(session, parent, job_definition)
    require_visible(principal, job_definition_id(job))
    result: dict[str, Any] = renderer(session)(job)
    return result


@router.put(ITEM)
def put_job_definition(
    subscription_id: str,
    resource_group: str,
    mover: str,
    project: str,
    job_definition: str,
    body: JobDefinitionPut,
    principal: Annotated[Principal, Depends(authorize_path)],
    session: Annotated[Session, Depends(get_session)],
    settings: Annotated[Settings, Depends(get_settings)],
) -> dict[str, Any]:
    storage_mover = require_mover(session, subscription_id, resource_group, mover)
    parent = require_project(session, storage_mover, project)
    props = body.properties
    agent = resolve_agent(session, storage_mover, props.agent_name)
    pool = resolve_pool(session, storage_mover, props.agent_pool_name)
    check_one_runner(agent, pool)
    job = find_job_definition(session, parent, job_definition)
    if job is None:
        check_name("job definition", job_definition)
        check_subpath("sourceSubpath", props.source_subpath)
        check_subpath("targetSubpath", props.target_subpath)
        source = resolve_endpoint(session, storage_mover, props.source_name, "sourceName")
        target = resolve_endpoint(session, storage_mover, props.target_name, "targetName")
        check_pair(source, target)
        job = JobDefinition(
            project_id=parent.id,
            project=parent,
            source=source,
            target=target,
            job_type=props.job_type,
            source_subpath=props.source_subpath,
            target_subpath=props.target_subpath,
        )
        stamp_created(job, principal, job_definition)
        session.add(job)
    else:
        check_immutable(job, props)
        stamp_modified(job, principal)
    job.agent = agent
    job.agent_pool = pool
    job.description = props.description
    job.copy_mode = props.copy_mode
    job.connections = props.connections
    job.schedule = schedules.updated(
        job.schedule,
        props.schedule.given() if props.schedule is not None else None,
        source=job.source,
        now=settings.clock(),
        merge=False,
    )
    job.data_integrity_validation = props.data_integrity_validation
    job.preserve_permissions = props.preserve_permissions
    commit(session, f"Job definition '{job_definition}'")
    result: dict[str, Any] = renderer(session)(job)
    return result


@router.patch(ITEM)
def patch_job_definition(
    subscription_id: str,
    resource_group: str,
    mover: str,
    project: str,
    job_definition: str,
    body: JobDefinitionPatch,
    principal: Annotated[Principal, Depends(authorize_path)],
    session: Annotated[Session, Depends(get_session)],
    settings: Annotated[Settings, Depends(get_settings)],
) -> dict[str, Any]:
    storage_mover = require_mover(session, subscription_id, resource_group, mover)
    job = require_job_definition(
        session, require_project(session, storage_mover, project), job_definition
    )
    changes = body.properties
    if changes is not None:
        for field in JOB_DEFINITION_IMMUTABLE:
            if field in (changes.model_extra or {}):
                raise immutable(job, field)
        given = changes.model_fields_set
        if "description" in given:
            job.description = changes.description
        if changes.copy_mode is not None:
            job.copy_mode = changes.copy_mode
        if "agent_name" in given:
            job.agent = resolve_agent(session, storage_mover, changes.agent_name)
        if "agent_pool_name" in given:
            job.agent_pool = resolve_pool(session, storage_mover, changes.agent_pool_name)
        check_one_runner(job.agent, job.agent_pool)
        if "connections" in given:
            job.connections = changes.connections
        if "schedule" in given:
            job.schedule = schedules.updated(
                job.schedule,
                changes.schedule.given() if changes.schedule is not None else None,
                source=job.source,
                now=settings.clock(),
                merge=True,
            )
        if changes.data_integrity_validation is not None:
            job.data_integrity_validation = changes.data_integrity_validation
    stamp_modified(job, principal)
    commit(session, f"Job definition '{job_definition}'")
    result: dict[str, Any] = renderer(session)(job)
    return result


@router.delete(ITEM, status_code=202, responses=DELETE_RESPONSES)
def delete_job_definition(
    subscription_id: str,
    resource_group: str,
    mover: str,
    project: str,
    job_definition: str,
    call: AuthorizedCall,
) -> Response:
    session = call.session
    storage_mover = require_mover(session, subscription_id, resource_group, mover)
    parent = require_project(session, storage_mover, project)
    job = find_job_definition(session, parent, job_definition)
    if job is None:
        return not_there()
    run = active_run(session, job)
    if run is not None:
        raise in_use(
            "JobRunActive",
            "Job definition",
            job.name,
            f"has an active run ({run.name}, {run.status})",
            then="stop it first",
        )
    return call.accepted_delete(
        storage_mover.location, job_definition_id(job), lambda: session.delete(job)
    )


@router.get(COLLECTION)
def list_job_definitions(
    subscription_id: str, resource_group: str, mover: str, project: str, call: AuthorizedCall
) -> dict[str, Any]:
    session = call.session
    parent = require_project(
        session, require_mover(session, subscription_id, resource_group, mover), project
    )
    return call.page(
        select(JobDefinition).where(JobDefinition.project_id == parent.id),
        JobDefinition.id,
        renderer(session),
    )
