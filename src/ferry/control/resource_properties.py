"""The properties of endpoints and job definitions as the API shows them, which is also what
a job run records of them when it starts."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from ferry.control import schedules
from ferry.control.models import Endpoint, JobDefinition
from ferry.control.resources import endpoint_id, job_run_id, latest_run, mover_id


def endpoint_properties(endpoint: Endpoint) -> dict[str, Any]:
    """The endpoint's properties as the API shows them (also what a job run snapshots)."""
    properties: dict[str, Any] = {"endpointType": endpoint.endpoint_type}
    if endpoint.endpoint_kind is not None:
        properties["endpointKind"] = endpoint.endpoint_kind
    if endpoint.description is not None:
        properties["description"] = endpoint.description
    properties.update(endpoint.properties)
    return properties


def job_definition_properties(session: Session, job: JobDefinition) -> dict[str, Any]:
    """The definition's properties as the API shows them (also what a job run snapshots)."""
    properties: dict[str, Any] = {
        "jobType": job.job_type,
        "copyMode": job.copy_mode,
        "sourceName": job.source.name,
        "sourceResourceId": endpoint_id(job.source),
        "targetName": job.target.name,
        "targetResourceId": endpoint_id(job.target),
        "dataIntegrityValidation": job.data_integrity_validation,
        "preservePermissions": job.preserve_permissions,
    }
    optional = {
        "description": job.description,
        "sourceSubpath": job.source_subpath,
        "targetSubpath": job.target_subpath,
        "connections": job.connections,
        "schedule": schedules.wire(job.schedule),
    }
    properties.update({k: v for k, v in optional.items() if v is not None})
    if job.agent is not None:
        properties["agentName"] = job.agent.name
        properties["agentResourceId"] = (
            f"{mover_id(job.agent.storage_mover)}/agents/{job.agent.name}"
        )
    if job.agent_pool is not None:
        properties["agentPoolName"] = job.agent_pool.name
        properties["agentPoolResourceId"] = (
            f"{mover_id(job.agent_pool.storage_mover)}/agentPools/{job.agent_pool.name}"
        )
    run = latest_run(session, job)
    if run is not None:
        properties["latestJobRunName"] = run.name
        properties["latestJobRunResourceId"] = job_run_id(run)
        properties["latestJobRunStatus"] = run.status
    return properties
