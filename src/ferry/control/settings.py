"""What a control-plane process is configured with."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_PAGE_SIZE = 100
DEFAULT_MAX_ACTIVE_RUNS = 10
DB_FILE_NAME = "ferry.db"
ADMIN_TOKEN_FILE_NAME = "admin.token"  # noqa: S105 - a file name
DEFAULT_SCHEDULER_INTERVAL = 30.0
DEFAULT_MISFIRE_GRACE = 3600.0


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    # SQLAlchemy URL; None means the SQLite file in the data directory.
    database_url: str | None = None
    # Items per list page before a nextLink is given.
    page_size: int = DEFAULT_PAGE_SIZE
    # Runs that may be active at once in one storage mover.
    max_active_runs_per_mover: int = DEFAULT_MAX_ACTIVE_RUNS
    # Seconds in the Retry-After header of 202 answers (ARM clients treat 0 as "use my default").
    retry_after_seconds: int = 1
    # Optional finer hint (x-ms-retry-after-ms), which azure-core prefers over Retry-After.
    retry_after_ms: int | None = None
    # Seconds between the scheduler's looks for due schedule executions; None: no scheduler.
    scheduler_interval_seconds: float | None = DEFAULT_SCHEDULER_INTERVAL
    # How late (seconds) a scheduled execution may still start, e.g. after the server was
    # down; later than that it is skipped and recorded as missed.
    schedule_misfire_grace_seconds: float = DEFAULT_MISFIRE_GRACE
    # The current time (aware, UTC) for schedules; tests substitute a clock they move.
    clock: Callable[[], dt.datetime] = field(default=utc_now)

    def __post_init__(self) -> None:
        if self.page_size < 1:
            raise ValueError("page_size must be at least 1")
        if self.retry_after_seconds < 1:
            raise ValueError("retry_after_seconds must be at least 1")
        if self.scheduler_interval_seconds is not None and self.scheduler_interval_seconds <= 0:
            raise ValueError("scheduler_interval_seconds must be positive (None disables it)")
        if self.schedule_misfire_grace_seconds < 0:
            raise ValueError("schedule_misfire_grace_seconds must not be negative")

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / DB_FILE_NAME).resolve()}"

    @property
    def admin_token_path(self) -> Path:
        return self.data_dir / ADMIN_TOKEN_FILE_NAME
