"""Work units of pool runs (DESIGN §5).

A job definition that names an agent pool runs as units: one directory each. The first agent
of the pool asking for work moves a Queued run to Started and queues its root unit (""). An
agent leases the oldest queued unit of a run of its pools for ``lease_seconds`` and renews the
lease with each progress report; when it completes the unit it reports the unit's counters
and its subdirectories, which are queued as new units in the same transaction. An expired
lease (a dead agent) returns the unit to the queue; the redo skips what is already on the
target.

Counting: a unit's counters are its own (its files, and its subdirectories as items — a
created directory is Transferred, an existing one NoTransferNeeded, or Transferred when its
times had to be restored) and are added to the run once, when the unit moves from leased to
done: the completion is a compare-and-set on (lease id, state, expiry), so a completion after
the lease was lost is refused (LeaseLost) and a redone unit counts only its final completion.
Items a dead agent already copied land in NoTransferNeeded in the redo (Transferred for
directories it created, whose times only the child unit sets). So when a run succeeds,
itemsTransferred + itemsNoTransferNeeded + itemsFailed + excluded + unsupported ==
itemsScanned == the items of the source tree.

Live counters: while a unit is leased, each progress report stores the unit's counters so
far on its row; a run's counters as read (``live_counters``) are the sum of its completed
units (``JobRun.properties["progress"]``) plus the counters of its units leased now. The
completion moves a unit's counters from the first to the second in one transaction, and the
run row is read before its units, so a reader may briefly miss a just-completed unit but
never counts one twice; an expired lease drops its unit's live counters.

Concurrency: every transaction here starts with the write that claims its rows. On
PostgreSQL the unit to lease is picked with ``FOR UPDATE SKIP LOCKED``; SQLite ignores that
clause but serializes writers, and a transaction whose first statement writes never works
on a stale snapshot.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session

from ferry.control import access_policies
from ferry.control.leases import CANCEL_STATES, COUNTERS, FINAL_STATES, _counters, _set_progress
from ferry.control.models import (
    Agent,
    AgentPoolMember,
    JobDefinition,
    JobRun,
    WorkUnit,
    utcnow,
)

QUEUED, LEASED, DONE, FAILED, CANCELED = "queued", "leased", "done", "failed", "canceled"
OPEN = (QUEUED, LEASED)
LEASABLE_RUN_STATES = ("Started", "Running", "PausedByBandwidthManagement")
# what an agent working on a unit reports, and the run takes (the latest report wins)
REPORTED_RUN_STATES = ("Running", "PausedByBandwidthManagement")
UNIT_OUTCOMES = {"Succeeded": DONE, "Failed": FAILED, "Canceled": CANCELED}


class UnitLost(Exception):
    """The unit's lease expired or the unit ended: stop working on it."""


def _pools_of(agent_id: int) -> Any:
    return select(AgentPoolMember.pool_id).where(AgentPoolMember.agent_id == agent_id)


def _start_queued_run(session: Session, agent_id: int, now: dt.datetime) -> None:
    """The oldest Queued run of the agent's pools: Started, with its root unit queued."""
    pick = (
        select(JobRun.id)
        .join(JobDefinition, JobDefinition.id == JobRun.job_definition_id)
        .where(JobDefinition.agent_pool_id.in_(_pools_of(agent_id)), JobRun.status == "Queued")
        .order_by(JobRun.id)
        .limit(1)
        .with_for_update(skip_locked=True, of=JobRun)
        .correlate(None)
        .scalar_subquery()
    )
    run_id = session.execute(
        update(JobRun)
        .where(JobRun.id == pick, JobRun.status == "Queued")
        .values(status="Started", last_status_update=now)
        .returning(JobRun.id)
        .execution_options(synchronize_session=False)
    ).scalar()
    if run_id is None:
        return
    run = session.get(JobRun, run_id, populate_existing=True)
    assert run is not None
    _set_progress(
        run,
        scanStatus="Scanning",
        executionStartTime=now.isoformat(),
        executionEndTime=None,
        error=None,
        **dict.fromkeys(COUNTERS, 0),
    )
    session.add(_unit(run.id, "", now))


def _unit(run_id: int, path: str, now: dt.datetime) -> WorkUnit:
    return WorkUnit(job_run_id=run_id, path=path, state=QUEUED, attempt=0, created_at=now)


def lease(session: Session, agent: Agent, lease_seconds: float) -> WorkUnit | None:
    """Lease the oldest queued unit of a run of ``agent``'s pools (flushed), or None."""
    agent_id = agent.id
    session.commit()  # the claim below is the first statement of a fresh transaction
    now = utcnow()
    _start_queued_run(session, agent_id, now)
    pick = (
        select(WorkUnit.id)
        .join(JobRun, JobRun.id == WorkUnit.job_run_id)
        .join(JobDefinition, JobDefinition.id == JobRun.job_definition_id)
        .where(
            WorkUnit.state == QUEUED,
            JobRun.status.in_(LEASABLE_RUN_STATES),
            JobDefinition.agent_pool_id.in_(_pools_of(agent_id)),
        )
        .order_by(WorkUnit.id)
        .limit(1)
        .with_for_update(skip_locked=True, of=WorkUnit)
        .correlate(None)
        .scalar_subquery()
    )
    unit_id = session.execute(
        update(WorkUnit)
        .where(WorkUnit.id == pick, WorkUnit.state == QUEUED)
        .values(
            state=LEASED,
            agent_id=agent_id,
            lease_id=str(uuid.uuid4()),
            expires_at=now + dt.timedelta(seconds=lease_seconds),
            attempt=WorkUnit.attempt + 1,
            counters={},
        )
        .returning(WorkUnit.id)
        .execution_options(synchronize_session=False)
    ).scalar()
    if unit_id is None:
        return None
    unit = session.get(WorkUnit, unit_id, populate_existing=True)
    assert unit is not None
    agent.agent_status = "Executing"
    session.flush()
    return unit


def _claim(
    session: Session, agent_id: int, lease_id: str, values: dict[str, Any]
) -> tuple[WorkUnit, JobRun]:
    """Update the unit leased under ``lease_id`` (first statement of the transaction); the
    unit and its run, the run locked. UnitLost when the lease is no longer held."""
    session.commit()
    now = utcnow()
    unit_id = session.execute(
        update(WorkUnit)
        .where(
            WorkUnit.lease_id == lease_id,
            WorkUnit.agent_id == agent_id,
            WorkUnit.state == LEASED,
            WorkUnit.expires_at > now,
        )
        .values(**values)
        .returning(WorkUnit.id)
        .execution_options(synchronize_session=False)
    ).scalar()
    if unit_id is None:
        raise UnitLost(f"The lease {lease_id} is no longer held; stop working on its unit.")
    unit = session.get(WorkUnit, unit_id, populate_existing=True)
    assert unit is not None
    return unit, locked_run(session, unit.job_run_id)


def locked_run(session: Session, run_id: int) -> JobRun:
    """The run, read afresh and locked for this transaction."""
    return session.scalars(
        select(JobRun)
        .where(JobRun.id == run_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def report(
    session: Session,
    agent_id: int,
    lease_id: str,
    lease_seconds: float,
    *,
    status: str | None,
    counters: dict[str, Any] | None,
) -> tuple[WorkUnit, bool]:
    """Renew the unit's lease and keep its live counters; True when the agent should stop
    (the run is being canceled or has ended)."""
    now = utcnow()
    values: dict[str, Any] = {"expires_at": now + dt.timedelta(seconds=lease_seconds)}
    if counters is not None:
        values["counters"] = _counters(counters)
    unit, run = _claim(session, agent_id, lease_id, values)
    reported = status in REPORTED_RUN_STATES and run.status in LEASABLE_RUN_STATES
    if reported and run.status != status:
        run.status = str(status)  # PausedByBandwidthManagement in a 0-Mbps window
        run.last_status_update = now
    return unit, run.status in CANCEL_STATES or run.status in FINAL_STATES


def complete(
    session: Session,
    agent_id: int,
    lease_id: str,
    *,
    status: str,
    counters: dict[str, Any] | None,
    subdirs: list[str],
    error: dict[str, Any] | None,
    max_attempts: int,
) -> JobRun:
    """End the unit: Succeeded (its counters join the run's, its subdirectories are
    queued), Failed (queued again until ``max_attempts``, then the run fails) or Canceled."""
    if status not in UNIT_OUTCOMES:
        raise ValueError(f"'{status}' does not end a unit; use one of {sorted(UNIT_OUTCOMES)}")
    now = utcnow()
    unit_counters = _counters(counters or {})
    given = error or {}
    detail = {k: str(given[k])[:2000] for k in ("code", "message") if given.get(k)}
    unit, run = _claim(
        session,
        agent_id,
        lease_id,
        {
            "state": UNIT_OUTCOMES[status],
            "lease_id": None,
            "expires_at": None,
            "finished_at": now,
            "counters": unit_counters if status == "Succeeded" else {},
            "error": detail or None,
        },
    )
    active = run.status not in FINAL_STATES and run.status not in CANCEL_STATES
    if status == "Succeeded":
        progress = run.properties.get("progress") or {}
        _set_progress(
            run, **{name: int(progress.get(name, 0)) + unit_counters[name] for name in COUNTERS}
        )
        if active:
            session.add_all(_unit(run.id, path, now) for path in subdirs)
    elif status == "Failed" and active:
        if unit.attempt < max_attempts:
            unit.state = QUEUED
        else:
            run.status = "Failed"
            message = detail.get("message", "a work unit failed")
            _set_progress(
                run,
                error={
                    "code": detail.get("code", "WorkUnitFailed"),
                    "message": f"{unit.path or '/'} failed {unit.attempt} times: {message}",
                },
            )
    run.last_status_update = now
    session.flush()
    settle(session, run, now)
    agent = session.get(Agent, agent_id)
    if agent is not None and agent.agent_status == "Executing":
        agent.agent_status = "Online"
    return run


def settle(session: Session, run: JobRun, now: dt.datetime) -> None:
    """A stopped or ended run's queued units are canceled; a run with no open unit ends."""
    if run.status in CANCEL_STATES or run.status in FINAL_STATES:
        session.execute(
            update(WorkUnit)
            .where(WorkUnit.job_run_id == run.id, WorkUnit.state == QUEUED)
            .values(state=CANCELED, finished_at=now)
            .execution_options(synchronize_session=False)
        )
    if session.scalar(
        select(exists().where(WorkUnit.job_run_id == run.id, WorkUnit.state.in_(OPEN)))
    ):
        return
    if run.status in CANCEL_STATES:
        run.status = "Canceled"
    elif run.status not in FINAL_STATES:
        run.status = "Succeeded"
        _set_progress(run, scanStatus="Completed")
    else:
        access_policies.revoke(session, run)  # a failed run's grants, if any are left
        return
    run.last_status_update = now
    _set_progress(run, executionEndTime=now.isoformat())
    access_policies.revoke(session, run)  # no unit is open: every agent's SAS stops working


def sweep(session: Session) -> None:
    """Expired unit leases back to the queue (their live counters dropped); stopped pool
    runs whose agents are gone end. Idempotent: replicas may sweep together."""
    session.commit()
    now = utcnow()
    # RETURNING shows values after the update: the lease ids are returned before they go
    expired = session.execute(
        update(WorkUnit)
        .where(WorkUnit.state == LEASED, WorkUnit.expires_at <= now)
        .values(state=QUEUED)
        .returning(WorkUnit.id, WorkUnit.job_run_id, WorkUnit.lease_id)
        .execution_options(synchronize_session=False)
    ).all()
    if expired:
        session.execute(
            update(WorkUnit)
            .where(WorkUnit.id.in_([unit_id for unit_id, _, _ in expired]))
            .values(agent_id=None, lease_id=None, expires_at=None, counters={})
            .execution_options(synchronize_session=False)
        )
    for _unit_id, run_id, lease_id in expired:
        run = session.get(JobRun, run_id)
        if run is not None:  # the dead agent's SAS stops working
            access_policies.revoke(session, run, lease_ids=[str(lease_id)])
    stopping = session.scalars(
        select(JobRun)
        .join(JobDefinition, JobDefinition.id == JobRun.job_definition_id)
        .where(JobDefinition.agent_pool_id.is_not(None), JobRun.status.in_(CANCEL_STATES))
        .with_for_update(skip_locked=True, of=JobRun)
        .execution_options(populate_existing=True)
    ).all()
    for run in stopping:
        settle(session, run, now)
    session.commit()


def release(session: Session, agent_id: int) -> None:
    """The units ``agent_id`` holds back to the queue now (it is being unregistered)."""
    session.execute(
        update(WorkUnit)
        .where(WorkUnit.agent_id == agent_id, WorkUnit.state == LEASED)
        .values(state=QUEUED, agent_id=None, lease_id=None, expires_at=None, counters={})
        .execution_options(synchronize_session=False)
    )


def find_unit(session: Session, agent_id: int, lease_id: str) -> WorkUnit:
    """The unit ``agent_id`` holds under ``lease_id`` now; UnitLost when it holds none."""
    unit = session.scalar(
        select(WorkUnit).where(
            WorkUnit.lease_id == lease_id,
            WorkUnit.agent_id == agent_id,
            WorkUnit.state == LEASED,
            WorkUnit.expires_at > utcnow(),
        )
    )
    if unit is None:
        raise UnitLost(f"The lease {lease_id} is no longer held; stop working on its unit.")
    return unit


def live_counters(session: Session, run: JobRun) -> dict[str, int]:
    """The counters of ``run``'s units leased now (their progress so far); zeros when it has
    none (a whole-run lease, or a pool run between units or ended)."""
    total = dict.fromkeys(COUNTERS, 0)
    if run.status in FINAL_STATES:
        return total
    rows = session.scalars(
        select(WorkUnit.counters).where(
            WorkUnit.job_run_id == run.id,
            WorkUnit.state == LEASED,
            WorkUnit.expires_at > utcnow(),
        )
    ).all()
    for counters in rows:
        for name, value in _counters(counters or {}).items():
            total[name] += value
    return total


def holds_unit(session: Session, agent_id: int) -> bool:
    return (
        session.scalar(
            select(WorkUnit.id)
            .where(WorkUnit.agent_id == agent_id, WorkUnit.state == LEASED)
            .limit(1)
        )
        is not None
    )
