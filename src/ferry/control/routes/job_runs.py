"""startJob / stopJob and the read-only jobRuns. A run snapshots its definition and endpoints
at start and waits in Queued until an agent takes it (docs/design.md §5.3)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from ferry.control import job_run_start, run_progress, work_units
from ferry.control.arm import (
    conflict,
    envelope,
    parent_not_found,
    require_api_version,
    resource_type,
)
from ferry.control.auth import Principal, authorize_path, require_visible
from ferry.control.deps import get_session, get_settings
from ferry.control.models import JobDefinition, JobRun, utcnow
from ferry.control.resources import (
    active_run,
    job_run_id,
    missing,
    require_mover,
    require_project,
)
from ferry.control.routes import job_definitions
from ferry.control.routes.arm_routes import AuthorizedCall
from ferry.control.settings import Settings
from ferry.protocol import RunStatus

TYPE = resource_type("storageMovers", "projects", "jobDefinitions", "jobRuns")
DEFINITION = job_definitions.ITEM
COLLECTION = DEFINITION + "/jobRuns"
ITEM = COLLECTION + "/{job_run}"

router = APIRouter(tags=["jobRuns"], dependencies=[Depends(require_api_version)])


def render(run: JobRun) -> dict[str, Any]:
    snapshot = run.properties
    session = object_session(run)
    live = work_units.live_counters(session, run) if session is not None else None
    properties: dict[str, Any] = {
        "status": run.status,
        "triggerType": run.trigger_type,
        "agentName": snapshot.get("agentName", ""),
        "agentResourceId": snapshot.get("agentResourceId", ""),
        "sourceName": snapshot.get("sourceName"),
        "sourceResourceId": snapshot.get("sourceResourceId"),
        "sourceProperties": snapshot.get("sourceProperties"),
        "targetName": snapshot.get("targetName"),
        "targetResourceId": snapshot.get("targetResourceId"),
        "targetProperties": snapshot.get("targetProperties"),
        "jobDefinitionProperties": snapshot.get("jobDefinitionProperties"),
        **run_progress.wire(run, live),
    }
    if run.scheduled_execution_time is not None:
        properties["scheduledExecutionTime"] = run.scheduled_execution_time.isoformat()
    if run.last_status_update is not None:
        properties["lastStatusUpdate"] = run.last_status_update.isoformat()
    return envelope(run, job_run_id(run), TYPE, properties)


def load_definition(
    session: Session,
    subscription: str,
    group: str,
    mover: str,
    project: str,
    name: str,
    *,
    below: bool = False,
) -> JobDefinition:
    """The job definition, locked; a 404 ResourceNotFound if it is missing, or
    ParentResourceNotFound when the caller addresses something below it (its runs)."""
    parent = require_project(session, require_mover(session, subscription, group, mover), project)
    job = session.scalar(
        select(JobDefinition)
        .where(JobDefinition.project_id == parent.id, JobDefinition.key == name.lower())
        .with_for_update()
    )
    if job is None:
        raise (parent_not_found if below else missing)("job definition", name)
    return job


@router.post(DEFINITION + "/startJob")
def start_job(
    subscription_id: str,
    resource_group: str,
    mover: str,
    project: str,
    job_definition: str,
    principal: Annotated[Principal, Depends(authorize_path)],
    session: Annotated[Session, Depends(get_session)],
    settings: Annotated[Settings, Depends(get_settings)],
) -> dict[str, str]:
    with job_run_start.start_lock:
        job = load_definition(
            session, subscription_id, resource_group, mover, project, job_definition
        )
        run = job_run_start.start_run(session, job, settings, principal)
        session.commit()
        return {"jobRunResourceId": job_run_id(run)}


@router.post(DEFINITION + "/stopJob")
def stop_job(
    subscription_id: str,
    resource_group: str,
    mover: str,
    project: str,
    job_definition: str,
    _principal: Annotated[Principal, Depends(authorize_path)],
    session: Annotated[Session, Depends(get_session)],
) -> dict[str, str]:
    job = load_definition(session, subscription_id, resource_group, mover, project, job_definition)
    run = active_run(session, job)
    if run is None:
        raise conflict(
            "NoActiveJobRun",
            f"Job definition '{job.name}' has no active run to stop.",
            target=job.name,
        )
    # a queued run has no agent to tell: it is canceled at once
    queued = run.status == RunStatus.QUEUED
    run.status = RunStatus.CANCELED if queued else RunStatus.CANCEL_REQUESTED
    run.last_status_update = utcnow()
    session.commit()
    return {"jobRunResourceId": job_run_id(run)}


@router.get(ITEM)
def get_job_run(
    subscription_id: str,
    resource_group: str,
    mover: str,
    project: str,
    job_definition: str,
    job_run: str,
    principal: Annotated[Principal, Depends(authorize_path)],
    session: Annotated[Session, Depends(get_session)],
) -> dict[str, Any]:
    job = load_definition(
        session, subscription_id, resource_group, mover, project, job_definition, below=True
    )
    run = session.scalar(
        select(JobRun).where(JobRun.job_definition_id == job.id, JobRun.key == job_run.lower())
    )
    if run is None:
        raise missing("job run", job_run)
    require_visible(principal, job_run_id(run))
    return render(run)


@router.get(COLLECTION)
def list_job_runs(
    subscription_id: str,
    resource_group: str,
    mover: str,
    project: str,
    job_definition: str,
    call: AuthorizedCall,
) -> dict[str, Any]:
    job = load_definition(
        call.session, subscription_id, resource_group, mover, project, job_definition, below=True
    )
    return call.page(select(JobRun).where(JobRun.job_definition_id == job.id), JobRun.id, render)
