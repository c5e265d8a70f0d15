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
DEFAULT_REGISTRATION_TTL = 900.0  # 15 minutes to approve an agent's user code
DEFAULT_AGENT_TOKEN_TTL = 600.0
DEFAULT_AGENT_OFFLINE_AFTER = 90.0
DEFAULT_AGENT_LEASE = 60.0
DEFAULT_AGENT_SWEEP_INTERVAL = 5.0
DEFAULT_SIGNATURE_WINDOW = 120.0
DEFAULT_RUN_SAS_TTL = 1800.0  # renewed while the run reports progress
DEFAULT_MAX_PENDING_REGISTRATIONS = 100


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
    # Agents (seconds): how long an agent's user code waits for approval, how long an agent
    # token lives, how long an agent may stay silent before it shows Offline, how long a job
    # run's lease lasts without renewal, how far a signed request's timestamp may be from
    # the server's time, and how long a run's container SAS (its stored access policy) is
    # valid without renewal.
    registration_ttl_seconds: float = DEFAULT_REGISTRATION_TTL
    agent_token_ttl_seconds: float = DEFAULT_AGENT_TOKEN_TTL
    agent_offline_after_seconds: float = DEFAULT_AGENT_OFFLINE_AFTER
    agent_lease_seconds: float = DEFAULT_AGENT_LEASE
    signature_window_seconds: float = DEFAULT_SIGNATURE_WINDOW
    run_sas_ttl_seconds: float = DEFAULT_RUN_SAS_TTL
    # Registrations waiting for approval at once (the unauthenticated route's only limit).
    max_pending_registrations: int = DEFAULT_MAX_PENDING_REGISTRATIONS
    # Times a work unit of a pool run is tried before the run fails.
    unit_max_attempts: int = 3
    # Seconds between sweeps for silent agents and expired leases; None: no sweeper.
    agent_sweep_interval_seconds: float | None = DEFAULT_AGENT_SWEEP_INTERVAL

    def __post_init__(self) -> None:
        if self.page_size < 1:
            raise ValueError("page_size must be at least 1")
        if self.retry_after_seconds < 1:
            raise ValueError("retry_after_seconds must be at least 1")
        if self.scheduler_interval_seconds is not None and self.scheduler_interval_seconds <= 0:
            raise ValueError("scheduler_interval_seconds must be positive (None disables it)")
        if self.schedule_misfire_grace_seconds < 0:
            raise ValueError("schedule_misfire_grace_seconds must not be negative")
        for name in (
            "registration_ttl_seconds",
            "agent_token_ttl_seconds",
            "agent_offline_after_seconds",
            "agent_lease_seconds",
            "signature_window_seconds",
            "run_sas_ttl_seconds",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.agent_sweep_interval_seconds is not None and self.agent_sweep_interval_seconds <= 0:
            raise ValueError("agent_sweep_interval_seconds must be positive (None disables it)")

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / DB_FILE_NAME).resolve()}"

    @property
    def admin_token_path(self) -> Path:
        return self.data_dir / ADMIN_TOKEN_FILE_NAME
