"""Starting a job run: the rules that refuse a start (one active run per job definition, a
limit per storage mover) and the run's snapshot of its definition and endpoints. startJob
and the scheduler both start runs here."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ferry.control.arm import conflict
from ferry.control.auth import Principal
from ferry.control.models import JobDefinition, JobRun, StorageMover, utcnow
from ferry.control.resource_properties import endpoint_properties, job_definition_properties
from ferry.control.resources import active_run, job_run_id, stamp_created
from ferry.control.settings import Settings
from ferry.protocol import ACTIVE_RUN_STATUSES, RunStatus

# SQLite ignores FOR UPDATE: within one process this keeps "check, then insert" atomic.
start_lock = threading.Lock()


def snapshot(session: Session, job: JobDefinition) -> dict[str, Any]:
    definition = job_definition_properties(session, job)
    return {
        "agentName": definition.get("agentName", ""),
        "agentResourceId": definition.get("agentResourceId", ""),
        "sourceName": job.source.name,
        "sourceResourceId": definition["sourceResourceId"],
        "sourceProperties": endpoint_properties(job.source),
        "targetName": job.target.name,
        "targetResourceId": definition["targetResourceId"],
        "targetProperties": endpoint_properties(job.target),
        "jobDefinitionProperties": {**definition, "provisioningState": job.provisioning_state},
    }


def start_run(
    session: Session,
    job: JobDefinition,
    settings: Settings,
    principal: Principal,
    *,
    trigger_type: str = "Manual",
    scheduled_execution_time: dt.datetime | None = None,
) -> JobRun:
    """Queue a run of ``job`` (locked by the caller, under ``start_lock``), or raise the 409
    of the rule it breaks. startJob and the scheduler both start runs here; the caller
    commits."""
    mover_id = job.project.storage_mover_id
    # Replicas (other processes) starting runs on one mover take turns from here on, so that
    # neither check below is passed by two at once: a no-op UPDATE takes the mover's row lock
    # on PostgreSQL and the write lock on SQLite, where SELECT ... FOR UPDATE takes nothing.
    session.execute(
        update(StorageMover).where(StorageMover.id == mover_id).values(id=StorageMover.id)
    )
    current = active_run(session, job)
    if current is not None:
        raise conflict(
            "JobRunAlreadyActive",
            f"Job definition '{job.name}' already has an active run ({current.name}, "
            f"{current.status}); wait for it to finish or stop it.",
            target=job.name,
        )
    active = session.scalar(
        select(func.count(JobRun.id)).where(
            JobRun.storage_mover_id == mover_id, JobRun.status.in_(ACTIVE_RUN_STATUSES)
        )
    )
    limit = settings.max_active_runs_per_mover
    if (active or 0) >= limit:
        mover = job.project.storage_mover.name
        raise conflict(
            "TooManyActiveJobRuns",
            f"Storage mover '{mover}' already has {active} active job runs (at most "
            f"{limit}); wait for one to finish.",
            target=mover,
        )
    run = JobRun(
        job_definition_id=job.id,
        job_definition=job,
        storage_mover_id=mover_id,
        status=RunStatus.QUEUED,
        trigger_type=trigger_type,
        scheduled_execution_time=scheduled_execution_time,
        last_status_update=utcnow(),
    )
    run.properties = snapshot(session, job)
    stamp_created(run, principal, str(uuid.uuid4()))
    session.add(run)
    session.flush()
    # the definition's snapshot shows the run it starts, as the real service's does
    run.properties = {
        **run.properties,
        "jobDefinitionProperties": {
            **run.properties["jobDefinitionProperties"],
            "latestJobRunName": run.name,
            "latestJobRunResourceId": job_run_id(run),
            "latestJobRunStatus": run.status,
        },
    }
    return run
