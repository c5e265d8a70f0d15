"""One leased work unit (docs/design.md §5): open the stores with the grants the lease carries
(in memory only), run the engine over the unit (the whole tree for a recursive unit, one
directory level otherwise), report progress every ``progress_interval`` seconds (which renews
the lease), cancel the engine when the run is stopped or the lease is lost, and complete the
unit with its counters and, for a one-level unit, the subdirectories to queue.

The data stream follows the agent's upload-limit schedule (a 0-Mbps window pauses it: status
PausedByBandwidthManagement); the unit's copy log is shipped to the control plane as it grows.
A lost lease or a stopping agent abandons the unit: its lease expires and it is redone."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from ferry.agent.bandwidth import UploadLimits, pace
from ferry.agent.client import AgentClient, ProtocolError, Unreachable, retrying
from ferry.agent.copylog_ship import CopyLogShipper
from ferry.engine.plan import CopyMode
from ferry.engine.run import CopyRun, Phase, RunOptions, RunStatus, RunSummary
from ferry.engine.transfer import Integrity, TransferSettings
from ferry.protocol import (
    Completion,
    Counters,
    ErrorDetail,
    Lease,
    ProgressReport,
    RunKind,
    ScanStatus,
    StoreGrant,
    UnitOutcome,
    error_detail,
)
from ferry.protocol import RunStatus as WireStatus
from ferry.storage.base import Store
from ferry.storage.errors import StorageError
from ferry.storage.url import open_store

log = logging.getLogger(__name__)

INTEGRITY = {
    "SaveFileMD5": Integrity.SAVE,
    "SaveVerifyFileMD5": Integrity.VERIFY,
}
LEASE_LOST = "LeaseLost"  # an outcome, not a state: the unit is redone elsewhere


@dataclass(frozen=True)
class RunnerOptions:
    progress_interval: float = 1.0
    bwlimit: float | None = None  # bytes per second for the agent's runs; None: unlimited


@dataclass(frozen=True)
class Outcome:
    status: str  # the run's status after the unit, or LEASE_LOST
    problem: ErrorDetail | None = None  # errorDetails for the agent when it cannot work


def _open(side: StoreGrant) -> Store:
    return open_store(side.address, env=dict(side.env))


def _engine_options(lease: Lease, bwlimit: float | None) -> RunOptions:
    """The engine's options for the unit; ValueError when the lease asks for what this agent
    cannot do."""
    if lease.run.kind != RunKind.COPY:
        raise ValueError(f"this agent cannot carry out runs of kind {lease.run.kind}")
    if lease.unit.recursive and lease.unit.path:
        raise ValueError("a recursive unit below the root is not supported")
    return RunOptions(
        mode=CopyMode.MIRROR if lease.run.copy_mode == "Mirror" else CopyMode.ADDITIVE,
        run_id=lease.run.name,
        bwlimit=bwlimit,
        unit=None if lease.unit.recursive else lease.unit.path,
        transfer=TransferSettings(
            integrity=INTEGRITY.get(lease.run.data_integrity_validation, Integrity.NONE)
        ),
    )


class LeaseRunner:
    def __init__(
        self,
        client: AgentClient,
        lease: Lease,
        options: RunnerOptions,
        stop: threading.Event,
        *,
        limits: UploadLimits | None = None,
        copy_logs: Path | None = None,
    ) -> None:
        self.client = client
        self.lease = lease
        self.lease_id = lease.lease_id
        self.options = options
        self.stop = stop
        self.limits = limits or UploadLimits(lease.upload_limit_schedule)
        self.copy_logs = copy_logs
        self.shipper: CopyLogShipper | None = None
        where = f" {lease.unit.path!r}" if lease.unit.path else ""
        self.what = f"run {lease.run.name}{where}"

    def execute(self) -> Outcome:
        try:
            source = _open(self.lease.source)
            target = _open(self.lease.target)
        except (StorageError, ValueError) as exc:
            problem = error_detail(
                "EndpointUnreachable", f"cannot open the endpoints of {self.what}: {exc}"
            )
            return self._fail(problem, None)
        try:
            options = _engine_options(self.lease, self.limits.rate(self.options.bwlimit))
        except ValueError as exc:
            return self._fail(error_detail("RunSetupFailed", f"{self.what}: {exc}"), None)
        self.shipper = CopyLogShipper.start(
            self.client, self.lease_id, options.run_id, self.copy_logs
        )
        engine = CopyRun(source, target, options, self.shipper.log if self.shipper else None)
        result: list[RunSummary] = []
        failure: list[BaseException] = []

        def work() -> None:
            try:
                result.append(engine.run())
            except BaseException as exc:  # reported below; the thread must not die silently
                failure.append(exc)

        worker = threading.Thread(target=work, name=f"ferry-{self.what}", daemon=True)
        worker.start()
        lost, canceling = self._watch(worker, engine)
        if lost or (self.stop.is_set() and not canceling):
            if self.shipper is not None:
                self.shipper.close()  # the lease is gone: the log stays local
            return Outcome(LEASE_LOST)
        counters = _counters(engine)
        if failure:
            return self._fail(
                error_detail("RunSetupFailed", f"{self.what}: {failure[0]}"), counters
            )
        summary = result[0]
        if summary.status is RunStatus.CANCELED:
            return Outcome(
                self._complete(Completion(status=UnitOutcome.CANCELED, counters=counters))
            )
        if summary.status is RunStatus.FAILED:
            first = (summary.errors or [str(f.details) for f in summary.failures] or [""])[0]
            detail = f"; first error: {first}" if first else ""
            where = f" in {self.lease.unit.path}" if self.lease.unit.path else ""
            error = error_detail(
                "ItemsFailed",
                f"{summary.counters.items_failed} item(s) failed{where}{detail}. See the "
                "agent's copy log for each item.",
            )
            failed = Completion(
                status=UnitOutcome.FAILED,
                scan_status=ScanStatus.COMPLETED,
                counters=counters,
                error=error,
            )
            return Outcome(self._complete(failed))
        done = Completion(
            status=UnitOutcome.SUCCEEDED,
            scan_status=ScanStatus.COMPLETED,
            counters=counters,
            subdirs=summary.subdirs,
        )
        return Outcome(self._complete(done))

    def _watch(self, worker: threading.Thread, engine: CopyRun) -> tuple[bool, bool]:
        """Report progress until the engine ends; whether the lease was lost, and whether the
        run was stopped (the engine canceled at the server's word)."""
        canceling = lost = False
        while worker.is_alive():
            worker.join(self.options.progress_interval)
            if self.stop.is_set() and not engine.canceled:
                engine.cancel()  # the agent is stopping: the lease expires, the unit is redone
            scanning = engine.progress().phase is Phase.SCANNING
            paced = pace(engine, self.limits, self.options.bwlimit)
            status = WireStatus.CANCELING if canceling else paced
            if self.shipper is not None:
                self.shipper.ship()
            report = ProgressReport(
                status=status,
                scan_status=ScanStatus.SCANNING if scanning else ScanStatus.COMPLETED,
                counters=_counters(engine),
            )
            try:
                answer = self.client.progress(self.lease_id, report)
            except Unreachable as exc:
                log.warning("progress not reported: %s", exc)
                continue
            except ProtocolError as exc:
                # LeaseLost, or a refusal that leaves the lease in doubt: stop, let it expire
                log.warning("%s: progress refused (%s); stopping it", self.what, exc)
                engine.cancel()
                lost = True
                continue
            if answer.cancel_requested and not canceling:
                log.info("%s: stop requested", self.what)
                engine.cancel()
                canceling = True
                try:
                    self.client.progress(self.lease_id, ProgressReport(status=WireStatus.CANCELING))
                except (Unreachable, ProtocolError) as exc:
                    log.warning("%s: Canceling not reported: %s", self.what, exc)
        return lost, canceling

    def _fail(self, problem: ErrorDetail, counters: Counters | None) -> Outcome:
        failed = Completion(status=UnitOutcome.FAILED, counters=counters, error=problem)
        return Outcome(self._complete(failed), problem)

    def _complete(self, completion: Completion) -> str:
        if self.shipper is not None:
            self.shipper.finish()  # the unit's whole copy log is on the server before it ends
        try:
            answer = retrying(
                lambda: self.client.complete(self.lease_id, completion),
                within=self.lease.lease_seconds,
                what=f"completing {self.what}",
            )
        except (ProtocolError, Unreachable) as exc:
            if isinstance(exc, ProtocolError) and exc.code != "LeaseLost":
                raise
            log.warning("%s ended after its lease was lost (%s); it is redone", self.what, exc)
            return LEASE_LOST
        return str(answer.status)


def _counters(run: CopyRun) -> Counters:
    return Counters.of(run.progress().counters.as_job_run())
