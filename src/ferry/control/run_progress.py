"""A job run's live state, kept in ``JobRun.properties["progress"]``: scanStatus, the twelve
counters of its completed work units, executionStartTime/EndTime and error. ``wire`` renders it
with the counters of the units leased now added (ferry.control.work_units.live_counters)."""

from __future__ import annotations

from typing import Any

from ferry.control.models import JobRun
from ferry.protocol import Counters, ErrorDetail, ScanStatus

PROGRESS_KEY = "progress"


def progress_of(run: JobRun) -> dict[str, Any]:
    progress: dict[str, Any] = run.properties.get(PROGRESS_KEY) or {}
    return progress


def set_progress(run: JobRun, **changes: Any) -> None:
    progress = dict(progress_of(run))
    progress.update(changes)
    run.properties = {**run.properties, PROGRESS_KEY: progress}


def start(run: JobRun, now_iso: str) -> None:
    """A run that starts (again): nothing scanned or counted yet."""
    set_progress(
        run,
        scanStatus=ScanStatus.NOT_STARTED.value,
        executionStartTime=now_iso,
        executionEndTime=None,
        error=None,
        **Counters().named(),
    )


def recorded_counters(run: JobRun) -> Counters:
    """The counters of the run's completed units."""
    return Counters.of(progress_of(run))


def add_counters(run: JobRun, counters: Counters) -> None:
    set_progress(run, **(recorded_counters(run) + counters).named())


def set_error(run: JobRun, error: ErrorDetail) -> None:
    set_progress(run, error=error.model_dump())


def scan_status(run: JobRun) -> str:
    return str(progress_of(run).get("scanStatus", ScanStatus.NOT_STARTED.value))


def wire(run: JobRun, live: Counters | None = None) -> dict[str, Any]:
    """scanStatus, counters and execution times of ``run`` in wire form; ``live`` counters
    (of its units leased now) are added."""
    progress = progress_of(run)
    counters = recorded_counters(run) + (live or Counters())
    properties: dict[str, Any] = {"scanStatus": scan_status(run), **counters.named()}
    for name in ("executionStartTime", "executionEndTime", "error"):
        if progress.get(name) is not None:
            properties[name] = progress[name]
    return properties
