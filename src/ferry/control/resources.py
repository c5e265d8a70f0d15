"""Finding resources by their ARM path, their ids, and stamping systemData on writes."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ferry.control.arm import ArmError, conflict, not_found, parent_not_found, provider_prefix
from ferry.control.auth import Principal
from ferry.control.models import (
    Agent,
    ArmResource,
    Endpoint,
    JobDefinition,
    JobRun,
    Project,
    StorageMover,
    utcnow,
)
from ferry.protocol import ACTIVE_RUN_STATUSES

CREATED_BY_TYPE = "User"


def stamp_created(row: ArmResource, principal: Principal, name: str) -> None:
    now = utcnow()
    row.name = name
    row.key = name.lower()
    row.provisioning_state = "Succeeded"
    row.created_at = row.modified_at = now
    row.created_by = row.modified_by = principal.name
    row.created_by_type = row.modified_by_type = CREATED_BY_TYPE


def stamp_modified(row: ArmResource, principal: Principal) -> None:
    row.modified_at = utcnow()
    row.modified_by = principal.name
    row.modified_by_type = CREATED_BY_TYPE


def commit(session: Session, what: str) -> None:
    """Commit; a unique-key race with another request becomes a 409, not a 500."""
    try:
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        raise conflict("Conflict", f"{what} was changed by another request; retry.") from exc


# --------------------------------------------------------------------------------------------
# ids


def mover_id(mover: StorageMover) -> str:
    prefix = provider_prefix(mover.subscription_id, mover.resource_group)
    return f"{prefix}/storageMovers/{mover.name}"


def agent_id(agent: Agent) -> str:
    return f"{mover_id(agent.storage_mover)}/agents/{agent.name}"


def endpoint_id(endpoint: Endpoint) -> str:
    return f"{mover_id(endpoint.storage_mover)}/endpoints/{endpoint.name}"


def project_id(project: Project) -> str:
    return f"{mover_id(project.storage_mover)}/projects/{project.name}"


def job_definition_id(job: JobDefinition) -> str:
    return f"{project_id(job.project)}/jobDefinitions/{job.name}"


def job_run_id(run: JobRun) -> str:
    return f"{job_definition_id(run.job_definition)}/jobRuns/{run.name}"


# --------------------------------------------------------------------------------------------
# look-ups: find_* answer None, require_* raise the ARM 404


def find_mover(session: Session, subscription: str, group: str, name: str) -> StorageMover | None:
    return session.scalar(
        select(StorageMover).where(
            StorageMover.subscription_key == subscription.lower(),
            StorageMover.resource_group_key == group.lower(),
            StorageMover.key == name.lower(),
        )
    )


def require_mover(
    session: Session, subscription: str, group: str, name: str, *, parent: bool = True
) -> StorageMover:
    mover = find_mover(session, subscription, group, name)
    if mover is None:
        raise (parent_not_found if parent else not_found)("storage mover", name)
    return mover


def find_endpoint(session: Session, mover: StorageMover, name: str) -> Endpoint | None:
    return session.scalar(
        select(Endpoint).where(Endpoint.storage_mover_id == mover.id, Endpoint.key == name.lower())
    )


def find_agent(session: Session, mover: StorageMover, name: str) -> Agent | None:
    return session.scalar(
        select(Agent).where(Agent.storage_mover_id == mover.id, Agent.key == name.lower())
    )


def find_project(session: Session, mover: StorageMover, name: str) -> Project | None:
    return session.scalar(
        select(Project).where(Project.storage_mover_id == mover.id, Project.key == name.lower())
    )


def require_project(session: Session, mover: StorageMover, name: str) -> Project:
    project = find_project(session, mover, name)
    if project is None:
        raise parent_not_found("project", name)
    return project


def find_job_definition(session: Session, project: Project, name: str) -> JobDefinition | None:
    return session.scalar(
        select(JobDefinition).where(
            JobDefinition.project_id == project.id, JobDefinition.key == name.lower()
        )
    )


def active_run(session: Session, job: JobDefinition) -> JobRun | None:
    return session.scalar(
        select(JobRun)
        .where(JobRun.job_definition_id == job.id, JobRun.status.in_(ACTIVE_RUN_STATUSES))
        .order_by(JobRun.id.desc())
        .limit(1)
    )


def latest_run(session: Session, job: JobDefinition) -> JobRun | None:
    """The definition's newest run, active or ended: what ``latestJobRun*`` show, as the
    portal and scripts read them after a run."""
    return session.scalar(
        select(JobRun).where(JobRun.job_definition_id == job.id).order_by(JobRun.id.desc()).limit(1)
    )


def missing(kind: str, name: str) -> ArmError:
    return not_found(kind, name)
