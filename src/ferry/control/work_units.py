"""Work units and their leases: how agents carry out job runs (docs/design.md §5).

Every job run is carried out as work units, each one directory of the source. A definition
that names an agent runs as one *recursive* root unit (the whole tree in one engine run, on
that agent); one that names an agent pool runs as a *one-level* root unit whose completion
returns the subdirectories, queued as units of their own that any agent of the pool may take.

Leasing: an agent asking for work first starts the oldest Queued run it may work on (Started,
root unit queued), then leases the oldest queued unit of such runs for ``lease_seconds``. Each
progress report renews the lease; the completion ends it. An expired lease (a dead agent)
returns the unit to the queue; the redo skips what is already on the target.

Counting: a unit's counters are its own (its files, and for a one-level unit its
subdirectories as items: created is Transferred, existing NoTransferNeeded, or Transferred
when its times had to be restored). While the unit is leased each report stores them on its
row; they join the run's (``run_progress``) once, when the unit ends: the completion is a
compare-and-set on (lease id, state, expiry), so a completion after the lease was lost is
refused (LeaseLost) and a redone unit counts only its final completion. A run's counters as
read are its completed units' plus those of its units leased now (``live_counters``); the run
row is read before its units, so a reader may briefly miss a just-completed unit but never
counts one twice. When a run succeeds, transferred + no transfer needed + failed + excluded +
unsupported == scanned == the items of the source tree.

Failure: a failed one-level unit is queued again until ``max_attempts``, then its run fails; a
failed recursive unit fails its run at once (its agent already retried every item). A run ends
when no unit is open: Succeeded, Canceled (after a stop) or Failed.

Concurrency: every transaction here starts with the write that claims its rows. On PostgreSQL
the row to claim is picked with ``FOR UPDATE SKIP LOCKED``; SQLite ignores that clause but
serializes writers, and a transaction whose first statement writes never works on a stale
snapshot.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import exists, or_, select, update
from sqlalchemy.orm import Session

from ferry.control import access_policies, run_progress
from ferry.control.models import (
    Agent,
    AgentPoolMember,
    JobDefinition,
    JobRun,
    WorkUnit,
    utcnow,
)
from ferry.protocol import (
    ACTIVE_RUN_STATUSES,
    CANCEL_RUN_STATUSES,
    FINAL_RUN_STATUSES,
    OPEN_UNIT_STATES,
    REPORTABLE_RUN_STATUSES,
    WORKING_RUN_STATUSES,
    AgentStatus,
    Completion,
    Counters,
    ErrorDetail,
    ProgressReport,
    RunStatus,
    ScanStatus,
    UnitOutcome,
    UnitState,
    error_detail,
)

ENDED_BY = {
    UnitOutcome.SUCCEEDED: UnitState.DONE,
    UnitOutcome.FAILED: UnitState.FAILED,
    UnitOutcome.CANCELED: UnitState.CANCELED,
}


class LeaseLost(Exception):
    """The unit's lease expired or the unit ended: stop working on it."""


def _lost(lease_id: str) -> LeaseLost:
    return LeaseLost(f"The lease {lease_id} is no longer held; stop working on its unit.")


def _stopped(run: JobRun) -> bool:
    return run.status in CANCEL_RUN_STATUSES or run.status in FINAL_RUN_STATUSES


def _runs_of(agent_id: int) -> Any:
    """The condition on JobDefinition for runs ``agent_id`` may work on."""
    pools = select(AgentPoolMember.pool_id).where(AgentPoolMember.agent_id == agent_id)
    return or_(JobDefinition.agent_id == agent_id, JobDefinition.agent_pool_id.in_(pools))


def _unit(run_id: int, path: str, now: dt.datetime, *, recursive: bool = False) -> WorkUnit:
    return WorkUnit(
        job_run_id=run_id,
        path=path,
        recursive=recursive,
        state=UnitState.QUEUED,
        attempt=0,
        created_at=now,
    )


def _start_queued_run(session: Session, agent_id: int, now: dt.datetime) -> None:
    """The oldest Queued run ``agent_id`` may work on: Started, with its root unit queued."""
    pick = (
        select(JobRun.id)
        .join(JobDefinition, JobDefinition.id == JobRun.job_definition_id)
        .where(_runs_of(agent_id), JobRun.status == RunStatus.QUEUED)
        .order_by(JobRun.id)
        .limit(1)
        .with_for_update(skip_locked=True, of=JobRun)
        .correlate(None)
        .scalar_subquery()
    )
    run_id = session.execute(
        update(JobRun)
        .where(JobRun.id == pick, JobRun.status == RunStatus.QUEUED)
        .values(status=RunStatus.STARTED, last_status_update=now)
        .returning(JobRun.id)
        .execution_options(synchronize_session=False)
    ).scalar()
    if run_id is None:
        return
    run = session.get(JobRun, run_id, populate_existing=True)
    assert run is not None
    run_progress.start(run, now.isoformat())
    # a run given to one agent is one engine run over the whole tree; a pool's is split
    session.add(_unit(run.id, "", now, recursive=run.job_definition.agent_pool_id is None))


def lease(session: Session, agent: Agent, lease_seconds: float) -> WorkUnit | None:
    """Lease the oldest queued unit of a run ``agent`` may work on (flushed), or None."""
    agent_id = agent.id
    session.commit()  # the claim below is the first statement of a fresh transaction
    now = utcnow()
    _start_queued_run(session, agent_id, now)
    pick = (
        select(WorkUnit.id)
        .join(JobRun, JobRun.id == WorkUnit.job_run_id)
        .join(JobDefinition, JobDefinition.id == JobRun.job_definition_id)
        .where(
            WorkUnit.state == UnitState.QUEUED,
            JobRun.status.in_(WORKING_RUN_STATUSES),
            _runs_of(agent_id),
        )
        .order_by(WorkUnit.id)
        .limit(1)
        .with_for_update(skip_locked=True, of=WorkUnit)
        .correlate(None)
        .scalar_subquery()
    )
    unit_id = session.execute(
        update(WorkUnit)
        .where(WorkUnit.id == pick, WorkUnit.state == UnitState.QUEUED)
        .values(
            state=UnitState.LEASED,
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
    agent.agent_status = AgentStatus.EXECUTING
    session.flush()
    return unit


def locked_run(session: Session, run_id: int) -> JobRun:
    """The run, read afresh and locked for this transaction."""
    return session.scalars(
        select(JobRun)
        .where(JobRun.id == run_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def _claim(
    session: Session, agent_id: int, lease_id: str, values: dict[str, Any]
) -> tuple[WorkUnit, JobRun]:
    """Update the unit leased under ``lease_id`` (first statement of the transaction); the
    unit and its run, the run locked. LeaseLost when the lease is no longer held."""
    session.commit()
    unit_id = session.execute(
        update(WorkUnit)
        .where(
            WorkUnit.lease_id == lease_id,
            WorkUnit.agent_id == agent_id,
            WorkUnit.state == UnitState.LEASED,
            WorkUnit.expires_at > utcnow(),
        )
        .values(**values)
        .returning(WorkUnit.id)
        .execution_options(synchronize_session=False)
    ).scalar()
    if unit_id is None:
        raise _lost(lease_id)
    unit = session.get(WorkUnit, unit_id, populate_existing=True)
    assert unit is not None
    return unit, locked_run(session, unit.job_run_id)


def _take_scan_status(run: JobRun, unit: WorkUnit, given: ScanStatus | None) -> bool:
    """A recursive unit scans the whole tree: the run's scan status is the agent's. A pool
    run is scanning until its last unit ends. Whether the run's scan status changed."""
    wanted = given if unit.recursive else ScanStatus.SCANNING
    if wanted is None or run_progress.scan_status(run) == wanted:
        return False
    run_progress.set_progress(run, scanStatus=wanted.value)
    return True


def report(
    session: Session, agent_id: int, lease_id: str, lease_seconds: float, message: ProgressReport
) -> tuple[WorkUnit, JobRun, bool]:
    """Renew the unit's lease and keep its live counters; the unit, its run, and whether the
    agent should stop (the run is being canceled or has ended)."""
    now = utcnow()
    values: dict[str, Any] = {"expires_at": now + dt.timedelta(seconds=lease_seconds)}
    if message.counters is not None:
        values["counters"] = message.counters.named()
    unit, run = _claim(session, agent_id, lease_id, values)
    status = message.status
    changed = False
    if status in REPORTABLE_RUN_STATUSES and status != run.status:
        if run.status in CANCEL_RUN_STATUSES:
            changed = status is RunStatus.CANCELING  # a stop is not undone by "Running"
        else:
            changed = run.status in WORKING_RUN_STATUSES and status is not RunStatus.CANCELING
        if changed:
            run.status = status  # Running, PausedByBandwidthManagement in a 0-Mbps window
    if not _stopped(run):
        changed = _take_scan_status(run, unit, message.scan_status) or changed
    if changed:  # the run row is written only when it changes: counters live on the unit
        run.last_status_update = now
    return unit, run, _stopped(run)


def complete(
    session: Session, agent_id: int, lease_id: str, message: Completion, *, max_attempts: int
) -> JobRun:
    """End the unit: Succeeded (its counters join the run's, its subdirectories are
    queued), Failed (queued again while attempts are left, else the run fails) or Canceled."""
    now = utcnow()
    counters = message.counters or Counters()
    unit, run = _claim(
        session,
        agent_id,
        lease_id,
        {
            "state": ENDED_BY[message.status],
            "lease_id": None,
            "expires_at": None,
            "finished_at": now,
            "counters": counters.named(),
            "error": message.error.model_dump() if message.error else None,
        },
    )
    active = not _stopped(run)
    if message.status is UnitOutcome.FAILED and active and not unit.recursive:
        if unit.attempt < max_attempts:
            unit.state = UnitState.QUEUED
            unit.counters = {}
            return _after_unit(session, agent_id, run, now)
        detail = message.error or error_detail("WorkUnitFailed", "a work unit failed")
        message_text = f"{unit.path or '/'} failed {unit.attempt} times: {detail.message}"
        _fail(run, error_detail(detail.code, message_text), now)
    elif message.status is UnitOutcome.FAILED and active:
        _fail(run, message.error or error_detail("RunFailed", "the run failed"), now)
    elif message.status is UnitOutcome.CANCELED and active:
        run.status = RunStatus.CANCELING  # the agent stopped it: nothing else runs
    run_progress.add_counters(run, counters)
    if message.status is UnitOutcome.SUCCEEDED and active and not unit.recursive:
        session.add_all(_unit(run.id, path, now) for path in message.subdirs)
    if unit.recursive and message.scan_status is not None:
        run_progress.set_progress(run, scanStatus=message.scan_status.value)
    return _after_unit(session, agent_id, run, now)


def _fail(run: JobRun, error: ErrorDetail, now: dt.datetime) -> None:
    run.status = RunStatus.FAILED
    run.last_status_update = now
    run_progress.set_error(run, error)


def _after_unit(session: Session, agent_id: int, run: JobRun, now: dt.datetime) -> JobRun:
    run.last_status_update = now
    session.flush()
    settle(session, run, now)
    agent = session.get(Agent, agent_id)
    if agent is not None and agent.agent_status == AgentStatus.EXECUTING:
        agent.agent_status = AgentStatus.ONLINE
    return run


def settle(session: Session, run: JobRun, now: dt.datetime) -> None:
    """A stopped or ended run's queued units are canceled; a run with no open unit ends, and
    every grant of its stores is revoked."""
    if _stopped(run):
        session.execute(
            update(WorkUnit)
            .where(WorkUnit.job_run_id == run.id, WorkUnit.state == UnitState.QUEUED)
            .values(state=UnitState.CANCELED, finished_at=now)
            .execution_options(synchronize_session=False)
        )
    if session.scalar(
        select(exists().where(WorkUnit.job_run_id == run.id, WorkUnit.state.in_(OPEN_UNIT_STATES)))
    ):
        return
    if run.status in CANCEL_RUN_STATUSES:
        run.status = RunStatus.CANCELED
    elif run.status not in FINAL_RUN_STATUSES:
        run.status = RunStatus.SUCCEEDED
        run_progress.set_progress(run, scanStatus=ScanStatus.COMPLETED.value)
    if run_progress.progress_of(run).get("executionEndTime") is None:
        run.last_status_update = now
        run_progress.set_progress(run, executionEndTime=now.isoformat())
    access_policies.revoke(session, run)  # no unit is open: every agent's SAS stops working


def sweep(session: Session) -> None:
    """Expired leases back to the queue (their live counters dropped, their grants revoked);
    stopped runs whose agents are gone end. Idempotent: replicas may sweep together."""
    session.commit()
    now = utcnow()
    # RETURNING shows values after the update: the lease ids are returned before they go
    expired = session.execute(
        update(WorkUnit)
        .where(WorkUnit.state == UnitState.LEASED, WorkUnit.expires_at <= now)
        .values(state=UnitState.QUEUED)
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
            if run.status in FINAL_RUN_STATUSES:  # failed while this unit was out
                settle(session, run, now)
    stopping = session.scalars(
        select(JobRun)
        .where(JobRun.status.in_(CANCEL_RUN_STATUSES))
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    ).all()
    for run in stopping:
        settle(session, run, now)
    session.commit()


def release(session: Session, agent: Agent) -> None:
    """``agent`` is being unregistered: the units it holds of pool runs go back to the queue;
    a run given to it alone fails (AgentUnregistered) with what it counted so far."""
    held = session.scalars(
        select(WorkUnit).where(WorkUnit.agent_id == agent.id, WorkUnit.state == UnitState.LEASED)
    ).all()
    now = utcnow()
    for unit in held:
        run = locked_run(session, unit.job_run_id)
        if unit.lease_id is not None:
            access_policies.revoke(session, run, lease_ids=[unit.lease_id])
        if not unit.recursive:
            unit.state = UnitState.QUEUED
            unit.agent_id = unit.lease_id = unit.expires_at = None
            unit.counters = {}
            continue
        unit.state = UnitState.FAILED
        unit.lease_id = unit.expires_at = None
        unit.finished_at = now
        run_progress.add_counters(run, Counters.of(unit.counters or {}))
        if not _stopped(run):
            message = f"Agent '{agent.name}' was unregistered while it ran this job."
            _fail(run, error_detail("AgentUnregistered", message), now)
        session.flush()
        settle(session, run, now)


def find_unit(session: Session, agent_id: int, lease_id: str) -> WorkUnit:
    """The unit ``agent_id`` holds under ``lease_id`` now; LeaseLost when it holds none."""
    unit = session.scalar(
        select(WorkUnit).where(
            WorkUnit.lease_id == lease_id,
            WorkUnit.agent_id == agent_id,
            WorkUnit.state == UnitState.LEASED,
            WorkUnit.expires_at > utcnow(),
        )
    )
    if unit is None:
        raise _lost(lease_id)
    return unit


def live_counters(session: Session, run: JobRun) -> Counters:
    """The counters of ``run``'s units leased now (their progress so far)."""
    total = Counters()
    if run.status in FINAL_RUN_STATUSES:
        return total
    rows = session.scalars(
        select(WorkUnit.counters).where(
            WorkUnit.job_run_id == run.id,
            WorkUnit.state == UnitState.LEASED,
            WorkUnit.expires_at > utcnow(),
        )
    ).all()
    for counters in rows:
        total += Counters.of(counters or {})
    return total


def holds_unit(session: Session, agent_id: int) -> bool:
    """Whether ``agent_id`` holds a lease now."""
    return (
        session.scalar(
            select(WorkUnit.id)
            .where(WorkUnit.agent_id == agent_id, WorkUnit.state == UnitState.LEASED)
            .limit(1)
        )
        is not None
    )


def waiting_runs_of(session: Session, agent_id: int) -> list[str]:
    """The job definitions naming ``agent_id`` with a run that waits for it: active, and no
    unit of it leased by the agent (unregistering would strand it)."""
    held = select(WorkUnit.job_run_id).where(
        WorkUnit.agent_id == agent_id, WorkUnit.state == UnitState.LEASED
    )
    return list(
        session.scalars(
            select(JobDefinition.name)
            .join(JobRun, JobRun.job_definition_id == JobDefinition.id)
            .where(
                JobDefinition.agent_id == agent_id,
                JobRun.status.in_(ACTIVE_RUN_STATUSES),
                JobRun.id.not_in(held),
            )
            .distinct()
            .order_by(JobDefinition.name)
        ).all()
    )
