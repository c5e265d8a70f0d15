"""jobDefinitions (the rules of docs/design.md §6.4), startJob/stopJob and jobRuns through the SDK."""

from __future__ import annotations

from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.mgmt.storagemover.models import (
    JobDefinition,
    JobDefinitionProperties,
    JobDefinitionUpdateParameters,
    JobDefinitionUpdateProperties,
)

from control_server import PAGE_SIZE, Ferry

RG = "rg-jobs"
ACCOUNT = "/subscriptions/x/resourceGroups/y/providers/Microsoft.Storage/storageAccounts/acct"


@pytest.fixture
def project(ferry: Ferry) -> Any:
    """A mover with a source share, a local source, a blob target and a project."""
    client = ferry.client(ferry.subscription())
    client.storage_movers.create_or_update(RG, "mover", {"location": "eastus"})
    ferry.register_account(ACCOUNT)
    endpoints = {
        "nas": {"endpointType": "NfsMount", "host": "nas", "export": "/data"},
        "disk": {"endpointType": "LocalPath", "path": "/srv/data", "endpointKind": "Source"},
        "blob": {
            "endpointType": "AzureStorageBlobContainer",
            "storageAccountResourceId": ACCOUNT,
            "blobContainerName": "target",
        },
        "s3": {"endpointType": "S3WithHMAC", "sourceUri": "https://s3.example.com/b"},
    }
    for name, properties in endpoints.items():
        client.endpoints.create_or_update(RG, "mover", name, {"properties": properties})
    client.projects.create_or_update(RG, "mover", "proj", {})
    return client


def definition(source: str = "nas", target: str = "blob", **extra: Any) -> JobDefinition:
    fields = {"copy_mode": "Additive", **extra}
    return JobDefinition(
        properties=JobDefinitionProperties(source_name=source, target_name=target, **fields)
    )


def test_create_get_update_list_delete(project: Any) -> None:
    client = project
    created = client.job_definitions.create_or_update(
        RG,
        "mover",
        "proj",
        "job1",
        definition(source_subpath="/a", target_subpath="/b", description="first"),
    )
    p = created.properties
    assert (p.copy_mode, p.source_name, p.target_name) == ("Additive", "nas", "blob")
    assert p.source_resource_id.endswith("/storageMovers/mover/endpoints/nas")
    assert p.target_resource_id.endswith("/storageMovers/mover/endpoints/blob")
    assert (p.job_type, p.data_integrity_validation, p.preserve_permissions) == (
        "OnPremToCloud",
        "None",
        True,
    )
    assert p.latest_job_run_name is None
    assert created.type == "Microsoft.StorageMover/storageMovers/projects/jobDefinitions"

    updated = client.job_definitions.update(
        RG,
        "mover",
        "proj",
        "job1",
        JobDefinitionUpdateParameters(
            properties=JobDefinitionUpdateProperties(
                copy_mode="Mirror", data_integrity_validation="SaveVerifyFileMD5"
            )
        ),
    )
    assert updated.properties.copy_mode == "Mirror"
    assert updated.properties.description == "first"
    assert updated.properties.source_subpath == "/a"

    for i in range(PAGE_SIZE):
        client.job_definitions.create_or_update(RG, "mover", "proj", f"more{i}", definition("disk"))
    assert len(list(client.job_definitions.list(RG, "mover", "proj"))) == PAGE_SIZE + 1

    client.job_definitions.begin_delete(RG, "mover", "proj", "job1").result()
    with pytest.raises(ResourceNotFoundError):
        client.job_definitions.get(RG, "mover", "proj", "job1")


def test_rules(project: Any) -> None:
    client = project

    def refused(job: Any, name: str = "job") -> HttpResponseError:
        with pytest.raises(HttpResponseError) as caught:
            client.job_definitions.create_or_update(RG, "mover", "proj", name, job)
        assert caught.value.status_code == 400
        return caught.value

    assert refused(definition("nas", "nas")).error.code == "SameSourceAndTarget"
    assert refused(definition("NAS", "nas")).error.code == "SameSourceAndTarget"
    assert refused(definition("blob", "s3")).error.code == "UnsupportedEndpointPair"
    assert refused(definition("blob", "disk")).error.code == "InvalidEndpointKind"
    assert refused(definition("nas", "nowhere")).error.code == "EndpointNotFound"
    assert refused(definition(agent_name="ghost")).error.code == "AgentNotFound"
    assert refused(definition(source_subpath="a/../../etc")).error.code == "InvalidSubpath"
    assert refused(definition(), "bad name!").status_code == 400
    assert refused({"properties": {"sourceName": "nas", "targetName": "blob"}}).error.code == (
        "InvalidRequestContent"  # copyMode is required
    )
    assert refused(definition(copy_mode="Sideways")).error.code == "InvalidRequestContent"

    client.job_definitions.create_or_update(RG, "mover", "proj", "job", definition())
    for changed in (
        definition("disk"),
        definition(target_subpath="/elsewhere"),
        definition(job_type="CloudToCloud"),
    ):
        assert refused(changed).error.code == "PropertyChangeNotAllowed"
    with pytest.raises(HttpResponseError) as patched:
        client.job_definitions.update(
            RG, "mover", "proj", "job", {"properties": {"sourceName": "disk"}}
        )
    assert patched.value.error.code == "PropertyChangeNotAllowed"

    with pytest.raises(ResourceExistsError) as in_use:
        client.endpoints.begin_delete(RG, "mover", "nas").result()
    assert in_use.value.error.code == "EndpointInUse"

    with pytest.raises(ResourceNotFoundError) as no_project:
        client.job_definitions.create_or_update(RG, "mover", "nope", "job", definition())
    assert no_project.value.error.code == "ParentResourceNotFound"
    with pytest.raises(ResourceNotFoundError):
        client.job_definitions.get(RG, "mover", "proj", "nope")


def test_start_stop_and_runs(project: Any) -> None:
    client = project
    client.job_definitions.create_or_update(RG, "mover", "proj", "job", definition())

    started = client.job_definitions.start_job(RG, "mover", "proj", "job")
    run_name = started.job_run_resource_id.rsplit("/", 1)[1]
    assert "/jobDefinitions/job/jobRuns/" in started.job_run_resource_id

    run = client.job_runs.get(RG, "mover", "proj", "job", run_name)
    assert run.id == started.job_run_resource_id
    assert run.properties.status == "Queued"
    assert run.properties.trigger_type == "Manual"
    assert run.properties.source_name == "nas"
    assert run.properties.source_properties["export"] == "/data"
    assert run.properties.target_properties["blobContainerName"] == "target"
    assert run.properties.job_definition_properties["copyMode"] == "Additive"

    job = client.job_definitions.get(RG, "mover", "proj", "job")
    assert job.properties.latest_job_run_name == run_name
    assert job.properties.latest_job_run_status == "Queued"

    with pytest.raises(ResourceExistsError) as twice:
        client.job_definitions.start_job(RG, "mover", "proj", "job")
    assert twice.value.error.code == "JobRunAlreadyActive"
    with pytest.raises(ResourceExistsError) as busy:
        client.job_definitions.begin_delete(RG, "mover", "proj", "job").result()
    assert busy.value.error.code == "JobRunActive"

    stopped = client.job_definitions.stop_job(RG, "mover", "proj", "job")
    assert stopped.job_run_resource_id == started.job_run_resource_id
    assert client.job_runs.get(RG, "mover", "proj", "job", run_name).properties.status == "Canceled"
    ended = client.job_definitions.get(RG, "mover", "proj", "job").properties
    assert (ended.latest_job_run_name, ended.latest_job_run_status) == (run_name, "Canceled")
    assert ended.latest_job_run_resource_id == started.job_run_resource_id
    with pytest.raises(ResourceExistsError) as idle:
        client.job_definitions.stop_job(RG, "mover", "proj", "job")
    assert idle.value.error.code == "NoActiveJobRun"

    client.job_definitions.start_job(RG, "mover", "proj", "job")
    assert len(list(client.job_runs.list(RG, "mover", "proj", "job"))) == 2
    with pytest.raises(ResourceNotFoundError):
        client.job_runs.get(RG, "mover", "proj", "job", "no-such-run")
    with pytest.raises(ResourceNotFoundError):
        client.job_definitions.start_job(RG, "mover", "proj", "nope")


def test_active_runs_per_mover_are_limited(project: Any) -> None:
    client = project
    limit = 3  # control_server.start_ferry sets max_active_runs_per_mover=3
    for i in range(limit + 1):
        client.job_definitions.create_or_update(RG, "mover", "proj", f"j{i}", definition())
    for i in range(limit):
        client.job_definitions.start_job(RG, "mover", "proj", f"j{i}")
    with pytest.raises(ResourceExistsError) as full:
        client.job_definitions.start_job(RG, "mover", "proj", f"j{limit}")
    assert full.value.error.code == "TooManyActiveJobRuns"


def test_deleting_a_mover_deletes_everything_in_it(ferry: Ferry, project: Any) -> None:
    client = project
    client.job_definitions.create_or_update(RG, "mover", "proj", "job", definition())
    client.job_definitions.start_job(RG, "mover", "proj", "job")
    client.storage_movers.begin_delete(RG, "mover").result()
    with pytest.raises(ResourceNotFoundError):
        client.storage_movers.get(RG, "mover")
    # a new mover of the same name starts empty
    client.storage_movers.create_or_update(RG, "mover", {"location": "eastus"})
    assert list(client.endpoints.list(RG, "mover")) == []
    assert list(client.projects.list(RG, "mover")) == []


def test_runs_keep_their_snapshot_and_page(project: Any) -> None:
    """A run shows the definition and endpoints as they were when it started; later
    changes show in later runs only. More runs than a page are listed through nextLink."""
    client = project
    client.job_definitions.create_or_update(
        RG, "mover", "proj", "snap", definition(description="first")
    )
    names = []
    for i in range(PAGE_SIZE + 1):
        if i == 1:
            client.job_definitions.update(
                RG,
                "mover",
                "proj",
                "snap",
                JobDefinitionUpdateParameters(
                    properties=JobDefinitionUpdateProperties(description="second")
                ),
            )
            client.endpoints.update(
                RG,
                "mover",
                "nas",
                {"properties": {"endpointType": "NfsMount", "description": "moved racks"}},
            )
        started = client.job_definitions.start_job(RG, "mover", "proj", "snap")
        names.append(started.job_run_resource_id.rsplit("/", 1)[1])
        client.job_definitions.stop_job(RG, "mover", "proj", "snap")

    first = client.job_runs.get(RG, "mover", "proj", "snap", names[0]).properties
    assert first.job_definition_properties["description"] == "first"
    assert first.source_properties.get("description") in (None, "")
    last = client.job_runs.get(RG, "mover", "proj", "snap", names[-1]).properties
    assert last.job_definition_properties["description"] == "second"
    assert last.source_properties["description"] == "moved racks"

    pages = client.job_runs.list(RG, "mover", "proj", "snap").by_page()
    listed = [[run.name for run in page] for page in pages]
    assert len(listed) == 2 and len(listed[0]) == PAGE_SIZE
    assert sorted(name for page in listed for name in page) == sorted(names)
