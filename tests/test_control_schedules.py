"""Job-definition schedules through the SDK: the ScheduleInfo rules, and the scheduler starting
runs with triggerType Scheduled, on SQLite and PostgreSQL, with two servers on one database.

The servers here read a fake clock the tests move (``Settings.clock``), so an execution
"a few seconds ahead" comes when the test says, and the scheduler looks every 0.1 s. Both
servers of a backend run their schedulers throughout, so every test also checks that two
servers start one run per execution.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.storagemover.models import (
    JobDefinition,
    JobDefinitionProperties,
    JobDefinitionUpdateParameters,
    JobDefinitionUpdateProperties,
    ScheduleInfo,
    SchedulerTime,
)

from control_server import PAGE_SIZE, Ferry, RunningServer
from ferry.control import Settings, job_run_start
from ferry.control.schedule_times import ceil_boundary
from ferry.control.scheduler import Scheduler
from pg_server import Postgres

RG = "rg-schedules"
TICK = 0.1
DEADLINE = 15.0
T = TypeVar("T")


class FakeClock:
    """Settings.clock for the servers: UTC time that moves only when a test moves it."""

    def __init__(self, now: dt.datetime) -> None:
        self._now = now
        self._lock = threading.Lock()

    def __call__(self) -> dt.datetime:
        with self._lock:
            return self._now

    def set(self, now: dt.datetime) -> None:
        with self._lock:
            assert now >= self._now, "the fake clock only moves forward"
            self._now = now


@dataclass(frozen=True)
class Clocked:
    ferry: Ferry
    clock: FakeClock
    servers: tuple[RunningServer, RunningServer]

    @property
    def schedulers(self) -> list[Scheduler]:
        apps: list[Any] = [server.server.config.app for server in self.servers]
        return [app.state.scheduler for app in apps]

    def wait_ticks(self, count: int = 2) -> None:
        """Until every server's scheduler has looked ``count`` more times."""
        targets = [(s, s.ticks + count) for s in self.schedulers]
        wait_for(lambda: all(s.ticks >= n for s, n in targets) or None, "scheduler ticks")

    def soon(self, ahead: dt.timedelta = dt.timedelta(hours=1)) -> dt.datetime:
        return ceil_boundary(self.clock() + ahead)


def error_code(error: HttpResponseError) -> str | None:
    return error.error.code if error.error is not None else None


def wait_for(probe: Callable[[], T | None], what: str) -> T:
    deadline = time.monotonic() + DEADLINE
    while True:
        value = probe()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@contextlib.contextmanager
def own_database(postgres: Postgres) -> Iterator[str]:
    """A database of these tests' own: the session's Ferry server (real clock) stays out."""
    import psycopg

    name = "ferry_sched_" + secrets.token_hex(6)
    with psycopg.connect(postgres.admin_conninfo(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield postgres.url(name)
    finally:
        with psycopg.connect(postgres.admin_conninfo(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def clocked(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Clocked]:
    backend: str = request.param
    real = dt.datetime.now(dt.UTC)
    clock = FakeClock(real.replace(minute=0, second=0, microsecond=0))
    data_dir: Path = tmp_path_factory.mktemp(f"sched-{backend}")
    with contextlib.ExitStack() as stack:
        url = None
        if backend == "postgresql":
            url = stack.enter_context(own_database(request.getfixturevalue("postgres")))
        settings = Settings(
            data_dir=data_dir,
            database_url=url,
            page_size=PAGE_SIZE,
            max_active_runs_per_mover=3,
            retry_after_ms=50,
            scheduler_interval_seconds=TICK,
            clock=clock,
        )
        first = stack.enter_context(RunningServer(settings))
        second = stack.enter_context(RunningServer(settings))
        token = (data_dir / "admin.token").read_text().strip()
        yield Clocked(Ferry(backend, first.url, data_dir, token, url), clock, (first, second))


def make_client(ferry: Ferry) -> Any:
    """An SDK client (Any: the tests read its optional fields without None checks)."""
    client = ferry.client(ferry.subscription())
    client.storage_movers.create_or_update(RG, "mover", {"location": "eastus"})
    endpoints = {
        "nas": {"endpointType": "NfsMount", "host": "nas", "export": "/data"},
        "target": {"endpointType": "LocalPath", "path": "/srv/target", "endpointKind": "Target"},
        "minio": {
            "endpointType": "S3WithHMAC",
            "sourceUri": "https://minio.example.com/b",
            "sourceType": "MINIO",
        },
        "gcs": {
            "endpointType": "S3WithHMAC",
            "sourceUri": "https://storage.googleapis.com/b",
            "sourceType": "GCS",
        },
    }
    for name, properties in endpoints.items():
        client.endpoints.create_or_update(RG, "mover", name, {"properties": properties})
    client.projects.create_or_update(RG, "mover", "proj", {})
    return client


def put(client: Any, name: str, schedule: Any, source: str = "nas") -> Any:
    return client.job_definitions.create_or_update(
        RG,
        "mover",
        "proj",
        name,
        JobDefinition(
            properties=JobDefinitionProperties(
                source_name=source, target_name="target", copy_mode="Additive", schedule=schedule
            )
        ),
    )


def runs(client: Any, job: str) -> list[Any]:
    return list(client.job_runs.list(RG, "mover", "proj", job))


def wait_run(client: Any, job: str, at: dt.datetime) -> Any:
    def probe() -> Any:
        found = [r for r in runs(client, job) if r.properties.scheduled_execution_time == at]
        return found[0] if found else None

    return wait_for(probe, f"the run of {job} scheduled at {at.isoformat()}")


def test_onetime_schedule_starts_one_scheduled_run(clocked: Clocked) -> None:
    client = make_client(clocked.ferry)
    at = clocked.soon()
    schedule = ScheduleInfo(frequency="Onetime", is_active=True, start_date=at)
    created = put(client, "once", schedule).properties.schedule
    assert (created.frequency, created.is_active, created.start_date) == ("Onetime", True, at)
    assert (created.execution_time.hour, created.execution_time.minute) == (at.hour, at.minute)

    clocked.clock.set(at - dt.timedelta(seconds=5))
    clocked.wait_ticks()
    assert runs(client, "once") == []

    clocked.clock.set(at + dt.timedelta(seconds=1))
    run = wait_run(client, "once", at)
    p = run.properties
    assert (p.trigger_type, p.status, p.source_name) == ("Scheduled", "Queued", "nas")
    assert p.job_definition_properties["schedule"]["frequency"] == "Onetime"
    assert "ferryState" not in p.job_definition_properties["schedule"]
    assert run.system_data.created_by == "scheduler"
    job = client.job_definitions.get(RG, "mover", "proj", "once")
    assert job.properties.latest_job_run_name == run.name

    client.job_definitions.stop_job(RG, "mover", "proj", "once")
    clocked.clock.set(at + dt.timedelta(days=1))
    clocked.wait_ticks()
    assert len(runs(client, "once")) == 1
    # the definition as read, sent back after its one-time start passed, is still accepted
    again = put(client, "once", job.properties.schedule).properties.schedule
    assert again.start_date == at
    raw = clocked.ferry.http("GET", job.id).json()
    assert "ferryState" not in raw["properties"]["schedule"]


def test_an_execution_during_an_active_run_is_skipped_and_recorded(clocked: Clocked) -> None:
    client = make_client(clocked.ferry)
    first = clocked.soon()
    schedule = ScheduleInfo(
        frequency="Daily",
        is_active=True,
        execution_time=SchedulerTime(hour=first.hour, minute=first.minute),
    )
    put(client, "daily", schedule)

    clocked.clock.set(first + dt.timedelta(seconds=1))
    wait_run(client, "daily", first)
    second = first + dt.timedelta(days=1)
    clocked.clock.set(second + dt.timedelta(seconds=1))
    clocked.wait_ticks()
    assert [r.properties.scheduled_execution_time for r in runs(client, "daily")] == [first]

    audit = clocked.ferry.http("GET", "/ferry/v1/auditLog", params={"$top": "1000"}).json()
    mine = [e for e in audit["value"] if "/jobDefinitions/daily/startJob" in e["path"]]
    by_outcome = {(e["result"], e["statusCode"]): parse_qs(urlsplit(e["path"]).query) for e in mine}
    assert by_outcome[("Succeeded", 200)]["scheduledExecutionTime"] == [first.isoformat()]
    skipped = by_outcome[("Skipped", 409)]
    assert skipped == {
        "scheduledExecutionTime": [second.isoformat()],
        "skipped": ["JobRunAlreadyActive"],
    }
    assert {e["principal"] for e in mine} == {"scheduler"}

    client.job_definitions.stop_job(RG, "mover", "proj", "daily")
    third = second + dt.timedelta(days=1)
    clocked.clock.set(third + dt.timedelta(seconds=1))
    wait_run(client, "daily", third)
    assert len(runs(client, "daily")) == 2


def test_cron_schedule_enabled_by_patch(clocked: Clocked) -> None:
    client = make_client(clocked.ferry)
    put(client, "cron", ScheduleInfo(cron_expression="0,30  * * * *", is_active=False))
    stored = client.job_definitions.get(RG, "mover", "proj", "cron").properties.schedule
    assert (stored.cron_expression, stored.is_active, stored.frequency) == (
        "0,30 * * * *",
        False,
        None,
    )

    passed = clocked.soon(dt.timedelta(minutes=1))
    clocked.clock.set(passed + dt.timedelta(seconds=1))
    clocked.wait_ticks()
    assert runs(client, "cron") == []

    enable = JobDefinitionUpdateParameters(
        properties=JobDefinitionUpdateProperties(schedule=ScheduleInfo(is_active=True))
    )
    patched = client.job_definitions.update(RG, "mover", "proj", "cron", enable)
    assert patched.properties.schedule.is_active is True
    assert patched.properties.schedule.cron_expression == "0,30 * * * *"
    clocked.wait_ticks()
    assert runs(client, "cron") == []  # the execution before the change stays unrun

    following = passed + dt.timedelta(minutes=30)
    clocked.clock.set(following + dt.timedelta(seconds=1))
    assert wait_run(client, "cron", following).properties.trigger_type == "Scheduled"

    client.job_definitions.update(RG, "mover", "proj", "cron", {"properties": {"schedule": None}})
    assert client.job_definitions.get(RG, "mover", "proj", "cron").properties.schedule is None


def test_schedule_rules(clocked: Clocked) -> None:
    client = make_client(clocked.ferry)
    now = clocked.clock()
    soon = clocked.soon()
    iso = dt.datetime.isoformat
    daily = {"frequency": "Daily", "executionTime": {"hour": 2}}
    weekday_later = (soon + dt.timedelta(days=3)).strftime("%A")
    cases: list[tuple[dict[str, Any], str]] = [
        ({"frequency": "Hourly"}, "InvalidScheduleFrequency"),
        ({"isActive": True}, "ScheduleFrequencyRequired"),
        ({"frequency": "Onetime"}, "ScheduleStartRequired"),
        (
            {"frequency": "Onetime", "startDate": iso(soon + dt.timedelta(minutes=15))},
            "ScheduleTimeNotOnBoundary",
        ),
        (
            {"frequency": "Onetime", "startDate": iso(ceil_boundary(now) - dt.timedelta(hours=1))},
            "ScheduleStartInPast",
        ),
        (
            {"frequency": "Onetime", "startDate": iso(soon + dt.timedelta(days=91))},
            "ScheduleStartTooFar",
        ),
        (
            {"frequency": "Onetime", "startDate": iso(soon), "executionTime": {"hour": 25}},
            "InvalidScheduleTime",
        ),
        ({"frequency": "Daily", "executionTime": {"hour": 2, "minute": 15}}, "InvalidScheduleTime"),
        (
            {"frequency": "Daily", "executionTime": {"hour": 24, "minute": 30}},
            "InvalidScheduleTime",
        ),
        ({"frequency": "Daily"}, "ScheduleExecutionTimeRequired"),
        (
            {
                "frequency": "Onetime",
                "startDate": iso(soon),
                "executionTime": {"hour": (soon.hour + 1) % 24},
            },
            "ScheduleExecutionTimeMismatch",
        ),
        ({**daily, "startDate": iso(soon), "endDate": iso(soon)}, "ScheduleEndBeforeStart"),
        ({**daily, "endDate": iso(soon + dt.timedelta(days=366))}, "ScheduleEndTooFar"),
        ({**daily, "daysOfWeek": ["Monday"]}, "ScheduleDaysNotAllowed"),
        ({**daily, "daysOfMonth": [1]}, "ScheduleDaysNotAllowed"),
        ({"frequency": "Weekly", "executionTime": {"hour": 2}}, "ScheduleDaysRequired"),
        ({"frequency": "Monthly", "executionTime": {"hour": 2}}, "ScheduleDaysRequired"),
        (
            {"frequency": "Weekly", "executionTime": {"hour": 2}, "daysOfWeek": ["Funday"]},
            "InvalidScheduleDays",
        ),
        (
            {"frequency": "Monthly", "executionTime": {"hour": 2}, "daysOfMonth": [0, 32]},
            "InvalidScheduleDays",
        ),
        (
            {
                "frequency": "Weekly",
                "executionTime": {"hour": soon.hour, "minute": soon.minute},
                "daysOfWeek": [weekday_later],
                "startDate": iso(soon),
                "endDate": iso(soon + dt.timedelta(days=1)),
            },
            "ScheduleHasNoExecutions",
        ),
        ({"cronExpression": "every day"}, "InvalidCronExpression"),
        ({"cronExpression": "15 * * * *"}, "InvalidCronExpression"),
        ({"cronExpression": "* * * * *"}, "InvalidCronExpression"),
        ({"cronExpression": "0 2 * * * 5"}, "InvalidCronExpression"),
        ({"cronExpression": "0 2 * * *", "executionTime": {"hour": 2}}, "ScheduleCronConflict"),
        (
            {"frequency": "Onetime", "cronExpression": "0 2 * * *", "startDate": iso(soon)},
            "ScheduleCronConflict",
        ),
        ({"cronExpression": "0 0 31 2 *"}, "ScheduleHasNoExecutions"),
    ]
    failures = []
    for schedule, code in cases:
        with pytest.raises(HttpResponseError) as refused:
            put(client, "rules", schedule)
        error: Any = refused.value
        if (error.status_code, error.error.code) != (400, code):
            failures.append((schedule, code, error.status_code, error.error.code))
        assert error.error.target.startswith("properties.schedule")
        assert len(error.error.message) > 40  # it says what to do, not just "invalid"
    assert failures == []

    with pytest.raises(HttpResponseError) as on_prem:
        put(client, "s3", {**daily, "isActive": True}, source="minio")
    assert (on_prem.value.status_code, error_code(on_prem.value)) == (
        400,
        "ScheduleNotSupportedForSource",
    )
    put(client, "s3", {"frequency": "None"}, source="minio")
    put(client, "gcs", {**daily, "isActive": True}, source="gcs")

    # accepted schedules come back normalized, in the SDK's shape
    weekly = put(
        client,
        "weekly",
        {
            "frequency": "weekly",
            "executionTime": {"hour": 22, "minute": 30},
            "daysOfWeek": ["friday", "Monday", "MONDAY"],
            "startDate": iso(soon),
            "endDate": iso(soon + dt.timedelta(days=30)),
        },
    ).properties.schedule
    assert (weekly.frequency, weekly.days_of_week, weekly.is_active) == (
        "Weekly",
        ["Monday", "Friday"],
        False,
    )
    assert (weekly.execution_time.hour, weekly.execution_time.minute) == (22, 30)
    assert (weekly.start_date, weekly.end_date) == (soon, soon + dt.timedelta(days=30))
    monthly = put(
        client, "monthly", {"frequency": "Monthly", "startDate": iso(soon), "daysOfMonth": [15, 1]}
    ).properties.schedule
    assert monthly.days_of_month == [1, 15]
    assert (monthly.execution_time.hour, monthly.execution_time.minute) == (soon.hour, soon.minute)

    # a PATCH is checked the same way, merged into the schedule there
    with pytest.raises(HttpResponseError) as patched:
        client.job_definitions.update(
            RG, "mover", "proj", "weekly", {"properties": {"schedule": {"daysOfWeek": ["Noday"]}}}
        )
    assert error_code(patched.value) == "InvalidScheduleDays"


def test_two_servers_start_one_run_per_execution(
    clocked: Clocked, monkeypatch: pytest.MonkeyPatch
) -> None:
    if clocked.ferry.backend == "postgresql":
        # servers in separate processes share no lock: leave it to the database's row lock
        monkeypatch.setattr(job_run_start, "start_lock", contextlib.nullcontext())
    client = make_client(clocked.ferry)
    put(client, "busy", ScheduleInfo(cron_expression="0,30 * * * *", is_active=True))
    executions = []
    for _ in range(3):
        at = clocked.soon(dt.timedelta(seconds=1))
        executions.append(at)
        clocked.clock.set(at + dt.timedelta(seconds=1))
        # besides both background loops, both servers look at once from many threads
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda s: s.tick(), clocked.schedulers * 4))
        wait_run(client, "busy", at)
        clocked.wait_ticks()
        times = [r.properties.scheduled_execution_time for r in runs(client, "busy")]
        assert times.count(at) == 1
        client.job_definitions.stop_job(RG, "mover", "proj", "busy")
    times = sorted(r.properties.scheduled_execution_time for r in runs(client, "busy"))
    assert times == executions


def test_weekly_and_monthly_schedules_start_runs_on_their_days(clocked: Clocked) -> None:
    client = make_client(clocked.ferry)
    soon = clocked.soon()
    weekly_at = soon + dt.timedelta(days=2)
    put(
        client,
        "weekday",
        {
            "frequency": "Weekly",
            "isActive": True,
            "executionTime": {"hour": soon.hour, "minute": soon.minute},
            "daysOfWeek": [weekly_at.strftime("%A")],
            "startDate": soon.isoformat(),
        },
    )
    # next month's first and the one after, at the same time of day as soon
    month = (soon.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    monthly_at = (month + dt.timedelta(days=32)).replace(day=1)
    put(
        client,
        "firsts",
        {
            "frequency": "Monthly",
            "isActive": True,
            "executionTime": {"hour": soon.hour, "minute": soon.minute},
            "daysOfMonth": [1],
            "startDate": soon.isoformat(),
        },
    )

    # the day before the weekday, at the execution time: nothing
    clocked.clock.set(weekly_at - dt.timedelta(days=1) + dt.timedelta(seconds=1))
    clocked.wait_ticks()
    assert runs(client, "weekday") == [] and runs(client, "firsts") == []
    clocked.clock.set(weekly_at + dt.timedelta(seconds=1))
    run = wait_run(client, "weekday", weekly_at)
    assert (run.properties.trigger_type, run.properties.status) == ("Scheduled", "Queued")
    client.job_definitions.stop_job(RG, "mover", "proj", "weekday")

    # next month's first is its first execution (the one after startDate); then the next
    clocked.clock.set(month + dt.timedelta(seconds=1))
    first = wait_run(client, "firsts", month)
    client.job_definitions.stop_job(RG, "mover", "proj", "firsts")
    clocked.clock.set(monthly_at - dt.timedelta(days=1))
    clocked.wait_ticks()
    assert [r.name for r in runs(client, "firsts")] == [first.name]
    clocked.clock.set(monthly_at + dt.timedelta(seconds=1))
    wait_run(client, "firsts", monthly_at)
    assert len(runs(client, "firsts")) == 2
