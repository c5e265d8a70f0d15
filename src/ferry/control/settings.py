"""What a control-plane process is configured with."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DEFAULT_PAGE_SIZE = 100
DEFAULT_MAX_ACTIVE_RUNS = 10
DB_FILE_NAME = "ferry.db"
ADMIN_TOKEN_FILE_NAME = "admin.token"  # noqa: S105 - a file name


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

    def __post_init__(self) -> None:
        if self.page_size < 1:
            raise ValueError("page_size must be at least 1")
        if self.retry_after_seconds < 1:
            raise ValueError("retry_after_seconds must be at least 1")

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / DB_FILE_NAME).resolve()}"

    @property
    def admin_token_path(self) -> Path:
        return self.data_dir / ADMIN_TOKEN_FILE_NAME
