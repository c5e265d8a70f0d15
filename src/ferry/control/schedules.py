"""Job-definition schedules (ScheduleInfo): the rules, the stored form, the wire form.

The rules (docs/design.md §7.4, after Storage Mover's job scheduling): times in UTC on :00/:30; the start at most 90 days ahead;
the end after the start and within one year of the schedule's creation; days that exist; a
cron expression of five fields whose minutes are :00/:30; no schedule for on-premises S3
sources. Each mistake is a 400 with its own code and a message that says what to do.

Stored form (``JobDefinition.schedule``): the normalized ScheduleInfo in wire form plus, under
``STATE_KEY``, what the scheduler keeps: when the schedule was created (for the one-year rule)
and the newest execution already handled (the watermark that makes each execution start at
most one run). The API shows the wire form only.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from croniter import croniter

from ferry.control.arm import ArmError, bad_request
from ferry.control.models import Endpoint
from ferry.control.schedule_times import (
    BOUNDARY_MINUTES,
    CRON,
    DAILY,
    MONTHLY,
    ONETIME,
    WEEKDAYS,
    WEEKLY,
    Recurrence,
    ceil_boundary,
    next_execution,
    on_boundary,
)
from ferry.control.schemas import ScheduleInfo

NONE = "None"
FREQUENCIES = (ONETIME, DAILY, WEEKLY, MONTHLY, NONE)
MAX_START_AHEAD = dt.timedelta(days=90)
MAX_LIFETIME = dt.timedelta(days=365)
STATE_KEY = "ferryState"
# S3WithHMAC sourceTypes that are clouds; the others (MINIO, DELL_EMC, OTHER, unset) are
# taken for on-premises S3, for which the reference says scheduling is not available.
CLOUD_S3_SOURCE_TYPES = frozenset({"GCS", "IBM", "ALIBABA"})
FIELD = "properties.schedule"


def invalid(code: str, message: str, field: str | None = None) -> ArmError:
    return bad_request(code, message, target=f"{FIELD}.{field}" if field else FIELD)


# --------------------------------------------------------------------------------------------
# Stored form


def wire(stored: dict[str, Any] | None) -> dict[str, Any] | None:
    """The schedule as GET shows it (the SDK's ScheduleInfo)."""
    if stored is None:
        return None
    return {k: v for k, v in stored.items() if k != STATE_KEY}


def _state(stored: dict[str, Any] | None) -> dict[str, Any]:
    state = (stored or {}).get(STATE_KEY)
    return state if isinstance(state, dict) else {}


def _instant(text: Any) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text) if isinstance(text, str) else None


def created_at(stored: dict[str, Any] | None) -> dt.datetime | None:
    return _instant(_state(stored).get("createdAt"))


def handled_through(stored: dict[str, Any]) -> dt.datetime:
    """Executions at or before this instant are done with (run, skipped or before a change)."""
    instant = _instant(_state(stored).get("handledThrough"))
    return instant if instant is not None else dt.datetime.min.replace(tzinfo=dt.UTC)


def with_handled_through(stored: dict[str, Any], instant: dt.datetime) -> dict[str, Any]:
    """A new stored schedule (a new object, so that the ORM sees the change)."""
    state = {**_state(stored), "handledThrough": instant.isoformat()}
    return {**stored, STATE_KEY: state}


def recurrence(stored: dict[str, Any] | None) -> Recurrence | None:
    """The executions of an active stored schedule; None when it never runs (a schedule
    stored without the scheduler's state was never validated: it runs once saved again)."""
    if not stored or not stored.get("isActive") or stored.get("frequency") == NONE:
        return None
    if STATE_KEY not in stored:
        return None
    return _recurrence(wire(stored) or {})


def _recurrence(info: dict[str, Any]) -> Recurrence:
    start = _instant(info.get("startDate"))
    assert start is not None  # normalized schedules always have one
    time = info.get("executionTime") or {}
    return Recurrence(
        kind=CRON if info.get("cronExpression") else info["frequency"],
        start=start,
        end=_instant(info.get("endDate")),
        time_of_day=dt.timedelta(hours=time.get("hour", 0), minutes=time.get("minute", 0)),
        weekdays=frozenset(WEEKDAYS.index(d) for d in info.get("daysOfWeek") or ()),
        monthdays=frozenset(info.get("daysOfMonth") or ()),
        cron=info.get("cronExpression"),
    )


def updated(
    stored: dict[str, Any] | None,
    given: dict[str, Any] | None,
    *,
    source: Endpoint,
    now: dt.datetime,
    merge: bool,
) -> dict[str, Any] | None:
    """The stored schedule after a PUT (``merge=False``: ``given`` replaces it) or a PATCH
    (``merge=True``: ``given``'s fields replace those fields, a null removes one).

    ``stored`` itself comes back when nothing changes, so the scheduler's state survives a
    client sending back what it read; a changed schedule handles nothing before ``now``."""
    if given is None:
        return None
    if merge and stored is not None:
        given = {k: v for k, v in {**(wire(stored) or {}), **given}.items() if v is not None}
    info = ScheduleInfo.model_validate(given)
    previous = wire(stored)
    created = created_at(stored) if previous and previous.get("frequency") != NONE else None
    normalized = validate(
        info,
        now=now,
        created=created or now,
        previous_start=_instant((previous or {}).get("startDate")),
        source=source,
    )
    if stored is not None and normalized == previous:
        return stored
    state = {"createdAt": (created or now).isoformat(), "handledThrough": now.isoformat()}
    return {**normalized, STATE_KEY: state}


# --------------------------------------------------------------------------------------------
# Rules


def validate(
    info: ScheduleInfo,
    *,
    now: dt.datetime,
    created: dt.datetime,
    previous_start: dt.datetime | None,
    source: Endpoint,
) -> dict[str, Any]:
    """The normalized wire form of ``info``, or the ArmError of its first mistake."""
    frequency = _frequency(info)
    active = bool(info.is_active)
    if frequency == NONE:
        return {"frequency": NONE, "isActive": active}
    _check_source(source)
    if info.cron_expression is not None:
        return _validate_cron(info, frequency, active, now, created)
    assert frequency is not None
    start = _utc(info.start_date, "startDate")
    time = _execution_time(info)
    if start is None:
        if frequency == ONETIME:
            raise invalid(
                "ScheduleStartRequired",
                "A Onetime schedule needs a startDate: the UTC date and time of its run.",
                "startDate",
            )
        start = ceil_boundary(now)
    if time is None:
        if frequency != ONETIME and info.start_date is None:
            raise invalid(
                "ScheduleExecutionTimeRequired",
                f"A {frequency} schedule needs an executionTime (hour and minute, UTC) or a "
                "startDate whose time of day it takes.",
                "executionTime",
            )
        time = (start.hour, start.minute)
    elif frequency == ONETIME and time != (start.hour, start.minute):
        raise invalid(
            "ScheduleExecutionTimeMismatch",
            f"A Onetime schedule runs at its startDate ({start:%H:%M} UTC); make executionTime "
            f"{start.hour:02}:{start.minute:02} or leave it out.",
            "executionTime",
        )
    if frequency == ONETIME and start <= now and start != previous_start:
        raise invalid(
            "ScheduleStartInPast",
            f"The startDate {start.isoformat()} of a Onetime schedule has passed (it is now "
            f"{now.isoformat()}); choose a later time.",
            "startDate",
        )
    _check_start(start, now)
    end = _check_end(info, start, created)
    weekdays = _days_of_week(info, frequency)
    monthdays = _days_of_month(info, frequency)
    normalized: dict[str, Any] = {
        "frequency": frequency,
        "isActive": active,
        "executionTime": {"hour": time[0], "minute": time[1]},
        "startDate": start.isoformat(),
    }
    if weekdays:
        normalized["daysOfWeek"] = weekdays
    if monthdays:
        normalized["daysOfMonth"] = monthdays
    if end is not None:
        normalized["endDate"] = end.isoformat()
    _check_executes(normalized)
    return normalized


def _frequency(info: ScheduleInfo) -> str | None:
    if info.frequency is None:
        if info.cron_expression is None:
            raise invalid(
                "ScheduleFrequencyRequired",
                "Give the schedule a frequency (Onetime, Daily, Weekly or Monthly; None for "
                "no schedule) or a cronExpression.",
                "frequency",
            )
        return None
    for name in FREQUENCIES:
        if info.frequency.lower() == name.lower():
            return name
    raise invalid(
        "InvalidScheduleFrequency",
        f"The frequency '{info.frequency}' is not known; use one of {', '.join(FREQUENCIES)} "
        "(or a cronExpression for anything else).",
        "frequency",
    )


def _check_source(source: Endpoint) -> None:
    if source.endpoint_type != "S3WithHMAC":
        return
    kind = source.properties.get("sourceType")
    if kind is None or str(kind).upper() not in CLOUD_S3_SOURCE_TYPES:
        raise invalid(
            "ScheduleNotSupportedForSource",
            f"Schedules are not available for on-premises S3 sources (endpoint '{source.name}' "
            f"has sourceType {kind or 'unset'}); start its runs with startJob, or use a source "
            f"whose sourceType is one of {', '.join(sorted(CLOUD_S3_SOURCE_TYPES))}.",
        )


def _utc(value: dt.datetime | None, field: str) -> dt.datetime | None:
    if value is None:
        return None
    instant = value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
    if not on_boundary(instant):
        raise invalid(
            "ScheduleTimeNotOnBoundary",
            f"The {field} {instant.isoformat()} is not on a full or half hour; schedule times "
            "are UTC and end in :00:00 or :30:00.",
            field,
        )
    return instant


def _execution_time(info: ScheduleInfo) -> tuple[int, int] | None:
    time = info.execution_time
    if time is None:
        return None
    minute = 0 if time.minute is None else time.minute
    if not 0 <= time.hour <= 24 or minute not in BOUNDARY_MINUTES or (time.hour == 24 and minute):
        raise invalid(
            "InvalidScheduleTime",
            f"The executionTime {time.hour}:{minute:02} is not valid: hour 0-24 and minute 0 "
            "or 30 (UTC), hour 24 only with minute 0.",
            "executionTime",
        )
    return time.hour, minute


def _check_start(start: dt.datetime, now: dt.datetime) -> None:
    if start > now + MAX_START_AHEAD:
        raise invalid(
            "ScheduleStartTooFar",
            f"The startDate {start.isoformat()} is more than 90 days ahead; choose one no "
            f"later than {(now + MAX_START_AHEAD).isoformat()}.",
            "startDate",
        )


def _check_end(info: ScheduleInfo, start: dt.datetime, created: dt.datetime) -> dt.datetime | None:
    end = _utc(info.end_date, "endDate")
    if end is None:
        return None
    if end <= start:
        raise invalid(
            "ScheduleEndBeforeStart",
            f"The endDate {end.isoformat()} is not after the startDate {start.isoformat()}; "
            "choose a later endDate.",
            "endDate",
        )
    if end > created + MAX_LIFETIME:
        raise invalid(
            "ScheduleEndTooFar",
            f"The endDate {end.isoformat()} is more than one year after the schedule was "
            f"created ({created.isoformat()}); choose one no later than "
            f"{(created + MAX_LIFETIME).isoformat()}, or remove the schedule and create a new one.",
            "endDate",
        )
    return end


def _days_of_week(info: ScheduleInfo, frequency: str) -> list[str]:
    days = info.days_of_week or []
    if frequency != WEEKLY:
        if days:
            raise invalid(
                "ScheduleDaysNotAllowed",
                f"daysOfWeek applies to Weekly schedules only; remove it or make the frequency "
                f"Weekly (this one is {frequency}).",
                "daysOfWeek",
            )
        return []
    if not days:
        raise invalid(
            "ScheduleDaysRequired",
            'A Weekly schedule needs daysOfWeek, e.g. ["Monday", "Thursday"].',
            "daysOfWeek",
        )
    by_name = {name.lower(): name for name in WEEKDAYS}
    unknown = [day for day in days if day.lower() not in by_name]
    if unknown:
        raise invalid(
            "InvalidScheduleDays",
            f"{', '.join(map(repr, unknown))} is not a day of the week; use {', '.join(WEEKDAYS)}.",
            "daysOfWeek",
        )
    chosen = {by_name[day.lower()] for day in days}
    return [name for name in WEEKDAYS if name in chosen]


def _days_of_month(info: ScheduleInfo, frequency: str) -> list[int]:
    days = info.days_of_month or []
    if frequency != MONTHLY:
        if days:
            raise invalid(
                "ScheduleDaysNotAllowed",
                f"daysOfMonth applies to Monthly schedules only; remove it or make the "
                f"frequency Monthly (this one is {frequency}).",
                "daysOfMonth",
            )
        return []
    if not days:
        raise invalid(
            "ScheduleDaysRequired",
            "A Monthly schedule needs daysOfMonth, e.g. [1, 15].",
            "daysOfMonth",
        )
    wrong = [day for day in days if not 1 <= day <= 31]
    if wrong:
        raise invalid(
            "InvalidScheduleDays",
            f"daysOfMonth {wrong} are not days of a month; use 1 to 31 (a month without the "
            "day is skipped).",
            "daysOfMonth",
        )
    return sorted(set(days))


def _validate_cron(
    info: ScheduleInfo, frequency: str | None, active: bool, now: dt.datetime, created: dt.datetime
) -> dict[str, Any]:
    assert info.cron_expression is not None
    expression = " ".join(info.cron_expression.split())
    if frequency == ONETIME:
        raise invalid(
            "ScheduleCronConflict",
            "A cronExpression describes a recurring schedule; remove it for a Onetime schedule, "
            "or make the frequency Daily, Weekly or Monthly (or leave it out).",
            "cronExpression",
        )
    extra = [
        name
        for name, value in (
            ("executionTime", info.execution_time),
            ("daysOfWeek", info.days_of_week),
            ("daysOfMonth", info.days_of_month),
        )
        if value
    ]
    if extra:
        raise invalid(
            "ScheduleCronConflict",
            f"A cronExpression replaces executionTime, daysOfWeek and daysOfMonth; remove "
            f"{', '.join(extra)} or the cronExpression.",
            extra[0],
        )
    _check_cron(expression)
    start = _utc(info.start_date, "startDate") or ceil_boundary(now)
    _check_start(start, now)
    end = _check_end(info, start, created)
    normalized: dict[str, Any] = {"isActive": active, "cronExpression": expression}
    if frequency is not None:
        normalized = {"frequency": frequency, **normalized}
    normalized["startDate"] = start.isoformat()
    if end is not None:
        normalized["endDate"] = end.isoformat()
    _check_executes(normalized)
    return normalized


def _check_cron(expression: str) -> None:
    advice = (
        "use five fields (minute hour day-of-month month day-of-week, UTC) with minutes 0 "
        "and/or 30, e.g. '30 2 * * 1-5'"
    )
    if len(expression.split()) != 5 and not expression.startswith("@"):
        raise invalid(
            "InvalidCronExpression",
            f"The cronExpression '{expression}' does not have five fields; {advice}.",
            "cronExpression",
        )
    try:
        minutes: list[object] = list(croniter(expression).expanded[0])
    except (ValueError, KeyError) as exc:  # croniter's errors are ValueErrors
        raise invalid(
            "InvalidCronExpression",
            f"The cronExpression '{expression}' is not valid ({exc}); {advice}.",
            "cronExpression",
        ) from exc
    allowed: tuple[object, ...] = BOUNDARY_MINUTES
    if any(minute not in allowed for minute in minutes):
        raise invalid(
            "InvalidCronExpression",
            f"The cronExpression '{expression}' runs at minutes other than :00 and :30; {advice}.",
            "cronExpression",
        )


def _check_executes(normalized: dict[str, Any]) -> None:
    rec = _recurrence(normalized)
    if next_execution(rec, rec.start - dt.timedelta(microseconds=1)) is None:
        raise invalid(
            "ScheduleHasNoExecutions",
            "The schedule never runs between its startDate and its endDate; move the endDate "
            "later or choose other days or times.",
        )
