"""When a job schedule executes: pure date arithmetic in UTC, no database, no HTTP.

A ``Recurrence`` is a validated ScheduleInfo (control/schedules.py builds it). Its executions
are the instants, in ascending order, that are not before ``start``, not after ``end`` and
match the frequency: ``Onetime`` is ``start`` itself; ``Daily``/``Weekly``/``Monthly`` are
``time_of_day`` after midnight of every (chosen) day, ``24:00`` being the next midnight; a
``Cron`` recurrence is every match of a five-field cron expression. A day of the month that a
month lacks (the 31st in April) is skipped in that month, as cron does.
"""

from __future__ import annotations

import collections
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field

from croniter import CroniterBadDateError, croniter

ONETIME = "Onetime"
DAILY = "Daily"
WEEKLY = "Weekly"
MONTHLY = "Monthly"
CRON = "Cron"  # not a wire value: a ScheduleInfo with a cronExpression
KINDS = frozenset({ONETIME, DAILY, WEEKLY, MONTHLY, CRON})

# Monday first, as date.weekday() counts
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
BOUNDARY_MINUTES = (0, 30)
DAY = dt.timedelta(days=1)
# Missed executions kept for reporting when a long outage skipped many of them.
MAX_REPORTED_MISSES = 20


@dataclass(frozen=True)
class Recurrence:
    kind: str
    start: dt.datetime  # aware, UTC
    end: dt.datetime | None = None  # aware, UTC; inclusive
    time_of_day: dt.timedelta = dt.timedelta(0)  # after midnight, 0 to 24 h
    weekdays: frozenset[int] = frozenset()  # 0 = Monday
    monthdays: frozenset[int] = frozenset()  # 1 to 31
    cron: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown recurrence kind {self.kind!r}")
        if self.kind == CRON and not self.cron:
            raise ValueError("a Cron recurrence needs a cron expression")
        for instant in (self.start, self.end):
            if instant is not None and instant.utcoffset() != dt.timedelta(0):
                raise ValueError("recurrence instants must be aware UTC datetimes")


def on_boundary(instant: dt.datetime) -> bool:
    """At :00 or :30 of an hour, to the second."""
    return instant.minute in BOUNDARY_MINUTES and instant.second == 0 and instant.microsecond == 0


def ceil_boundary(instant: dt.datetime) -> dt.datetime:
    """The first :00/:30 instant at or after ``instant``."""
    floor = instant.replace(minute=instant.minute - instant.minute % 30, second=0, microsecond=0)
    return floor if floor == instant else floor + dt.timedelta(minutes=30)


def executions(rec: Recurrence, after: dt.datetime) -> Iterator[dt.datetime]:
    """The executions strictly after ``after``, ascending (endless unless ``rec.end``)."""
    if rec.kind == ONETIME:
        if rec.start > after and (rec.end is None or rec.start <= rec.end):
            yield rec.start
        return
    times = _cron_times(rec, after) if rec.kind == CRON else _day_times(rec, after)
    for instant in times:
        if rec.end is not None and instant > rec.end:
            return
        yield instant


def _day_times(rec: Recurrence, after: dt.datetime) -> Iterator[dt.datetime]:
    if (rec.kind == WEEKLY and not rec.weekdays) or (rec.kind == MONTHLY and not rec.monthdays):
        return
    lower = max(after, rec.start - dt.timedelta(microseconds=1))
    # a 24:00 time belongs to the day before the instant it names
    day = (lower - rec.time_of_day).date()
    while True:
        instant = dt.datetime.combine(day, dt.time(), dt.UTC) + rec.time_of_day
        if instant > lower and _day_matches(rec, day):
            yield instant
        day += DAY


def _day_matches(rec: Recurrence, day: dt.date) -> bool:
    if rec.kind == WEEKLY:
        return day.weekday() in rec.weekdays
    if rec.kind == MONTHLY:
        return day.day in rec.monthdays
    return True


def _cron_times(rec: Recurrence, after: dt.datetime) -> Iterator[dt.datetime]:
    assert rec.cron is not None
    lower = max(after, rec.start - dt.timedelta(microseconds=1))
    times = croniter(rec.cron, lower)
    while True:
        try:
            instant = times.get_next(dt.datetime)
        except CroniterBadDateError:  # an expression that matches no real date
            return
        yield instant.astimezone(dt.UTC)


def next_execution(rec: Recurrence, after: dt.datetime) -> dt.datetime | None:
    """The first execution strictly after ``after``; None when the schedule is over."""
    return next(executions(rec, after), None)


@dataclass(frozen=True)
class Due:
    """What one look at the clock finds for a schedule handled up to some instant."""

    # the execution to start now; None when there is none or it is too late for it
    run: dt.datetime | None = None
    # executions that will not run because a later one came due (or grace ran out), newest
    # last, at most MAX_REPORTED_MISSES of them; ``missed_count`` counts them all
    missed: tuple[dt.datetime, ...] = field(default_factory=tuple)
    missed_count: int = 0
    # the newest execution now handled (the new watermark); None: nothing is due
    handled_through: dt.datetime | None = None


def due_runs(
    rec: Recurrence, handled_through: dt.datetime, now: dt.datetime, grace: dt.timedelta
) -> Due:
    """The executions in (``handled_through``, ``now``]: the newest runs if it is at most
    ``grace`` late, the others are missed (executions never pile up into a burst of runs)."""
    recent: collections.deque[dt.datetime] = collections.deque(maxlen=MAX_REPORTED_MISSES + 1)
    count = 0
    for instant in executions(rec, handled_through):
        if instant > now:
            break
        recent.append(instant)
        count += 1
    if not recent:
        return Due()
    newest = recent[-1]
    if now - newest <= grace:
        missed = tuple(recent)[:-1]
        return Due(newest, missed[-MAX_REPORTED_MISSES:], count - 1, newest)
    return Due(None, tuple(recent)[-MAX_REPORTED_MISSES:], count, newest)
