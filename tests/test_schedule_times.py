"""When schedules execute (control/schedule_times.py): tables of known answers, and
properties checked with hypothesis against a brute-force oracle over every half hour."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from croniter import croniter
from hypothesis import given, settings
from hypothesis import strategies as st

from ferry.control.schedule_times import (
    CRON,
    DAILY,
    MAX_REPORTED_MISSES,
    MONTHLY,
    ONETIME,
    WEEKLY,
    Recurrence,
    ceil_boundary,
    due_runs,
    executions,
    next_execution,
    on_boundary,
)

UTC = dt.UTC
HALF_HOUR = dt.timedelta(minutes=30)
HOUR = dt.timedelta(hours=1)


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def first(rec: Recurrence, after: dt.datetime, n: int) -> list[dt.datetime]:
    return list(itertools.islice(executions(rec, after), n))


def hm(hour: int, minute: int = 0) -> dt.timedelta:
    return dt.timedelta(hours=hour, minutes=minute)


# 2025-01-01 is a Wednesday
START = at("2025-01-01T00:00")

TABLE = [
    ("onetime", Recurrence(ONETIME, at("2025-01-03T10:30")), START, ["2025-01-03T10:30"]),
    (
        "onetime already past",
        Recurrence(ONETIME, at("2025-01-03T10:30")),
        at("2025-01-03T10:30"),
        [],
    ),
    (
        "onetime after its end",
        Recurrence(ONETIME, at("2025-01-03T10:30"), end=at("2025-01-03T10:00")),
        START,
        [],
    ),
    (
        "daily",
        Recurrence(DAILY, START, time_of_day=hm(2, 30)),
        START,
        ["2025-01-01T02:30", "2025-01-02T02:30", "2025-01-03T02:30"],
    ),
    (
        "daily starting after today's time",
        Recurrence(DAILY, at("2025-01-01T03:00"), time_of_day=hm(2, 30)),
        START,
        ["2025-01-02T02:30", "2025-01-03T02:30", "2025-01-04T02:30"],
    ),
    (
        "daily at the start instant itself",
        Recurrence(DAILY, at("2025-01-01T02:30"), time_of_day=hm(2, 30)),
        START,
        ["2025-01-01T02:30", "2025-01-02T02:30", "2025-01-03T02:30"],
    ),
    (
        "daily 24:00 is the next midnight",
        Recurrence(DAILY, START, time_of_day=hm(24)),
        START,
        ["2025-01-02T00:00", "2025-01-03T00:00", "2025-01-04T00:00"],
    ),
    (
        "daily until an end",
        Recurrence(DAILY, START, end=at("2025-01-02T02:30"), time_of_day=hm(2, 30)),
        START,
        ["2025-01-01T02:30", "2025-01-02T02:30"],
    ),
    (
        "weekly Monday and Friday",
        Recurrence(WEEKLY, START, time_of_day=hm(18), weekdays=frozenset({0, 4})),
        START,
        ["2025-01-03T18:00", "2025-01-06T18:00", "2025-01-10T18:00"],
    ),
    (
        "weekly Sunday 24:00 is Monday 00:00",
        Recurrence(WEEKLY, START, time_of_day=hm(24), weekdays=frozenset({6})),
        START,
        ["2025-01-06T00:00", "2025-01-13T00:00", "2025-01-20T00:00"],
    ),
    (
        "monthly on the 31st skips short months",
        Recurrence(MONTHLY, START, time_of_day=hm(1), monthdays=frozenset({31})),
        START,
        ["2025-01-31T01:00", "2025-03-31T01:00", "2025-05-31T01:00"],
    ),
    (
        "monthly 1st and 15th",
        Recurrence(MONTHLY, START, time_of_day=hm(0, 30), monthdays=frozenset({1, 15})),
        START,
        ["2025-01-01T00:30", "2025-01-15T00:30", "2025-02-01T00:30"],
    ),
    (
        "monthly 29th in February of a leap year",
        Recurrence(MONTHLY, at("2028-02-01T00:00"), time_of_day=hm(12), monthdays=frozenset({29})),
        START,
        ["2028-02-29T12:00", "2028-03-29T12:00", "2028-04-29T12:00"],
    ),
    (
        "cron half-hourly on weekdays at 2",
        Recurrence(CRON, START, cron="0,30 2 * * 1-5"),
        START,
        ["2025-01-01T02:00", "2025-01-01T02:30", "2025-01-02T02:00"],
    ),
    (
        "cron honours the start",
        Recurrence(CRON, at("2025-01-01T02:30"), cron="*/30 * * * *"),
        START,
        ["2025-01-01T02:30", "2025-01-01T03:00", "2025-01-01T03:30"],
    ),
    (
        "cron honours the end",
        Recurrence(CRON, START, end=at("2025-01-01T01:00"), cron="*/30 * * * *"),
        START,
        ["2025-01-01T00:30", "2025-01-01T01:00"],
    ),
    ("cron that never matches", Recurrence(CRON, START, cron="0 0 31 2 *"), START, []),
    (
        "after a later instant",
        Recurrence(DAILY, START, time_of_day=hm(2, 30)),
        at("2025-03-01T02:30"),
        ["2025-03-02T02:30", "2025-03-03T02:30", "2025-03-04T02:30"],
    ),
]


@pytest.mark.parametrize(
    ("rec", "after", "expected"), [c[1:] for c in TABLE], ids=[c[0] for c in TABLE]
)
def test_known_executions(rec: Recurrence, after: dt.datetime, expected: list[str]) -> None:
    assert first(rec, after, 3) == [at(text) for text in expected]
    assert next_execution(rec, after) == (at(expected[0]) if expected else None)


def test_boundaries() -> None:
    assert on_boundary(at("2025-01-01T10:30"))
    assert not on_boundary(at("2025-01-01T10:15"))
    assert not on_boundary(at("2025-01-01T10:30:01"))
    assert ceil_boundary(at("2025-01-01T10:30")) == at("2025-01-01T10:30")
    assert ceil_boundary(at("2025-01-01T10:30:00.000001")) == at("2025-01-01T11:00")
    assert ceil_boundary(at("2025-01-01T23:45")) == at("2025-01-02T00:00")


def test_recurrence_rejects_naive_and_unknown() -> None:
    with pytest.raises(ValueError, match="UTC"):
        Recurrence(DAILY, dt.datetime(2025, 1, 1))
    with pytest.raises(ValueError, match="kind"):
        Recurrence("Hourly", START)
    with pytest.raises(ValueError, match="cron"):
        Recurrence(CRON, START)


DAILY_230 = Recurrence(DAILY, START, time_of_day=hm(2, 30))
DUE_TABLE = [
    ("nothing yet", START, at("2025-01-01T02:00"), None, [], None),
    ("on time", START, at("2025-01-01T02:30"), "2025-01-01T02:30", [], "2025-01-01T02:30"),
    ("a bit late", START, at("2025-01-01T03:15"), "2025-01-01T02:30", [], "2025-01-01T02:30"),
    ("too late", START, at("2025-01-01T03:31"), None, ["2025-01-01T02:30"], "2025-01-01T02:30"),
    (
        "two days down: the newest runs",
        START,
        at("2025-01-03T03:00"),
        "2025-01-03T02:30",
        ["2025-01-01T02:30", "2025-01-02T02:30"],
        "2025-01-03T02:30",
    ),
    ("already handled", at("2025-01-01T02:30"), at("2025-01-01T03:00"), None, [], None),
]


@pytest.mark.parametrize(
    ("handled", "now", "run", "missed", "through"),
    [c[1:] for c in DUE_TABLE],
    ids=[c[0] for c in DUE_TABLE],
)
def test_due_runs_table(
    handled: dt.datetime, now: dt.datetime, run: str | None, missed: list[str], through: str | None
) -> None:
    due = due_runs(DAILY_230, handled, now, HOUR)
    assert due.run == (at(run) if run else None)
    assert list(due.missed) == [at(m) for m in missed]
    assert due.missed_count == len(missed)
    assert due.handled_through == (at(through) if through else None)


def test_due_runs_reports_a_bounded_number_of_misses() -> None:
    rec = Recurrence(CRON, START, cron="0,30 * * * *")
    now = START + dt.timedelta(days=3)
    due = due_runs(rec, START, now, HOUR)
    assert due.run == now
    assert due.missed_count == 3 * 48 - 1
    assert len(due.missed) == MAX_REPORTED_MISSES
    assert due.missed[-1] == now - HALF_HOUR


# --------------------------------------------------------------------------------------------
# Properties

boundary_instants = st.builds(
    lambda day, slot: dt.datetime.combine(day, dt.time(), UTC) + slot * HALF_HOUR,
    st.dates(dt.date(2024, 1, 1), dt.date(2030, 12, 31)),
    st.integers(0, 47),
)
times_of_day = st.integers(0, 48).map(lambda slot: slot * HALF_HOUR)
crons = st.builds(
    lambda *fields: " ".join(fields),
    st.sampled_from(["0", "30", "0,30", "*/30"]),
    st.sampled_from(["*", "2", "*/6", "1-5", "0,23"]),
    st.sampled_from(["*", "1", "15", "31", "1,15", "29"]),
    st.sampled_from(["*", "2", "1-6", "*/3"]),
    st.sampled_from(["*", "1-5", "0", "6"]),
)


@st.composite
def recurrences(draw: st.DrawFn) -> Recurrence:
    kind = draw(st.sampled_from([ONETIME, DAILY, WEEKLY, MONTHLY, CRON]))
    start = draw(boundary_instants)
    end = draw(st.none() | st.integers(0, 2 * 365 * 48).map(lambda n: start + n * HALF_HOUR))
    return Recurrence(
        kind,
        start,
        end,
        time_of_day=draw(times_of_day),
        weekdays=frozenset(draw(st.sets(st.integers(0, 6), min_size=1))),
        monthdays=frozenset(draw(st.sets(st.integers(1, 31), min_size=1))),
        cron=draw(crons) if kind == CRON else None,
    )


def matches(rec: Recurrence, instant: dt.datetime) -> bool:
    """The oracle: does ``instant`` satisfy the recurrence's definition, bounds included?"""
    if instant < rec.start or (rec.end is not None and instant > rec.end):
        return False
    if rec.kind == ONETIME:
        return instant == rec.start
    if rec.kind == CRON:
        assert rec.cron is not None
        return bool(croniter.match(rec.cron, instant))
    day_start = instant - rec.time_of_day
    if day_start.time() != dt.time():
        return False
    if rec.kind == WEEKLY:
        return day_start.weekday() in rec.weekdays
    if rec.kind == MONTHLY:
        return day_start.day in rec.monthdays
    return True


afters = st.builds(
    lambda base, offset: base + dt.timedelta(minutes=offset),
    boundary_instants,
    st.integers(-60 * 24 * 40, 60 * 24 * 40),
)


@settings(max_examples=200, deadline=None)
@given(recurrences(), afters)
def test_executions_are_exactly_the_matches(rec: Recurrence, after: dt.datetime) -> None:
    found = first(rec, after, 6)
    # ascending, strictly after ``after``, within bounds, on :00/:30, matching
    assert found == sorted(set(found))
    for instant in found:
        assert instant > after
        assert instant >= rec.start
        assert rec.end is None or instant <= rec.end
        assert on_boundary(instant)
        assert matches(rec, instant)
    # none skipped: every half hour in between that matches is among them (over 8 days)
    window_end = min(
        found[-1] if found else after + dt.timedelta(days=8), after + dt.timedelta(days=8)
    )
    slot = ceil_boundary(after + dt.timedelta(microseconds=1))
    while slot <= window_end:
        assert (slot in found) == matches(rec, slot), slot
        slot += HALF_HOUR
    # chaining next_execution walks the same list
    chained: list[dt.datetime] = []
    cursor: dt.datetime | None = after
    while cursor is not None and len(chained) < len(found):
        cursor = next_execution(rec, cursor)
        if cursor is not None:
            chained.append(cursor)
    assert chained == found


@settings(max_examples=200, deadline=None)
@given(
    recurrences(),
    afters,
    st.integers(0, 60 * 24 * 20),
    st.integers(0, 60 * 24 * 20),
    st.integers(0, 120 * 60),
)
def test_due_runs_partition_and_monotonic(
    rec: Recurrence, handled: dt.datetime, later1: int, later2: int, grace_s: int
) -> None:
    grace = dt.timedelta(seconds=grace_s)
    now1 = handled + dt.timedelta(minutes=min(later1, later2))
    now2 = handled + dt.timedelta(minutes=max(later1, later2))
    due = due_runs(rec, handled, now1, grace)
    window: list[dt.datetime] = []
    for instant in executions(rec, handled):
        if instant > now1:
            break
        window.append(instant)
    assert due.missed_count + (due.run is not None) == len(window)
    assert due.handled_through == (window[-1] if window else None)
    if due.run is not None:
        assert due.run == window[-1] and now1 - due.run <= grace
    elif window:
        assert now1 - window[-1] > grace
    assert list(due.missed) == [t for t in window if t != due.run][-MAX_REPORTED_MISSES:]
    # nothing is due twice: from the new watermark, the same instant finds nothing
    if due.handled_through is not None:
        assert due_runs(rec, due.handled_through, now1, grace).handled_through is None
    # the watermark never goes back as time passes
    later = due_runs(rec, handled, now2, grace).handled_through
    if due.handled_through is not None:
        assert later is not None and later >= due.handled_through
