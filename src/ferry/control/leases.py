"""Job-run leases (DESIGN §5): an agent takes the oldest Queued run whose job definition names
it, holds it with a lease it renews while working, reports progress and completes it. An
expired lease puts the run back in the queue (a redone run skips what is already copied).
For now the whole run is one work unit; splitting runs into units comes with agent pools.

A run's live state lives in ``JobRun.properties["progress"]``: scanStatus, the twelve
counters, executionStartTime/EndTime and error, rendered by ``wire_progress``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import delete, exists, or_, select, update
from sqlalchemy.orm import Session

from ferry.control.models import (
    Agent,
    AgentIdentity,
    AgentNonce,
    AgentToken,
    JobDefinition,
    JobRun,
    JobRunLease,
    WorkUnit,
    utcnow,
)

PROGRESS_KEY = "progress"
COUNTERS = (
    "itemsScanned",
    "itemsExcluded",
    "itemsUnsupported",
    "itemsNoTransferNeeded",
    "itemsFailed",
    "itemsTransferred",
    "bytesScanned",
    "bytesExcluded",
    "bytesUnsupported",
    "bytesNoTransferNeeded",
    "bytesFailed",
    "bytesTransferred",
)
SCAN_STATES = frozenset({"NotStarted", "Scanning", "Completed"})
# what an agent may report while it holds the run, and how it may end it
WORKING_STATES = frozenset({"Started", "Running", "Canceling", "PausedByBandwidthManagement"})
FINAL_STATES = frozenset({"Succeeded", "Failed", "Canceled"})
CANCEL_STATES = frozenset({"CancelRequested", "Canceling"})


class LeaseLost(Exception):
    """The lease expired (and the run went back to the queue or ended): stop working on it."""


def wire_progress(run: JobRun, live: dict[str, int] | None = None) -> dict[str, Any]:
    """scanStatus, counters and execution times of ``run`` in wire form; ``live`` counters
    (a pool run's leased units, ferry.control.units.live_counters) are added."""
    progress: dict[str, Any] = run.properties.get(PROGRESS_KEY) or {}
    properties: dict[str, Any] = {"scanStatus": progress.get("scanStatus", "NotStarted")}
    extra = live or {}
    properties.update(
        {name: int(progress.get(name, 0)) + int(extra.get(name, 0)) for name in COUNTERS}
    )
    for name in ("executionStartTime", "executionEndTime", "error"):
        if progress.get(name) is not None:
            properties[name] = progress[name]
    return properties


def _set_progress(run: JobRun, **changes: Any) -> None:
    progress = dict(run.properties.get(PROGRESS_KEY) or {})
    progress.update(changes)
    run.properties = {**run.properties, PROGRESS_KEY: progress}


def _counters(given: dict[str, Any]) -> dict[str, int]:
    return {name: max(0, int(given.get(name, 0))) for name in COUNTERS}


def acquire(session: Session, agent: Agent, lease_seconds: float) -> JobRunLease | None:
    """Lease the oldest Queued run of a definition naming ``agent`` (committed), or None."""
    query = (
        select(JobRun)
        .join(JobDefinition, JobDefinition.id == JobRun.job_definition_id)
        .where(JobDefinition.agent_id == agent.id, JobRun.status == "Queued")
        .order_by(JobRun.id)
        .limit(1)
        .with_for_update(skip_locked=True, of=JobRun)
    )
    run = session.scalar(query)
    if run is None:
        return None
    now = utcnow()
    lease = JobRunLease(
        job_run_id=run.id,
        job_run=run,
        agent_id=agent.id,
        lease_id=str(uuid.uuid4()),
        acquired_at=now,
        expires_at=now + dt.timedelta(seconds=lease_seconds),
    )
    run.status = "Started"
    run.last_status_update = now
    _set_progress(
        run,
        scanStatus="NotStarted",
        executionStartTime=now.isoformat(),
        executionEndTime=None,
        error=None,
        **dict.fromkeys(COUNTERS, 0),
    )
    session.add(lease)
    agent.agent_status = "Executing"
    session.flush()
    return lease


def find_lease(session: Session, agent_id: int, lease_id: str) -> JobRunLease:
    lease = session.scalar(
        select(JobRunLease)
        .where(JobRunLease.lease_id == lease_id, JobRunLease.agent_id == agent_id)
        .with_for_update()
    )
    if lease is None or lease.expires_at <= utcnow():
        raise LeaseLost(f"The lease {lease_id} is no longer held; stop working on its run.")
    return lease


def report(
    session: Session,
    lease: JobRunLease,
    lease_seconds: float,
    *,
    status: str | None,
    scan_status: str | None,
    counters: dict[str, Any] | None,
) -> bool:
    """Record progress and renew the lease; True when the run should be canceled."""
    run = lease.job_run
    now = utcnow()
    lease.expires_at = now + dt.timedelta(seconds=lease_seconds)
    if run.status in CANCEL_STATES:
        if status == "Canceling":
            run.status = "Canceling"
    elif status in WORKING_STATES and status != "Canceling":
        run.status = status
    changes: dict[str, Any] = {}
    if scan_status in SCAN_STATES:
        changes["scanStatus"] = scan_status
    if counters is not None:
        changes.update(_counters(counters))
    if changes:
        _set_progress(run, **changes)
    run.last_status_update = now
    return run.status in CANCEL_STATES


def complete(
    session: Session,
    lease: JobRunLease,
    *,
    status: str,
    scan_status: str | None,
    counters: dict[str, Any] | None,
    error: dict[str, Any] | None,
) -> JobRun:
    """End the leased run with ``status`` and release the lease."""
    run = lease.job_run
    if status not in FINAL_STATES:
        raise ValueError(f"'{status}' does not end a run; use one of {sorted(FINAL_STATES)}")
    now = utcnow()
    if run.status in CANCEL_STATES and status == "Succeeded":
        # the copy finished before the agent saw the request: the run still ends as asked
        status = "Canceled"
    run.status = status
    run.last_status_update = now
    changes: dict[str, Any] = {"executionEndTime": now.isoformat()}
    if scan_status in SCAN_STATES:
        changes["scanStatus"] = scan_status
    if counters is not None:
        changes.update(_counters(counters))
    if error:
        changes["error"] = {
            key: str(error[key])[:2000] for key in ("code", "message", "target") if error.get(key)
        }
    _set_progress(run, **changes)
    agent_id = lease.agent_id
    session.delete(lease)
    session.flush()
    agent = session.get(Agent, agent_id)
    if agent is not None and agent.agent_status == "Executing":
        agent.agent_status = "Online"
    return run


def holds_lease(session: Session, agent_id: int) -> bool:
    """Whether the agent holds a run's lease or a work unit's (ferry.control.units)."""
    runs = select(JobRunLease.job_run_id).where(JobRunLease.agent_id == agent_id)
    units = select(WorkUnit.id).where(WorkUnit.agent_id == agent_id, WorkUnit.state == "leased")
    return session.scalar(select(or_(exists(runs), exists(units)))) is True


def sweep(session: Session, *, offline_after: float, nonce_window: float) -> None:
    """Expired leases back to the queue, silent agents Offline, old nonces and tokens gone."""
    now = utcnow()
    expired = session.scalars(
        select(JobRunLease).where(JobRunLease.expires_at <= now).with_for_update(skip_locked=True)
    ).all()
    for lease in expired:
        run = lease.job_run
        if run.status in CANCEL_STATES:
            run.status = "Canceled"
            _set_progress(run, executionEndTime=now.isoformat())
        elif run.status not in FINAL_STATES:
            run.status = "Queued"
            _set_progress(run, scanStatus="NotStarted")
        run.last_status_update = now
        session.delete(lease)
    silent = select(AgentIdentity.agent_id).where(
        AgentIdentity.last_seen_at < now - dt.timedelta(seconds=offline_after)
    )
    session.execute(
        update(Agent)
        .where(Agent.id.in_(silent), Agent.agent_status.not_in(("Offline", "Registering")))
        .values(agent_status="Offline")
    )
    session.execute(
        delete(AgentNonce).where(AgentNonce.seen_at < now - dt.timedelta(seconds=nonce_window))
    )
    session.execute(delete(AgentToken).where(AgentToken.expires_at < now))
    session.commit()
