"""A thread of each server that, every ``Settings.agent_sweep_interval_seconds``, returns the
units of expired leases to the queue (their grants revoked, ferry.control.work_units.sweep),
ends stopped runs whose agents are gone, marks agents silent past
``Settings.agent_offline_after_seconds`` Offline, and drops used nonces and expired agent
tokens. Every step is an idempotent update, so replicas may sweep the same database."""

from __future__ import annotations

import datetime as dt
import logging
import threading

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from ferry.control import work_units
from ferry.control.models import Agent, AgentIdentity, AgentNonce, AgentToken, utcnow
from ferry.control.settings import Settings
from ferry.protocol import AgentStatus

log = logging.getLogger(__name__)


class AgentSweeper:
    def __init__(self, sessions: sessionmaker[Session], settings: Settings) -> None:
        self.sessions = sessions
        self.settings = settings
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sweep_once(self) -> None:
        with self.sessions() as session:
            work_units.sweep(session)
        with self.sessions() as session:
            forget_agents(
                session,
                offline_after=self.settings.agent_offline_after_seconds,
                # a timestamp is good for the window on either side of the server's time
                nonce_window=2 * self.settings.signature_window_seconds,
            )

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


def forget_agents(session: Session, *, offline_after: float, nonce_window: float) -> None:
    """Silent agents Offline; nonces and agent tokens past their use gone."""
    now = utcnow()
    silent = select(AgentIdentity.agent_id).where(
        AgentIdentity.last_seen_at < now - dt.timedelta(seconds=offline_after)
    )
    session.execute(
        update(Agent)
        .where(
            Agent.id.in_(silent),
            Agent.agent_status.not_in((AgentStatus.OFFLINE, AgentStatus.REGISTERING)),
        )
        .values(agent_status=AgentStatus.OFFLINE)
    )
    session.execute(
        delete(AgentNonce).where(AgentNonce.seen_at < now - dt.timedelta(seconds=nonce_window))
    )
    session.execute(delete(AgentToken).where(AgentToken.expires_at < now))
    session.commit()
