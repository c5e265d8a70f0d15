"""projects: groups of job definitions inside a storage mover."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from ferry.control.arm import (
    check_name,
    envelope,
    require_api_version,
    resource_type,
)
from ferry.control.auth import Principal, authorize_path, require_visible
from ferry.control.deps import get_session
from ferry.control.models import JobDefinition, JobRun, Project
from ferry.control.resources import (
    commit,
    find_project,
    missing,
    project_id,
    require_mover,
    stamp_created,
    stamp_modified,
)
from ferry.control.routes import MOVER_PATH
from ferry.control.routes.arm_routes import DELETE_RESPONSES, AuthorizedCall, in_use, not_there
from ferry.control.schemas import ProjectPatch, ProjectPut
from ferry.protocol import ACTIVE_RUN_STATUSES

TYPE = resource_type("storageMovers", "projects")
COLLECTION = MOVER_PATH + "/projects"
ITEM = COLLECTION + "/{project}"

router = APIRouter(tags=["projects"], dependencies=[Depends(require_api_version)])


def render(project: Project) -> dict[str, Any]:
    properties = {} if project.description is None else {"description": project.description}
    return envelope(project, project_id(project), TYPE, properties)


@router.get(ITEM)
def get_project(
    subscription_id: str,
    resource_group: str,
    mover: str,
    project: str,
    principal: Annotated[Principal, Depends(authorize_path)],
    session: Annotated[Session, Depends(get_session)],
) -> dict[str, Any]:
    parent = require_mover(session, subscription_id, resource_group, mover)
    row = find_project(session, parent, project)
    if row is None:
        raise missing("project", project)
    require_visible(principal, project_id(row))
    return render(row)


@router.put(ITEM)
def put_project(
    subscription_id: str,
    resource_group: str,
    mover: str,
    project: str,
    body: ProjectPut,
    principal: Annotated[Principal, Depends(authorize_path)],
    session: Annotated[Session, Depends(get_session)],
) -> dict[str, Any]:
    parent = require_mover(session, subscription_id, resource_group, mover)
    row = find_project(session, parent, project)
    if row is None:
        check_name("project", project)
        row = Project(storage_mover_id=parent.id, storage_mover=parent)
        stamp_created(row, principal, project)
        session.add(row)
    else:
        stamp_modified(row, principal)
    row.description = body.properties.description
    commit(session, f"Project '{project}'")
    return render(row)


@router.patch(ITEM)
def patch_project(
    subscription_id: str,
    resource_group: str,
    mover: str,
    project: str,
    body: ProjectPatch,
    principal: Annotated[Principal, Depends(authorize_path)],
    session: Annotated[Session, Depends(get_session)],
) -> dict[str, Any]:
    parent = require_mover(session, subscription_id, resource_group, mover)
    row = find_project(session, parent, project)
    if row is None:
        raise missing("project", project)
    if body.properties is not None and "description" in body.properties.model_fields_set:
        row.description = body.properties.description
    stamp_modified(row, principal)
    commit(session, f"Project '{project}'")
    return render(row)


@router.delete(ITEM, status_code=202, responses=DELETE_RESPONSES)
def delete_project(
    subscription_id: str, resource_group: str, mover: str, project: str, call: AuthorizedCall
) -> Response:
    session = call.session
    parent = require_mover(session, subscription_id, resource_group, mover)
    row = find_project(session, parent, project)
    if row is None:
        return not_there()
    running = session.scalars(
        select(JobDefinition.name)
        .join(JobRun, JobRun.job_definition_id == JobDefinition.id)
        .where(JobDefinition.project_id == row.id, JobRun.status.in_(ACTIVE_RUN_STATUSES))
        .distinct()
    ).all()
    if running:
        raise in_use(
            "JobRunActive",
            "Project",
            row.name,
            f"has active job runs ({', '.join(sorted(running))})",
            then="stop them first",
        )
    return call.accepted_delete(parent.location, project_id(row), lambda: session.delete(row))


@router.get(COLLECTION)
def list_projects(
    subscription_id: str, resource_group: str, mover: str, call: AuthorizedCall
) -> dict[str, Any]:
    return call.mover_page(subscription_id, resource_group, mover, Project, render)
