"""One leased job run: open the stores with the credentials the lease carries (in memory
only), run the engine, report progress every ``progress_interval`` seconds (which renews the
lease), cancel the engine when the run is stopped or the lease is lost, and complete it.
The data stream follows the agent's upload-limit schedule (a 0-Mbps window pauses it: status
PausedByBandwidthManagement); the copy log is shipped to the control plane as it grows."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ferry.agent.bandwidth import UploadLimits, pace
from ferry.agent.client import AgentClient, ProtocolError, Unreachable, retrying
from ferry.agent.copylog_ship import CopyLogShipper
from ferry.engine.plan import CopyMode
from ferry.engine.run import CopyRun, Phase, RunOptions, RunStatus, RunSummary
from ferry.engine.transfer import Integrity, TransferSettings
from ferry.storage.base import Store
from ferry.storage.errors import StorageError
from ferry.storage.url import open_store

log = logging.getLogger(__name__)

INTEGRITY = {
    "SaveFileMD5": Integrity.SAVE,
    "SaveVerifyFileMD5": Integrity.VERIFY,
}


@dataclass(frozen=True)
class RunnerOptions:
    progress_interval: float = 1.0
    bwlimit: float | None = None  # bytes per second for the agent's runs; None: unlimited


@dataclass(frozen=True)
class Outcome:
    status: str  # Succeeded | Failed | Canceled | LeaseLost
    problem: dict[str, str] | None = None  # errorDetails for the agent when it cannot work


def _counters(run: CopyRun) -> dict[str, int]:
    job_run = run.progress().counters.as_job_run()
    return {k: v for k, v in job_run.items() if not k.endswith("Deleted")}


def lease_seconds(lease: dict[str, Any]) -> float:
    """How long the lease lives unrenewed: the time a completion may keep retrying."""
    return float(lease.get("leaseSeconds") or 60)


def _open(side: dict[str, Any]) -> Store:
    return open_store(str(side["address"]), env=dict(side.get("env") or {}))


class LeaseRunner:
    def __init__(
        self,
        client: AgentClient,
        lease: dict[str, Any],
        options: RunnerOptions,
        stop: threading.Event,
        *,
        limits: UploadLimits | None = None,
        copy_logs: Path | None = None,
    ) -> None:
        self.client = client
        self.lease = lease
        self.lease_id = str(lease["leaseId"])
        self.options = options
        self.stop = stop
        self.limits = limits or UploadLimits(lease.get("uploadLimitSchedule"))
        self.copy_logs = copy_logs
        self.shipper: CopyLogShipper | None = None

    def execute(self) -> Outcome:
        run_info = self.lease["run"]
        try:
            source = _open(self.lease["source"])
            target = _open(self.lease["target"])
        except (StorageError, ValueError) as exc:
            message = f"cannot open the endpoints of run {run_info['name']}: {exc}"
            self._complete(
                "Failed", None, None, {"code": "EndpointUnreachable", "message": message}
            )
            return Outcome("Failed", {"code": "EndpointUnreachable", "message": message})
        options = RunOptions(
            mode=CopyMode.MIRROR if run_info.get("copyMode") == "Mirror" else CopyMode.ADDITIVE,
            run_id=str(run_info["name"]),
            bwlimit=self.limits.rate(self.options.bwlimit),
            transfer=TransferSettings(
                integrity=INTEGRITY.get(
                    str(run_info.get("dataIntegrityValidation")), Integrity.NONE
                )
            ),
        )
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

        worker = threading.Thread(target=work, name=f"ferry-run-{options.run_id}", daemon=True)
        worker.start()
        canceling = False
        lost = False
        while worker.is_alive():
            worker.join(self.options.progress_interval)
            if self.stop.is_set() and not engine.canceled:
                engine.cancel()  # the agent is stopping: the lease expires, the run is redone
            scanning = engine.progress().phase is Phase.SCANNING
            status = "Canceling" if canceling else pace(engine, self.limits, self.options.bwlimit)
            if self.shipper is not None:
                self.shipper.ship()
            try:
                answer = self.client.progress(
                    self.lease_id,
                    status=status,
                    scan_status="Scanning" if scanning else "Completed",
                    counters=_counters(engine),
                )
            except Unreachable as exc:
                log.warning("progress not reported: %s", exc)
                continue
            except ProtocolError as exc:
                # LeaseLost, or a refusal that leaves the lease in doubt: stop, let it expire
                log.warning("run %s: progress refused (%s); stopping it", options.run_id, exc)
                engine.cancel()
                lost = True
                continue
            if answer.cancel_requested and not canceling:
                log.info("run %s: stop requested", options.run_id)
                engine.cancel()
                canceling = True
                try:
                    self.client.progress(
                        self.lease_id, status="Canceling", scan_status=None, counters=None
                    )
                except (Unreachable, ProtocolError) as exc:
                    log.warning("run %s: Canceling not reported: %s", options.run_id, exc)
        if lost or (self.stop.is_set() and not canceling):
            if self.shipper is not None:
                self.shipper.close()  # the lease is gone: the log stays local
            return Outcome("LeaseLost")
        counters = _counters(engine)
        if failure:
            message = f"run {options.run_id} could not run: {failure[0]}"
            setup = {"code": "RunSetupFailed", "message": message}
            self._complete("Failed", None, counters, setup)
            return Outcome("Failed", setup)
        summary = result[0]
        if summary.status is RunStatus.CANCELED:
            return Outcome(self._complete("Canceled", None, counters, None))
        error: dict[str, str] | None = None
        if summary.status is RunStatus.FAILED:
            first = summary.errors[0] if summary.errors else ""
            detail = f"; first error: {first}" if first else ""
            error = {
                "code": "ItemsFailed",
                "message": f"{summary.counters.items_failed} item(s) failed{detail}. See the "
                "agent's copy log for each item.",
            }
        final = "Succeeded" if summary.status is RunStatus.SUCCEEDED else "Failed"
        return Outcome(self._complete(final, "Completed", counters, error))

    def _complete(
        self,
        status: str,
        scan_status: str | None,
        counters: dict[str, int] | None,
        error: dict[str, str] | None,
    ) -> str:
        if self.shipper is not None:
            self.shipper.finish()  # the whole copy log is on the server before the run ends
        try:
            return retrying(
                lambda: self.client.complete(
                    self.lease_id,
                    status=status,
                    scan_status=scan_status,
                    counters=counters,
                    error=error,
                ),
                within=lease_seconds(self.lease),
                what=f"completing run {self.lease['run']['name']}",
            )
        except Unreachable as exc:
            log.warning(
                "run %s not completed (%s); its lease expires and it is redone",
                self.lease["run"]["name"],
                exc,
            )
            return "LeaseLost"
