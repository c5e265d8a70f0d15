"""One leased work unit of a pool run (ferry.control.units): one directory level with the
engine (``RunOptions.unit``), progress every ``progress_interval`` seconds (which renews the
unit's lease), and completion with the unit's counters and the subdirectories to queue.
A lost lease or a stopping agent abandons the unit: another agent redoes it. Like a whole
run (ferry.agent.runner), the data stream follows the agent's upload-limit schedule and the
unit's copy log is shipped as one stream of its lease."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from ferry.agent.bandwidth import UploadLimits, pace
from ferry.agent.client import AgentClient, ProtocolError, Unreachable, retrying
from ferry.agent.copylog_ship import CopyLogShipper
from ferry.agent.runner import (
    INTEGRITY,
    Outcome,
    RunnerOptions,
    _counters,
    _open,
    lease_seconds,
)
from ferry.engine.plan import CopyMode
from ferry.engine.run import CopyRun, RunOptions, RunStatus, RunSummary
from ferry.engine.transfer import Integrity, TransferSettings
from ferry.storage.errors import StorageError

log = logging.getLogger(__name__)
UNITS = "/agent/units"


class UnitRunner:
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
        self.path = str(lease["unit"]["path"])
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
            problem = {
                "code": "EndpointUnreachable",
                "message": f"cannot open the endpoints of run {run_info['name']}: {exc}",
            }
            return Outcome(self._complete("Failed", None, [], problem), problem)
        options = RunOptions(
            mode=CopyMode.MIRROR if run_info.get("copyMode") == "Mirror" else CopyMode.ADDITIVE,
            run_id=str(run_info["name"]),
            bwlimit=self.limits.rate(self.options.bwlimit),
            unit=self.path,
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

        worker = threading.Thread(target=work, name=f"ferry-unit-{self.path}", daemon=True)
        worker.start()
        lost = canceling = False
        while worker.is_alive():
            worker.join(self.options.progress_interval)
            if self.stop.is_set() and not engine.canceled:
                engine.cancel()  # the agent is stopping: the lease expires, the unit is redone
            status = pace(engine, self.limits, self.options.bwlimit)
            if self.shipper is not None:
                self.shipper.ship()
            try:
                answer = self.client.authed(
                    "POST",
                    f"{UNITS}/{self.lease_id}/progress",
                    {"status": status, "counters": _counters(engine)},
                )
            except Unreachable as exc:
                log.warning("progress not reported: %s", exc)
                continue
            except ProtocolError as exc:
                # LeaseLost, or a refusal that leaves the lease in doubt: stop, let it expire
                log.warning("unit %r: progress refused (%s); stopping it", self.path, exc)
                engine.cancel()
                lost = True
                continue
            if answer["cancelRequested"] and not canceling:
                engine.cancel()
                canceling = True
        if lost or (self.stop.is_set() and not canceling):
            if self.shipper is not None:
                self.shipper.close()  # the lease is gone: the log stays local
            return Outcome("LeaseLost")
        counters = _counters(engine)
        if failure:
            problem = {"code": "RunSetupFailed", "message": f"unit {self.path!r}: {failure[0]}"}
            return Outcome(self._complete("Failed", counters, [], problem), problem)
        summary = result[0]
        if summary.status is RunStatus.CANCELED:
            return Outcome(self._complete("Canceled", counters, [], None))
        if summary.status is RunStatus.FAILED:
            first = (summary.errors or [str(f.details) for f in summary.failures] or [""])[0]
            error = {
                "code": "ItemsFailed",
                "message": f"{summary.counters.items_failed} item(s) failed in "
                f"{self.path or '/'}; first error: {first}",
            }
            return Outcome(self._complete("Failed", counters, [], error))
        return Outcome(self._complete("Succeeded", counters, summary.subdirs, None))

    def _complete(
        self,
        status: str,
        counters: dict[str, int] | None,
        subdirs: list[str],
        error: dict[str, str] | None,
    ) -> str:
        if self.shipper is not None:
            self.shipper.finish()  # the unit's whole copy log is on the server before it ends
        body = {"status": status, "counters": counters, "subdirs": subdirs, "error": error}
        try:
            answer = retrying(
                lambda: self.client.authed("POST", f"{UNITS}/{self.lease_id}/complete", body),
                within=lease_seconds(self.lease),
                what=f"completing unit {self.path or '/'!r}",
            )
        except (ProtocolError, Unreachable) as exc:
            if isinstance(exc, ProtocolError) and exc.code != "LeaseLost":
                raise
            log.warning(
                "unit %r ended after its lease was lost (%s); another agent redoes it",
                self.path,
                exc,
            )
            return "LeaseLost"
        return str(answer["status"])
