"""The live progress display on a terminal: scan and transfer phases, items and bytes,
speed and ETA. Rich is imported only here, so non-interactive runs start faster."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from ferry.engine.run import Phase
from ferry.engine.run import Progress as RunProgress


class ProgressDisplay:
    def __init__(self, *, dry_run: bool) -> None:
        self._progress = Progress(
            TextColumn("[bold]{task.description:<12}"),
            BarColumn(),
            DownloadColumn(binary_units=True),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[items]}"),
            console=Console(stderr=True),
            transient=False,
        )
        self._dry_run = dry_run
        self._task: TaskID | None = None

    def start(self) -> None:
        self._progress.start()
        self._task = self._progress.add_task("scanning", total=None, items="")

    def update(self, progress: RunProgress) -> None:
        assert self._task is not None
        c = progress.counters
        phase = progress.phase
        description = {
            Phase.SCANNING: "scanning",
            Phase.TRANSFERRING: "transferring",
            Phase.DELETING: "deleting",
            Phase.DONE: "done",
        }[phase]
        if self._dry_run:
            description = "dry run"
        items = (
            f"{c.items_scanned:,} scanned · {c.items_transferred:,} moved · "
            f"{c.items_no_transfer_needed:,} unchanged · {c.items_failed:,} failed"
        )
        if c.items_deleted:
            items += f" · {c.items_deleted:,} deleted"
        self._progress.update(
            self._task,
            description=description,
            completed=c.bytes_moved,
            # The total grows while scanning, so the ETA only settles once the scan ends.
            total=c.bytes_to_move if phase is not Phase.SCANNING else None,
            items=items,
        )

    def stop(self) -> None:
        self._progress.stop()
