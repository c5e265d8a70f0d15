"""``ferry agent run``: heartbeats in one thread; in the main loop, lease a work unit, run it,
and look again. Unregistering the agent ends it: its next call is refused (AgentRevoked); so
does a server that speaks another protocol version (ProtocolMismatch)."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

from ferry.agent.bandwidth import UploadLimits
from ferry.agent.client import AgentClient, AgentRefused, AgentRevoked, ProtocolError, Unreachable
from ferry.agent.facts import facts
from ferry.agent.identity import AgentState, Identity
from ferry.agent.lease_runner import LEASE_LOST, LeaseRunner, RunnerOptions
from ferry.protocol import ErrorDetail, Lease

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DaemonOptions:
    heartbeat_interval: float = 30.0
    poll_interval: float = 5.0
    runner: RunnerOptions = field(default_factory=RunnerOptions)


class Daemon:
    def __init__(self, data_dir: Path, options: DaemonOptions) -> None:
        self.state = AgentState.load(data_dir)
        if not self.state.approved:
            raise AgentRevoked(
                "this agent's registration was not approved; run 'ferry agent register' again"
            )
        self.client = AgentClient(
            self.state.server, Identity.load(data_dir), self.state.ca_file(data_dir)
        )
        self.options = options
        self.copy_logs = data_dir / "copylogs"
        self.limits = UploadLimits()  # the uploadLimitSchedule of the latest heartbeat or lease
        self.stop = threading.Event()
        self.refused: AgentRefused | None = None
        self.problem: ErrorDetail | None = None

    def _refuse(self, refusal: AgentRefused) -> None:
        if self.refused is None:
            self.refused = refusal
        self.stop.set()

    def _heartbeat_once(self) -> None:
        try:
            answer = self.client.heartbeat(facts(self.client.host), self.problem)
            self.limits.update(answer.upload_limit_schedule)
        except Unreachable as exc:
            log.warning("heartbeat failed: %s", exc)
        except ProtocolError as exc:
            log.warning("heartbeat refused: %s", exc)

    def _heartbeats(self) -> None:
        while not self.stop.wait(self.options.heartbeat_interval):
            try:
                self._heartbeat_once()
            except AgentRefused as exc:
                self._refuse(exc)

    def _work(self, lease: Lease) -> None:
        """Run one leased work unit; a change in whether the agent can work is reported."""
        self.limits.update(lease.upload_limit_schedule)
        runner = LeaseRunner(
            self.client,
            lease,
            self.options.runner,
            self.stop,
            limits=self.limits,
            copy_logs=self.copy_logs,
        )
        outcome = runner.execute()
        log.info("%s ended: %s", runner.what, outcome.status)
        if outcome.status != LEASE_LOST and outcome.problem != self.problem:
            self.problem = outcome.problem
            self._heartbeat_once()

    def run(self) -> None:
        """Work until stopped; raises AgentRevoked or ProtocolMismatch when the server refuses
        this agent."""
        self.client.token()  # fail fast when the agent is not (or no longer) registered
        self._heartbeat_once()
        beats = threading.Thread(target=self._heartbeats, name="ferry-heartbeat", daemon=True)
        beats.start()
        try:
            while not self.stop.is_set():
                try:
                    lease = self.client.lease()
                except (Unreachable, ProtocolError) as exc:
                    log.warning("cannot ask for work: %s", exc)
                    lease = None
                if lease is None:
                    self.stop.wait(self.options.poll_interval)
                    continue
                try:
                    self._work(lease)
                except (Unreachable, ProtocolError) as exc:
                    # the agent outlives a failing server: the lease expires, the work is redone
                    log.warning("work given up: %s", exc)
        except AgentRefused as exc:
            self._refuse(exc)
        finally:
            self.stop.set()
            beats.join(self.options.heartbeat_interval + 5)
        if self.refused is not None:
            raise self.refused
