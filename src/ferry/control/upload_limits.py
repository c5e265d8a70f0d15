"""An agent's weekly upload-limit schedule (``uploadLimitSchedule``) and its rules: windows on
full or half hours within one day, start before end, no overlaps, 0..2^31-1 Mbps (0 pauses)."""

from __future__ import annotations

import itertools
from collections import defaultdict

from ferry.control.arm import bad_request
from ferry.control.models import Agent
from ferry.protocol import UploadLimitSchedule, UploadLimitTime

MAX_LIMIT_MBPS = 2_147_483_647
FIELD = "properties.uploadLimitSchedule.weeklyRecurrences"
SCHEDULE_FIELD = "uploadLimitSchedule"  # where an agent's schedule is kept in its properties


def agent_schedule(agent: Agent) -> UploadLimitSchedule:
    """The agent's schedule, as heartbeat and lease answers carry it."""
    return UploadLimitSchedule.model_validate(agent.properties.get(SCHEDULE_FIELD) or {})


def check_schedule(schedule: UploadLimitSchedule) -> None:
    """Raise the 400 of the first rule ``schedule`` breaks."""
    windows: dict[str, list[tuple[int, int, int]]] = defaultdict(list)
    for index, recurrence in enumerate(schedule.weekly_recurrences):
        where = f"{FIELD}[{index}]"
        for name, time in (("startTime", recurrence.start_time), ("endTime", recurrence.end_time)):
            check_time(time, f"{where}.{name}")
        start, end = recurrence.start_time.minutes, recurrence.end_time.minutes
        if start >= end:
            raise bad_request(
                "InvalidUploadLimitWindow",
                f"Recurrence {index} starts at {clock(start)} and ends at {clock(end)}: the "
                "start must be earlier than the end (a window cannot span midnight; split it "
                "in two).",
                target=where,
            )
        if not recurrence.days:
            raise bad_request(
                "InvalidUploadLimitDays",
                f"Recurrence {index} names no days.",
                target=f"{where}.days",
            )
        if len(set(recurrence.days)) != len(recurrence.days):
            raise bad_request(
                "DuplicateUploadLimitDay",
                f"Recurrence {index} names a day more than once.",
                target=f"{where}.days",
            )
        if not 0 <= recurrence.limit_in_mbps <= MAX_LIMIT_MBPS:
            raise bad_request(
                "InvalidUploadLimit",
                f"Recurrence {index} has limitInMbps {recurrence.limit_in_mbps}: use 0 "
                f"(pause) to {MAX_LIMIT_MBPS}.",
                target=f"{where}.limitInMbps",
            )
        for day in recurrence.days:
            windows[day].append((start, end, index))
    for weekday, spans in windows.items():
        spans.sort()
        for (_s1, end1, first), (start2, _e2, second) in itertools.pairwise(spans):
            if start2 < end1:
                raise bad_request(
                    "UploadLimitWindowsOverlap",
                    f"Recurrences {min(first, second)} and {max(first, second)} overlap on "
                    f"{weekday}; only one limit may apply at a time.",
                    target=f"{FIELD}[{max(first, second)}]",
                )


def check_time(time: UploadLimitTime, target: str) -> None:
    valid = 0 <= time.hour <= 24 and time.minute in (0, 30)
    if not valid or (time.hour == 24 and time.minute != 0):
        raise bad_request(
            "InvalidUploadLimitTime",
            f"{time.hour:02d}:{time.minute:02d} is not a valid time: windows start and end on "
            "a full or half hour from 00:00 to 24:00.",
            target=target,
        )


def clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"
