"""What an agent receives when it leases work: a whole job run (routes.agent_protocol) or one
work unit of a pool run (routes.agent_units). Both carry the run's settings and the
just-in-time access to its source and target, bound to the lease (access_policies)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from ferry.control import access_policies
from ferry.control.credentials import store_access
from ferry.control.models import Agent, JobRun
from ferry.control.resources import job_run_id
from ferry.control.routes.agents import upload_limit_schedule
from ferry.control.settings import Settings


def lease_view(
    session: Session,
    run: JobRun,
    agent: Agent,
    lease_id: str,
    expires_at: dt.datetime,
    settings: Settings,
) -> dict[str, Any]:
    """The lease's answer; raises CredentialError when the stores cannot be granted."""
    job = run.job_definition
    definition = run.properties.get("jobDefinitionProperties") or {}
    mode = str(definition.get("copyMode", job.copy_mode))
    ttl = dt.timedelta(seconds=settings.run_sas_ttl_seconds)
    bind = access_policies.RunBinder(run, agent.id, lease_id, ttl)
    sides = {
        role: store_access(
            session, endpoint, subpath, role=role, copy_mode=mode, sas_ttl=ttl, bind=bind
        ).wire()
        for role, endpoint, subpath in (
            ("source", job.source, job.source_subpath),
            ("target", job.target, job.target_subpath),
        )
    }
    return {
        "leaseId": lease_id,
        "expiresAt": expires_at.isoformat(),
        "leaseSeconds": settings.agent_lease_seconds,
        "run": {
            "name": run.name,
            "id": job_run_id(run),
            "copyMode": mode,
            "dataIntegrityValidation": definition.get("dataIntegrityValidation", "None"),
            "sourceName": run.properties.get("sourceName"),
            "targetName": run.properties.get("targetName"),
        },
        **sides,
        "uploadLimitSchedule": upload_limit_schedule(agent),
    }
