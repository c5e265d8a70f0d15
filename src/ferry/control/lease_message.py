"""The lease an agent receives for a work unit: the run's settings, the unit, and
just-in-time access to the run's source and target bound to the lease (access_policies)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from ferry.control import access_policies
from ferry.control.credentials import store_access
from ferry.control.models import Agent, JobRun, WorkUnit
from ferry.control.resources import job_run_id
from ferry.control.settings import Settings
from ferry.control.upload_limits import agent_schedule
from ferry.protocol import Lease, RunInfo, StoreGrant, UnitInfo


def lease_message(
    session: Session, run: JobRun, unit: WorkUnit, agent: Agent, settings: Settings
) -> Lease:
    """The lease of ``unit`` (leased now); raises CredentialError when the stores cannot be
    granted. ``run`` is locked: its grants are read, changed and written back."""
    assert unit.lease_id is not None and unit.expires_at is not None
    job = run.job_definition
    definition = run.properties.get("jobDefinitionProperties") or {}
    mode = str(definition.get("copyMode", job.copy_mode))
    ttl = dt.timedelta(seconds=settings.run_sas_ttl_seconds)
    bind = access_policies.RunBinder(run, agent.id, unit.lease_id, ttl)
    source, target = (
        StoreGrant.model_validate(
            store_access(
                session, endpoint, subpath, role=role, copy_mode=mode, sas_ttl=ttl, bind=bind
            ).wire()
        )
        for role, endpoint, subpath in (
            ("source", job.source, job.source_subpath),
            ("target", job.target, job.target_subpath),
        )
    )
    return Lease(
        lease_id=unit.lease_id,
        expires_at=unit.expires_at.isoformat(),
        lease_seconds=settings.agent_lease_seconds,
        run=RunInfo(
            name=run.name,
            id=job_run_id(run),
            copy_mode="Mirror" if mode == "Mirror" else "Additive",
            data_integrity_validation=str(definition.get("dataIntegrityValidation", "None")),
            source_name=run.properties.get("sourceName"),
            target_name=run.properties.get("targetName"),
        ),
        unit=UnitInfo(path=unit.path, recursive=unit.recursive, attempt=unit.attempt),
        source=source,
        target=target,
        upload_limit_schedule=agent_schedule(agent),
    )
