"""The agent's upload-limit schedule (``uploadLimitSchedule``, docs/design.md §4.10): weekly windows
in the agent's local time; inside one the data stream is held to ``limitInMbps`` (0 pauses
it), outside any it is unlimited. The control plane sends the schedule with every heartbeat
and lease; ``UploadLimits`` keeps the latest and answers the limit in force now.

``FERRY_AGENT_CLOCK_OFFSET`` (seconds, may be negative) shifts the clock the schedule is read
with. It exists for tests only, which need a window to end a few seconds from now; leave it
unset in production."""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ferry.engine.run import CopyRun
from ferry.protocol import RunStatus, UploadLimitSchedule

log = logging.getLogger(__name__)

BYTES_PER_MBPS = 1_000_000 / 8  # limitInMbps is in megabits per second
CLOCK_OFFSET_ENV = "FERRY_AGENT_CLOCK_OFFSET"
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True)
class Window:
    days: frozenset[int]  # 0 = Monday
    start: int  # minutes after local midnight
    end: int
    limit_mbps: int

    def holds(self, moment: dt.datetime) -> bool:
        minute = moment.hour * 60 + moment.minute
        return moment.weekday() in self.days and self.start <= minute < self.end


Schedule = UploadLimitSchedule | dict[str, Any] | None


def parse_schedule(schedule: Schedule) -> list[Window]:
    """The windows of an ``uploadLimitSchedule`` (the message, or its wire form)."""
    if not isinstance(schedule, UploadLimitSchedule):
        schedule = UploadLimitSchedule.model_validate(schedule or {})
    return [
        Window(
            days=frozenset(DAYS.index(day) for day in entry.days),
            start=entry.start_time.minutes,
            end=entry.end_time.minutes,
            limit_mbps=entry.limit_in_mbps,
        )
        for entry in schedule.weekly_recurrences
    ]


def local_clock() -> Callable[[], dt.datetime]:
    """Local time now, shifted by ``FERRY_AGENT_CLOCK_OFFSET`` seconds (tests only)."""
    offset = dt.timedelta(seconds=float(os.environ.get(CLOCK_OFFSET_ENV) or 0))

    def now() -> dt.datetime:
        return (dt.datetime.now(dt.UTC) + offset).astimezone()

    return now


class UploadLimits:
    """The latest schedule; thread-safe (heartbeats update it while runs read it)."""

    def __init__(
        self,
        schedule: Schedule = None,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._windows = parse_schedule(schedule)
        self._clock = clock or local_clock()

    def update(self, schedule: Schedule) -> None:
        windows = parse_schedule(schedule)
        with self._lock:
            self._windows = windows

    def limit_mbps(self, moment: dt.datetime | None = None) -> int | None:
        """The limit of the window holding ``moment`` (default: now), None outside windows."""
        moment = moment or self._clock()
        with self._lock:
            for window in self._windows:
                if window.holds(moment):
                    return window.limit_mbps
        return None

    def rate(self, cap: float | None = None, moment: dt.datetime | None = None) -> float | None:
        """Bytes per second for the data stream now: the window's limit, at most ``cap``
        (the agent's own --bwlimit); None is unlimited, 0 paused."""
        mbps = self.limit_mbps(moment)
        scheduled = None if mbps is None else mbps * BYTES_PER_MBPS
        if scheduled is None:
            return cap
        return scheduled if cap is None else min(scheduled, cap)


def pace(engine: CopyRun, limits: UploadLimits, cap: float | None) -> RunStatus:
    """Hold ``engine``'s data stream to the limit in force now (at most ``cap``, the agent's
    --bwlimit); the status to report: PausedByBandwidthManagement in a 0-Mbps window, else
    Running. The lease runner calls it with each progress tick."""
    rate = limits.rate(cap)
    if rate != engine.bucket.rate:
        log.info("run %s: data rate now %s B/s", engine.run_id, rate)
        engine.bucket.set_rate(rate)
    return RunStatus.PAUSED_BY_BANDWIDTH if rate == 0 else RunStatus.RUNNING
