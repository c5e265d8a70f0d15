"""Schemathesis against a real Ferry server (SQLite): every operation of ``/openapi.json``
gets generated requests, valid and invalid; none may answer 5xx, and every status code must be
one the document declares. And when something does fail, the 500 tells nothing of it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from fastapi import FastAPI
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import status_code_conformance

from control_server import RunningServer, shared_ca, start_ferry
from ferry.control import Settings, create_app

MAX_EXAMPLES = 6  # per operation and phase: the whole run stays well under a minute
BOOM = "/ferry/v1/test-only/boom"
SECRET = "hunter2-do-not-leak"  # noqa: S105 - what a failing route must not reveal


@dataclass(frozen=True)
class Server:
    url: str
    token: str = field(repr=False)
    token_id: int
    spare_token_id: int


CA = str(shared_ca())  # the CA of the test servers' certificate


def boom() -> None:
    raise RuntimeError(f"connection to postgresql://ferry:{SECRET}@db failed")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir: Path = tmp_path_factory.mktemp("ferry-openapi")
    running: RunningServer = start_ferry("sqlite", data_dir, None)
    # a route that fails as a bug would, outside the document schemathesis tests
    app = running.server.config.app
    assert isinstance(app, FastAPI)
    app.add_api_route(BOOM, boom, methods=["POST"], include_in_schema=False)
    with running:
        admin = (data_dir / "admin.token").read_text().strip()

        def issue(name: str) -> dict[str, Any]:
            answer = requests.post(
                f"{running.url}/ferry/v1/tokens",
                json={"name": name, "role": "Owner"},
                headers={"Authorization": f"Bearer {admin}"},
                timeout=30,
                verify=CA,
            )
            assert answer.status_code == 201, answer.text
            issued: dict[str, Any] = answer.json()
            return issued

        # schemathesis may revoke any token id it makes up; its own is redirected to a spare
        mine, spare = issue("schemathesis"), issue("spare")
        yield Server(running.url, mine["token"], mine["id"], spare["id"])


def openapi_document() -> dict[str, Any]:
    """The document the server serves at /openapi.json (checked below); building the app
    touches no disk or database, so it can be loaded when pytest collects this module."""
    document: dict[str, Any] = create_app(Settings(data_dir=Path("unused"))).openapi()
    return document


CONFIG = schemathesis.Config.from_dict(
    {
        "generation": {"max-examples": MAX_EXAMPLES, "no-shrink": True, "deterministic": True},
        "phases": {
            "examples": {"enabled": True},
            # the coverage phase (every boundary of every field) alone takes ~75 s here
            "coverage": {"enabled": False},
            "fuzzing": {"enabled": True},
            "stateful": {"enabled": False},
        },
    }
)
schema = schemathesis.openapi.from_dict(openapi_document(), config=CONFIG)


def test_the_served_document_is_the_one_tested(server: Server) -> None:
    answer = requests.get(f"{server.url}/openapi.json", timeout=30, verify=CA)
    assert answer.status_code == 200
    assert answer.json() == openapi_document()


@schema.parametrize()
def test_no_server_errors_and_documented_status_codes(case: Any, server: Server) -> None:
    if case.path.endswith("/revoke") and case.path_parameters.get("token_id") == server.token_id:
        case.path_parameters["token_id"] = server.spare_token_id
    case.call_and_validate(
        base_url=server.url,
        headers={"Authorization": f"Bearer {server.token}"},
        checks=[not_a_server_error, status_code_conformance],
        timeout=30,
        verify=CA,
    )


def test_a_500_tells_the_client_nothing_but_a_request_id(server: Server) -> None:
    headers = {"Authorization": f"Bearer {server.token}", "x-ms-client-request-id": "boom-1"}
    answer = requests.post(server.url + BOOM, headers=headers, timeout=30, verify=CA)
    assert answer.status_code == 500
    request_id = answer.headers["x-ms-request-id"]
    assert answer.json() == {
        "error": {
            "code": "InternalServerError",
            "message": f"The server failed unexpectedly; see its log for request id {request_id}.",
        }
    }
    for leak in (SECRET, "Traceback", "RuntimeError", "postgresql://"):
        assert leak not in answer.text
        assert leak not in str(answer.headers)
    # and the failed call is in the audit log like any other
    log = requests.get(
        server.url + "/ferry/v1/auditLog",
        headers=headers,
        params={"$top": 20},
        timeout=30,
        verify=CA,
    )
    entry = next(e for e in log.json()["value"] if e["clientRequestId"] == "boom-1")
    assert (entry["path"], entry["statusCode"], entry["result"]) == (BOOM, 500, "Failed")
    assert entry["requestId"] == request_id  # the id the client can quote finds the record
