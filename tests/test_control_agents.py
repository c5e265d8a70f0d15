"""agents through the SDK: read, list, update (upload-limit schedule rules), unregister.
Agents are put in the database directly: registration is tested in test_agent_registration."""

from __future__ import annotations

from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.mgmt.storagemover.models import (
    AgentUpdateParameters,
    AgentUpdateProperties,
    Time,
    UploadLimitSchedule,
    UploadLimitWeeklyRecurrence,
)
from sqlalchemy import select, update

from control_server import PAGE_SIZE, Ferry
from ferry.control.models import JobRun, StorageMover

RG = "rg-agents"
AGENTS = [f"agent{i}" for i in range(PAGE_SIZE + 1)]


@pytest.fixture
def mover(ferry: Ferry) -> tuple[Any, str]:
    sub = ferry.subscription()
    client = ferry.client(sub)
    client.storage_movers.create_or_update(RG, "mover", {"location": "eastus"})
    for name in AGENTS:
        ferry.add_agent(sub, RG, "mover", name)
    return client, sub


def window(start: tuple[int, int], end: tuple[int, int], days: list[str], mbps: int) -> Any:
    return {
        "startTime": {"hour": start[0], "minute": start[1]},
        "endTime": {"hour": end[0], "minute": end[1]},
        "days": days,
        "limitInMbps": mbps,
    }


def test_get_and_list(mover: tuple[Any, str]) -> None:
    client, sub = mover
    agent = client.agents.get(RG, "mover", "AGENT0")
    assert agent.name == "agent0"
    assert agent.id == (
        f"/subscriptions/{sub}/resourceGroups/{RG}/providers/Microsoft.StorageMover"
        "/storageMovers/mover/agents/agent0"
    )
    assert agent.type == "Microsoft.StorageMover/storageMovers/agents"
    p = agent.properties
    assert (p.agent_status, p.agent_version, p.local_ip_address) == ("Online", "0.1.0", "10.0.0.5")
    assert (p.memory_in_mb, p.number_of_cores, p.uptime_in_seconds) == (8192, 4, 600)
    assert (p.time_zone, p.provisioning_state) == ("UTC", "Succeeded")
    assert p.arc_resource_id.endswith("/Microsoft.HybridCompute/machines/agent0")
    assert p.arc_vm_uuid and p.last_status_update is not None
    assert p.error_details is None and p.upload_limit_schedule is None
    assert agent.system_data.created_by_type == "Application"

    listed = list(client.agents.list(RG, "mover"))  # more than a page
    assert sorted(a.name for a in listed) == AGENTS

    with pytest.raises(ResourceNotFoundError):
        client.agents.get(RG, "mover", "ghost")
    with pytest.raises(ResourceNotFoundError) as no_parent:
        client.agents.list(RG, "no-such-mover").next()
    assert no_parent.value.error.code == "ParentResourceNotFound"


def test_update_description_and_schedule(mover: tuple[Any, str]) -> None:
    client, _sub = mover
    schedule = UploadLimitSchedule(
        weekly_recurrences=[
            UploadLimitWeeklyRecurrence(
                start_time=Time(hour=9, minute=0),
                end_time=Time(hour=17, minute=30),
                days=["Monday", "Tuesday"],
                limit_in_mbps=100,
            ),
            UploadLimitWeeklyRecurrence(
                start_time=Time(hour=17, minute=30),
                end_time=Time(hour=24),
                days=["Monday"],
                limit_in_mbps=0,
            ),
        ]
    )
    patched = client.agents.update(
        RG,
        "mover",
        "agent0",
        AgentUpdateParameters(
            properties=AgentUpdateProperties(description="rack 4", upload_limit_schedule=schedule)
        ),
    )
    assert patched.properties.description == "rack 4"
    recurrences = patched.properties.upload_limit_schedule.weekly_recurrences
    assert [(r.start_time.hour, r.end_time.minute, r.limit_in_mbps) for r in recurrences] == [
        (9, 30, 100),
        (17, 0, 0),
    ]
    # a PATCH without the schedule keeps it; one with an empty schedule replaces it
    kept = client.agents.update(RG, "mover", "agent0", {"properties": {"description": "r5"}})
    assert len(kept.properties.upload_limit_schedule.weekly_recurrences) == 2
    cleared = client.agents.update(
        RG, "mover", "agent0", {"properties": {"uploadLimitSchedule": {"weeklyRecurrences": []}}}
    )
    assert cleared.properties.upload_limit_schedule.weekly_recurrences == []

    # PUT on a registered agent updates the same fields; arc ids may only be repeated
    current = client.agents.get(RG, "mover", "agent0")
    put = client.agents.create_or_update(
        RG,
        "mover",
        "agent0",
        {
            "properties": {
                "arcResourceId": current.properties.arc_resource_id,
                "arcVmUuid": current.properties.arc_vm_uuid,
                "description": "by put",
            }
        },
    )
    assert put.properties.description == "by put"
    assert put.properties.upload_limit_schedule is None
    assert put.properties.agent_status == "Online"
    with pytest.raises(HttpResponseError) as changed:
        client.agents.create_or_update(
            RG, "mover", "agent0", {"properties": {"arcVmUuid": "another"}}
        )
    assert changed.value.error.code == "PropertyChangeNotAllowed"
    with pytest.raises(HttpResponseError) as unregistered:
        client.agents.create_or_update(
            RG, "mover", "new-agent", {"properties": {"arcResourceId": "x", "arcVmUuid": "y"}}
        )
    assert unregistered.value.status_code == 400
    assert unregistered.value.error.code == "AgentRegistrationRequired"
    with pytest.raises(ResourceNotFoundError):
        client.agents.update(RG, "mover", "ghost", {"properties": {"description": "x"}})


SCHEDULE_ERRORS = [
    ([window((9, 15), (10, 0), ["Monday"], 1)], "InvalidUploadLimitTime"),
    ([window((9, 0), (25, 0), ["Monday"], 1)], "InvalidUploadLimitTime"),
    ([window((9, 0), (24, 30), ["Monday"], 1)], "InvalidUploadLimitTime"),
    ([window((10, 0), (10, 0), ["Monday"], 1)], "InvalidUploadLimitWindow"),
    ([window((22, 0), (2, 0), ["Monday"], 1)], "InvalidUploadLimitWindow"),
    ([window((9, 0), (10, 0), ["Monday"], -1)], "InvalidUploadLimit"),
    ([window((9, 0), (10, 0), ["Monday"], 2_147_483_648)], "InvalidUploadLimit"),
    ([window((9, 0), (10, 0), [], 1)], "InvalidUploadLimitDays"),
    ([window((9, 0), (10, 0), ["Monday", "Monday"], 1)], "DuplicateUploadLimitDay"),
    (
        [
            window((9, 0), (12, 0), ["Monday", "Friday"], 1),
            window((11, 30), (13, 0), ["Friday"], 2),
        ],
        "UploadLimitWindowsOverlap",
    ),
    ([window((9, 0), (10, 0), ["Funday"], 1)], "InvalidRequestContent"),
]


def test_schedule_rules(mover: tuple[Any, str]) -> None:
    client, _sub = mover
    for recurrences, code in SCHEDULE_ERRORS:
        body = {"properties": {"uploadLimitSchedule": {"weeklyRecurrences": recurrences}}}
        with pytest.raises(HttpResponseError) as refused:
            client.agents.update(RG, "mover", "agent0", body)
        assert refused.value.status_code == 400, recurrences
        assert refused.value.error.code == code, recurrences
    assert client.agents.get(RG, "mover", "agent0").properties.upload_limit_schedule is None


def test_unregister(ferry: Ferry, mover: tuple[Any, str]) -> None:
    client, sub = mover
    endpoints = {
        "nas": {"endpointType": "NfsMount", "host": "nas", "export": "/data"},
        "disk": {"endpointType": "LocalPath", "path": "/srv/copy"},
    }
    for name, properties in endpoints.items():
        client.endpoints.create_or_update(RG, "mover", name, {"properties": properties})
    client.projects.create_or_update(RG, "mover", "proj", {})
    job = {"copyMode": "Additive", "sourceName": "nas", "targetName": "disk"}
    client.job_definitions.create_or_update(
        RG, "mover", "proj", "job", {"properties": {**job, "agentName": "agent1"}}
    )
    client.job_definitions.start_job(RG, "mover", "proj", "job")

    with pytest.raises(ResourceExistsError) as busy:
        client.agents.begin_delete(RG, "mover", "agent1").result()
    assert busy.value.error.code == "AgentInUse"
    assert "job" in busy.value.error.message

    with ferry.db() as session:  # the run ends as an agent would end it
        movers = select(StorageMover.id).where(StorageMover.subscription_key == sub)
        session.execute(
            update(JobRun).where(JobRun.storage_mover_id.in_(movers)).values(status="Canceled")
        )
        session.commit()
    poller = client.agents.begin_delete(RG, "mover", "agent1")
    poller.result()
    assert poller.status() == "Succeeded"
    with pytest.raises(ResourceNotFoundError):
        client.agents.get(RG, "mover", "agent1")
    assert "agent1" not in [a.name for a in client.agents.list(RG, "mover")]
    definition = client.job_definitions.get(RG, "mover", "proj", "job")
    assert definition.properties.agent_name is None
    # unregistering what is not there is no error
    client.agents.begin_delete(RG, "mover", "agent1").result()
