"""The scheduler: a thread of each server that starts the runs of due schedule executions.

Every ``Settings.scheduler_interval_seconds`` it reads the job definitions with an active
schedule and, for each whose next execution has come (control/schedule_times.py), takes the
definition's row lock (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite serializes writers and
``job_run_start.start_lock`` serializes this process), looks again, and starts the run as
startJob does (``job_run_start.start_run``) with triggerType ``Scheduled`` and the
execution's scheduledExecutionTime.
The watermark stored with the schedule and the check for a run of the same execution time
make two servers on one database start at most one run per execution.

An execution whose run cannot start (the definition's previous run is still active, or the
mover is at its limit), or that was missed (a later one came due first, or it is more than
``Settings.schedule_misfire_grace_seconds`` late), is skipped: it is recorded in the audit
log as ``POST <definition>/startJob?scheduledExecutionTime=...&skipped=<reason>`` by the
principal ``scheduler``, with status 409 and result ``Skipped``.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from urllib.parse import urlencode

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ferry.control import job_run_start, schedules
from ferry.control.arm import ArmError
from ferry.control.auth import Principal
from ferry.control.models import AuditEntry, JobDefinition, JobRun, utcnow
from ferry.control.resources import job_definition_id
from ferry.control.schedule_times import due_runs
from ferry.control.settings import Settings
from ferry.control.tokens import Role

log = logging.getLogger(__name__)

PRINCIPAL = Principal(token_id=0, name="scheduler", role=Role.OWNER, scope=None)
MISSED = "Missed"


class Scheduler:
    def __init__(self, sessions: sessionmaker[Session], settings: Settings) -> None:
        self.sessions = sessions
        self.settings = settings
        self.grace = dt.timedelta(seconds=settings.schedule_misfire_grace_seconds)
        self.ticks = 0  # completed looks, for tests that wait for one
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="ferry-scheduler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _loop(self) -> None:
        interval = self.settings.scheduler_interval_seconds or 0.0
        while not self._stop.wait(interval):
            try:
                self.tick()
            except Exception:  # a database hiccup must not end the loop
                log.exception("the scheduler's look at the schedules failed")
            self.ticks += 1

    def tick(self) -> int:
        """Start the runs of every due execution now; answers how many started."""
        now = self.settings.clock()
        with self.sessions() as session:
            rows = session.execute(select(JobDefinition.id, JobDefinition.schedule)).all()
        started = 0
        for job_id, stored in rows:
            rec = schedules.recurrence(stored)
            if rec is None:
                continue
            due = due_runs(rec, schedules.handled_through(stored), now, self.grace)
            if due.handled_through is None:
                continue
            try:
                started += self.fire(job_id, now)
            except Exception:  # one definition's trouble must not hold up the others
                log.exception("the scheduler failed to start job definition %d's run", job_id)
        return started

    def fire(self, job_id: int, now: dt.datetime) -> int:
        """Handle the due executions of one definition under its row lock; 1 if a run started."""
        with job_run_start.start_lock, self.sessions() as session:
            job = session.scalar(
                select(JobDefinition)
                .where(JobDefinition.id == job_id)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
            rec = schedules.recurrence(job.schedule) if job is not None else None
            if job is None or job.schedule is None or rec is None:
                return 0
            due = due_runs(rec, schedules.handled_through(job.schedule), now, self.grace)
            if due.handled_through is None:
                return 0  # another server handled it meanwhile
            path = job_definition_id(job) + "/startJob"
            for missed in due.missed:
                self.record(session, path, missed, MISSED)
            if due.missed_count > len(due.missed):
                log.warning(
                    "%s: %d scheduled executions up to %s were missed",
                    path,
                    due.missed_count,
                    due.handled_through.isoformat(),
                )
            started = 0
            if due.run is not None and not self.has_run(session, job, due.run):
                try:
                    run = job_run_start.start_run(
                        session,
                        job,
                        self.settings,
                        PRINCIPAL,
                        trigger_type="Scheduled",
                        scheduled_execution_time=due.run,
                    )
                    run.created_by_type = run.modified_by_type = "Application"
                    self.record(session, path, due.run, None)
                    started = 1
                except ArmError as refused:
                    self.record(session, path, due.run, refused.code)
                    log.info("%s: skipped the execution of %s: %s", path, due.run, refused.message)
            job.schedule = schedules.with_handled_through(job.schedule, due.handled_through)
            session.commit()
            return started

    @staticmethod
    def has_run(session: Session, job: JobDefinition, instant: dt.datetime) -> bool:
        return (
            session.scalar(
                select(JobRun.id).where(
                    JobRun.job_definition_id == job.id, JobRun.scheduled_execution_time == instant
                )
            )
            is not None
        )

    @staticmethod
    def record(session: Session, path: str, instant: dt.datetime, skipped: str | None) -> None:
        query = {"scheduledExecutionTime": instant.isoformat()}
        if skipped is not None:
            query["skipped"] = skipped
        session.add(
            AuditEntry(
                at=utcnow(),
                principal=PRINCIPAL.name,
                token_id=None,
                method="POST",
                path=f"{path}?{urlencode(query)}",
                status_code=200 if skipped is None else 409,
                result="Succeeded" if skipped is None else "Skipped",
                client_request_id=None,
            )
        )
