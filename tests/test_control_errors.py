"""The error matrix of the control plane, on SQLite and PostgreSQL: for every resource type,
what Azure answers for a missing resource (404 ResourceNotFound), a missing parent (404
ParentResourceNotFound), an invalid name (400), a conflict (409) and a bad api-version (400),
through Microsoft's SDK where it can send the request, by raw HTTP where it cannot (paths in
another case, malformed input)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.mgmt.storagemover import StorageMoverMgmtClient

from control_server import Ferry

RG = "rg-errors"
M, P, J = "mover", "proj", "job"  # J has agent A and a queued run
IDLE = "idle"  # a job definition without a run
A = "agent1"
NFS = {"endpointType": "NfsMount", "host": "nas", "export": "/data"}

Call = Callable[[StorageMoverMgmtClient], object]


@dataclass(frozen=True)
class Tree:
    ferry: Ferry
    subscription: str
    client: StorageMoverMgmtClient

    @property
    def base(self) -> str:
        return f"/subscriptions/{self.subscription}/resourceGroups/{RG}/providers/Microsoft.StorageMover"


@pytest.fixture(scope="module")
def tree(ferry: Ferry) -> Tree:
    """A mover with an agent, two endpoints, a project, a job definition with a queued run
    (using the agent and both endpoints) and one without."""
    sub = ferry.subscription()
    client = ferry.client(sub)
    client.storage_movers.create_or_update(RG, M, {"location": "eastus"})
    ferry.add_agent(sub, RG, M, A)
    for name in ("src", "dst"):
        client.endpoints.create_or_update(RG, M, name, {"properties": {**NFS, "export": name}})
    client.projects.create_or_update(RG, M, P, {})
    for name, extra in ((J, {"agentName": A}), (IDLE, {})):
        body = {"copyMode": "Additive", "sourceName": "src", "targetName": "dst", **extra}
        client.job_definitions.create_or_update(RG, M, P, name, {"properties": body})
    client.job_definitions.start_job(RG, M, P, J)
    return Tree(ferry, sub, client)


def drain(poller: Any) -> None:
    poller.result()


def code_of(error: HttpResponseError) -> str:
    assert error.error is not None, error
    code = error.error.code
    assert code is not None, error
    return code


# --------------------------------------------------------------------------------------------
# 404: missing resources and missing parents, through the SDK

MISSING: dict[str, Call] = {
    "get mover": lambda c: c.storage_movers.get(RG, "nope"),
    "patch mover": lambda c: c.storage_movers.update(RG, "nope", {"tags": {}}),
    "get agent": lambda c: c.agents.get(RG, M, "nope"),
    "patch agent": lambda c: c.agents.update(RG, M, "nope", {"properties": {}}),
    "get endpoint": lambda c: c.endpoints.get(RG, M, "nope"),
    "patch endpoint": lambda c: c.endpoints.update(
        RG, M, "nope", {"properties": {"endpointType": "NfsMount"}}
    ),
    "get project": lambda c: c.projects.get(RG, M, "nope"),
    "patch project": lambda c: c.projects.update(RG, M, "nope", {"properties": {}}),
    "get job definition": lambda c: c.job_definitions.get(RG, M, P, "nope"),
    "patch job definition": lambda c: c.job_definitions.update(RG, M, P, "nope", {}),
    "start missing job": lambda c: c.job_definitions.start_job(RG, M, P, "nope"),
    "stop missing job": lambda c: c.job_definitions.stop_job(RG, M, P, "nope"),
    "get job run": lambda c: c.job_runs.get(RG, M, P, J, "nope"),
}

NO_PARENT: dict[str, Call] = {
    "agent of missing mover": lambda c: c.agents.get(RG, "ghost", A),
    "agents of missing mover": lambda c: list(c.agents.list(RG, "ghost")),
    "delete agent of missing mover": lambda c: drain(c.agents.begin_delete(RG, "ghost", A)),
    "endpoint of missing mover": lambda c: c.endpoints.get(RG, "ghost", "src"),
    "endpoints of missing mover": lambda c: list(c.endpoints.list(RG, "ghost")),
    "create endpoint in missing mover": lambda c: c.endpoints.create_or_update(
        RG, "ghost", "e", {"properties": NFS}
    ),
    "delete endpoint of missing mover": lambda c: drain(
        c.endpoints.begin_delete(RG, "ghost", "src")
    ),
    "project of missing mover": lambda c: c.projects.get(RG, "ghost", P),
    "projects of missing mover": lambda c: list(c.projects.list(RG, "ghost")),
    "create project in missing mover": lambda c: c.projects.create_or_update(RG, "ghost", "p", {}),
    "delete project of missing mover": lambda c: drain(c.projects.begin_delete(RG, "ghost", P)),
    "job definition of missing project": lambda c: c.job_definitions.get(RG, M, "ghost", J),
    "job definitions of missing project": lambda c: list(c.job_definitions.list(RG, M, "ghost")),
    "create job definition in missing project": lambda c: c.job_definitions.create_or_update(
        RG,
        M,
        "ghost",
        "j",
        {"properties": {"copyMode": "Additive", "sourceName": "src", "targetName": "dst"}},
    ),
    "delete job definition of missing project": lambda c: drain(
        c.job_definitions.begin_delete(RG, M, "ghost", J)
    ),
    "start job in missing project": lambda c: c.job_definitions.start_job(RG, M, "ghost", J),
    "job run of missing job definition": lambda c: c.job_runs.get(RG, M, P, "ghost", "r"),
    "job runs of missing job definition": lambda c: list(c.job_runs.list(RG, M, P, "ghost")),
    "job runs of missing mover": lambda c: list(c.job_runs.list(RG, "ghost", P, J)),
}


@pytest.mark.parametrize("call", MISSING.values(), ids=MISSING.keys())
def test_missing_resource(tree: Tree, call: Call) -> None:
    with pytest.raises(ResourceNotFoundError) as caught:
        call(tree.client)
    assert caught.value.status_code == 404
    assert code_of(caught.value) == "ResourceNotFound"


@pytest.mark.parametrize("call", NO_PARENT.values(), ids=NO_PARENT.keys())
def test_missing_parent(tree: Tree, call: Call) -> None:
    with pytest.raises(ResourceNotFoundError) as caught:
        call(tree.client)
    assert caught.value.status_code == 404
    assert code_of(caught.value) == "ParentResourceNotFound"


def test_deleting_what_does_not_exist_succeeds(tree: Tree) -> None:
    """ARM answers 204 to a delete of a missing resource whose parent exists."""
    c = tree.client
    for poller in (
        c.storage_movers.begin_delete(RG, "nope"),
        c.agents.begin_delete(RG, M, "nope"),
        c.endpoints.begin_delete(RG, M, "nope"),
        c.projects.begin_delete(RG, M, "nope"),
        c.job_definitions.begin_delete(RG, M, P, "nope"),
    ):
        assert poller.result() is None


def test_unknown_operation_status(tree: Tree) -> None:
    answer = tree.ferry.http(
        "GET",
        f"/subscriptions/{tree.subscription}/providers/Microsoft.StorageMover/locations/eastus"
        "/operationStatuses/00000000-0000-0000-0000-000000000000",
    )
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "ResourceNotFound"


# --------------------------------------------------------------------------------------------
# 400: invalid names

BAD_NAMES = ["-leading-dash", "a" * 65, "dots.inside", "spa ce", "ümlaut", "_underscore"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_invalid_names(tree: Tree, name: str) -> None:
    c = tree.client
    job = {"properties": {"copyMode": "Additive", "sourceName": "src", "targetName": "dst"}}
    for create in (
        lambda: c.storage_movers.create_or_update(RG, name, {"location": "eastus"}),
        lambda: c.endpoints.create_or_update(RG, M, name, {"properties": NFS}),
        lambda: c.projects.create_or_update(RG, M, name, {}),
        lambda: c.job_definitions.create_or_update(RG, M, P, name, job),
    ):
        with pytest.raises(HttpResponseError) as caught:
            create()
        assert caught.value.status_code == 400
        assert code_of(caught.value) == "InvalidResourceName"
    # agents come from registration, whatever the name
    with pytest.raises(HttpResponseError) as agent:
        c.agents.create_or_update(RG, M, name, {"properties": {}})
    assert agent.value.status_code == 400


def test_invalid_resource_group(tree: Tree) -> None:
    with pytest.raises(HttpResponseError) as caught:
        tree.client.storage_movers.create_or_update("bad/group?", M, {"location": "eastus"})
    assert caught.value.status_code in (400, 404)  # '/' splits the path: no such route
    with pytest.raises(HttpResponseError) as caught:
        tree.client.storage_movers.create_or_update("bad group!", M, {"location": "eastus"})
    assert caught.value.status_code == 400
    assert code_of(caught.value) == "InvalidResourceGroup"


# --------------------------------------------------------------------------------------------
# 409: conflicts with the state of other resources

CONFLICTS: dict[str, tuple[Call, str]] = {
    "delete endpoint in use": (
        lambda c: drain(c.endpoints.begin_delete(RG, M, "src")),
        "EndpointInUse",
    ),
    "unregister agent in use": (
        lambda c: drain(c.agents.begin_delete(RG, M, A)),
        "AgentInUse",
    ),
    "second active run": (
        lambda c: c.job_definitions.start_job(RG, M, P, J),
        "JobRunAlreadyActive",
    ),
    "stop with nothing running": (
        lambda c: c.job_definitions.stop_job(RG, M, P, IDLE),
        "NoActiveJobRun",
    ),
    "delete job definition with an active run": (
        lambda c: drain(c.job_definitions.begin_delete(RG, M, P, J)),
        "JobRunActive",
    ),
    "delete project with an active run": (
        lambda c: drain(c.projects.begin_delete(RG, M, P)),
        "JobRunActive",
    ),
}


@pytest.mark.parametrize(("call", "code"), CONFLICTS.values(), ids=CONFLICTS.keys())
def test_conflicts(tree: Tree, call: Call, code: str) -> None:
    with pytest.raises(ResourceExistsError) as caught:
        call(tree.client)
    assert caught.value.status_code == 409
    assert code_of(caught.value) == code


# --------------------------------------------------------------------------------------------
# raw HTTP: api-version, paths in another case, malformed input

PATHS = {
    "mover": "/storageMovers/mover",
    "movers": "/storageMovers",
    "agents": "/storageMovers/mover/agents",
    "endpoint": "/storageMovers/mover/endpoints/src",
    "projects": "/storageMovers/mover/projects",
    "job definition": "/storageMovers/mover/projects/proj/jobDefinitions/job",
    "job runs": "/storageMovers/mover/projects/proj/jobDefinitions/job/jobRuns",
}


@pytest.mark.parametrize("path", PATHS.values(), ids=PATHS.keys())
@pytest.mark.parametrize(
    ("version", "code"),
    [
        (None, "MissingApiVersionParameter"),
        ("", "MissingApiVersionParameter"),
        ("2019-01-01", "InvalidApiVersionParameter"),
        ("latest", "InvalidApiVersionParameter"),
    ],
)
def test_api_version(tree: Tree, path: str, version: str | None, code: str) -> None:
    answer = tree.ferry.http("GET", tree.base + path, params={"api-version": version})
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["code"] == code


def test_api_version_of_provider_routes(tree: Tree) -> None:
    for path in (
        "/providers/Microsoft.StorageMover/operations",
        f"/subscriptions/{tree.subscription}/providers/Microsoft.StorageMover/storageMovers",
    ):
        answer = tree.ferry.http("GET", path, params={"api-version": "1.0"})
        assert answer.status_code == 400
        assert answer.json()["error"]["code"] == "InvalidApiVersionParameter"


@pytest.mark.parametrize(
    ("method", "path", "kind"),
    [
        (
            "GET",
            "/subscriptions/{sub}/resourcegroups/{rg}/providers/microsoft.storagemover/storagemovers/mover",
            "storageMovers",
        ),
        (
            "GET",
            "/SUBSCRIPTIONS/{sub}/RESOURCEGROUPS/{rg}/PROVIDERS/MICROSOFT.STORAGEMOVER/STORAGEMOVERS/MOVER/AGENTS/AGENT1",
            "storageMovers/agents",
        ),
        (
            "GET",
            "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.StorageMover/storageMovers/mover/ENDPOINTS/src",
            "storageMovers/endpoints",
        ),
        (
            "GET",
            "/subscriptions/{sub}/resourcegroups/{rg}/providers/microsoft.storagemover/storagemovers/mover/projects/proj/jobdefinitions/job",
            "storageMovers/projects/jobDefinitions",
        ),
        (
            "PUT",
            "/subscriptions/{sub}/resourcegroups/{rg}/providers/microsoft.storagemover/storagemovers/mover/Projects/other",
            "storageMovers/projects",
        ),
        (
            "POST",
            "/subscriptions/{sub}/resourcegroups/{rg}/providers/microsoft.storagemover/storagemovers/mover/projects/proj/jobdefinitions/idle/STOPJOB",
            None,
        ),
    ],
)
def test_fixed_segments_in_any_case(tree: Tree, method: str, path: str, kind: str | None) -> None:
    url = path.format(sub=tree.subscription, rg=RG)
    answer = tree.ferry.http(method, url, json={} if method == "PUT" else None)
    if kind is None:  # the action routes too: nothing to stop is a 409, not a 404
        assert answer.status_code == 409, answer.text
        assert answer.json()["error"]["code"] == "NoActiveJobRun"
        return
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["type"] == f"Microsoft.StorageMover/{kind}"
    assert body["id"].startswith(tree.base)  # ids come back in canonical case
    assert body["id"].lower() == url.lower()


def test_provider_lists_in_another_case(tree: Tree) -> None:
    assert tree.ferry.http("GET", "/PROVIDERS/microsoft.storagemover/OPERATIONS").ok
    path = f"/SUBSCRIPTIONS/{tree.subscription}/PROVIDERS/microsoft.storagemover/storagemovers"
    answer = tree.ferry.http("GET", path)
    assert answer.status_code == 200, answer.text
    assert [item["name"] for item in answer.json()["value"]] == [M]


MALFORMED: dict[str, tuple[str, str, dict[str, Any], str]] = {
    # name: (method, path below the provider, request kwargs, ARM error code)
    "NUL in a name": ("GET", "/storageMovers/m%00x", {}, "InvalidRequestUri"),
    "NUL in a query": (
        "GET",
        "/storageMovers",
        {"params": {"$skipToken": "1\x00"}},
        "InvalidRequestUri",
    ),
    "NUL in a body": (
        "PUT",
        "/storageMovers/mover/projects/p",
        {"json": {"properties": {"description": "a\x00b"}}},
        "InvalidRequestContent",
    ),
    "NUL in tags": (
        "PATCH",
        "/storageMovers/mover",
        {"json": {"tags": {"k": "\x00"}}},
        "InvalidRequestContent",
    ),
    "lone surrogate": (
        "PUT",
        "/storageMovers/mover/projects/p",
        {
            "data": b'{"properties": {"description": "\\ud800"}}',
            "headers": {"Content-Type": "application/json"},
        },
        "InvalidRequestContent",
    ),
    "malformed JSON": (
        "PUT",
        "/storageMovers/m2",
        {"data": b'{"location": ', "headers": {"Content-Type": "application/json"}},
        "InvalidRequestContent",
    ),
    "deeply nested JSON": (
        "PUT",
        "/storageMovers/m2",
        {"data": b"[" * 100_000 + b"]" * 100_000, "headers": {"Content-Type": "application/json"}},
        "InvalidRequestContent",
    ),
    "array body": ("PUT", "/storageMovers/m2", {"json": ["eastus"]}, "InvalidRequestContent"),
    "wrong type": ("PUT", "/storageMovers/m2", {"json": {"location": 7}}, "InvalidRequestContent"),
    "huge location": (
        "PUT",
        "/storageMovers/m2",
        {"json": {"location": "x" * 100_000}},
        "InvalidRequestContent",
    ),
    "huge name": (
        "PUT",
        "/storageMovers/" + "n" * 5000,
        {"json": {"location": "x"}},
        "InvalidResourceName",
    ),
    "skip token in other digits": (
        "GET",
        "/storageMovers",
        {"params": {"$skipToken": "²"}},
        "InvalidSkipToken",
    ),
    "skip token too large": (
        "GET",
        "/storageMovers",
        {"params": {"$skipToken": "9" * 40}},
        "InvalidSkipToken",
    ),
}


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "code"), MALFORMED.values(), ids=MALFORMED.keys()
)
def test_malformed_input_is_a_clear_400(
    tree: Tree, method: str, path: str, kwargs: dict[str, Any], code: str
) -> None:
    answer = tree.ferry.http(method, tree.base + path, **kwargs)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["code"] == code


def test_malformed_input_outside_the_resource_tree(tree: Tree) -> None:
    ferry = tree.ferry
    cases: list[tuple[requests.Response, str]] = [
        (ferry.http("POST", "/ferry/v1/tokens/" + "9" * 30 + "/revoke"), "InvalidRequestContent"),
        (ferry.http("POST", "/ferry/v1/tokens/-1/revoke"), "InvalidRequestContent"),
        (
            ferry.http("POST", "/ferry/v1/tokens", json={"name": "\x00", "role": "Reader"}),
            "InvalidRequestContent",
        ),
        (
            ferry.http("PUT", "/ferry/v1/secrets/s", json={"value": "a\x00"}),
            "InvalidRequestContent",
        ),
        (
            ferry.http(
                "PUT",
                f"/subscriptions/{'s' * 200}/resourceGroups/{RG}/providers/Microsoft.StorageMover/storageMovers/m",
                json={"location": "x"},
            ),
            "InvalidSubscriptionId",
        ),
    ]
    for answer, code in cases:
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"]["code"] == code


def test_a_long_client_request_id_is_audited_not_refused(tree: Tree) -> None:
    path = tree.base + "/storageMovers/never-was"
    headers = {"x-ms-client-request-id": "r" * 500}
    assert tree.ferry.http("DELETE", path, headers=headers).status_code == 204
    entries = tree.ferry.http("GET", "/ferry/v1/auditLog", params={"$top": 5}).json()["value"]
    entry = next(e for e in entries if e["path"] == path)
    assert entry["clientRequestId"].startswith("rrr")
