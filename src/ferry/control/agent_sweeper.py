"""A thread of each server that, every ``Settings.agent_sweep_interval_seconds``, returns the
runs of expired leases to the queue, marks agents silent past
``Settings.agent_offline_after_seconds`` Offline, and drops used nonces and expired agent
tokens. Every step is an idempotent update, so replicas may sweep the same database. The
stored access policies of an expired lease are removed (its agent's SAS stops working)."""

from __future__ import annotations

import logging
import threading

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ferry.control import access_policies, leases, units
from ferry.control.models import JobRun, JobRunLease, utcnow
from ferry.control.settings import Settings

log = logging.getLogger(__name__)


class AgentSweeper:
    def __init__(self, sessions: sessionmaker[Session], settings: Settings) -> None:
        self.sessions = sessions
        self.settings = settings
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sweep_once(self) -> None:
        with self.sessions() as session:
            expired = session.execute(
                select(JobRunLease.job_run_id, JobRunLease.lease_id).where(
                    JobRunLease.expires_at <= utcnow()
                )
            ).all()
            leases.sweep(
                session,
                offline_after=self.settings.agent_offline_after_seconds,
                # a timestamp is good for the window on either side of the server's time
                nonce_window=2 * self.settings.signature_window_seconds,
            )
            for run_id, lease_id in expired:
                run = session.get(JobRun, run_id)
                if run is not None:
                    access_policies.revoke(session, run, lease_ids=[lease_id])
            if expired:
                session.commit()
        with self.sessions() as session:
            units.sweep(session)  # expired work-unit leases back to the queue

    def start(self) -> None:
        interval = self.settings.agent_sweep_interval_seconds
        assert interval is not None

        def loop() -> None:
            while not self._stop.wait(interval):
                try:
                    self.sweep_once()
                except Exception:
                    log.exception("the agent sweep failed; trying again in %s s", interval)

        self._thread = threading.Thread(target=loop, name="ferry-agent-sweeper", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
