"""Bearer tokens, roles, scopes, revocation and the audit log (docs/design.md §8.1, §6.5)."""

# ruff: noqa: S106 - wrong tokens on purpose

from __future__ import annotations

import uuid

import pytest
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError

from control_server import Ferry

RG = "rg-auth"
MOVERS = "/resourceGroups/{rg}/providers/Microsoft.StorageMover/storageMovers"


def mover_path(sub: str, name: str) -> str:
    return f"/subscriptions/{sub}{MOVERS.format(rg=RG)}/{name}"


def test_a_token_is_required(ferry: Ferry) -> None:
    path = mover_path(ferry.subscription(), "m")
    for token in (None, "ferry_wrong", ""):
        answer = ferry.http("GET", path, token=token)
        assert answer.status_code == 401
        assert answer.json()["error"]["code"] == "InvalidAuthenticationToken"
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    answer = ferry.http("PUT", path, token=None, json={"location": "x"})
    assert answer.status_code == 401
    answer = ferry.http(
        "GET", path, token=None, headers={"Authorization": f"Basic {ferry.admin_token}"}
    )
    assert answer.status_code == 401
    with pytest.raises(ClientAuthenticationError):
        ferry.client(ferry.subscription(), token="ferry_wrong").storage_movers.get(RG, "m")


def test_reader_reads_but_cannot_change(ferry: Ferry) -> None:
    sub = ferry.subscription()
    ferry.client(sub).storage_movers.create_or_update(RG, "m", {"location": "eastus"})
    reader = ferry.client(sub, token=ferry.issue_token("Reader"))
    assert reader.storage_movers.get(RG, "m").name == "m"
    assert [m.name for m in reader.storage_movers.list(RG)] == ["m"]
    for attempt in (
        lambda: reader.storage_movers.create_or_update(RG, "m2", {"location": "eastus"}),
        lambda: reader.storage_movers.update(RG, "m", {"tags": {}}),
        lambda: reader.storage_movers.begin_delete(RG, "m").result(),
        lambda: reader.projects.create_or_update(RG, "m", "p", {}),
    ):
        with pytest.raises(HttpResponseError) as refused:
            attempt()
        assert refused.value.status_code == 403
        assert refused.value.error.code == "AuthorizationFailed"
    assert (
        ferry.http(
            "POST",
            "/ferry/v1/tokens",
            token=ferry.issue_token("Contributor"),
            json={"name": "x", "role": "Owner"},
        ).status_code
        == 403
    )


def test_a_scoped_token_sees_nothing_of_another_mover(ferry: Ferry) -> None:
    sub = ferry.subscription()
    admin = ferry.client(sub)
    for name in ("mine", "theirs"):
        admin.storage_movers.create_or_update(RG, name, {"location": "eastus"})
        admin.projects.create_or_update(RG, name, "p", {})
    scoped = ferry.client(
        sub, token=ferry.issue_token("Contributor", scope=mover_path(sub, "mine"))
    )

    assert [m.name for m in scoped.storage_movers.list(RG)] == ["mine"]
    assert [m.name for m in scoped.storage_movers.list_by_subscription()] == ["mine"]
    assert [p.name for p in scoped.projects.list(RG, "mine")] == ["p"]
    scoped.projects.create_or_update(RG, "mine", "p2", {})
    for attempt in (
        lambda: scoped.storage_movers.get(RG, "theirs"),
        lambda: list(scoped.projects.list(RG, "theirs")),
        lambda: scoped.projects.get(RG, "theirs", "p"),
        lambda: scoped.projects.create_or_update(RG, "theirs", "p2", {}),
        lambda: scoped.storage_movers.begin_delete(RG, "theirs").result(),
        lambda: scoped.storage_movers.create_or_update(RG, "new", {"location": "eastus"}),
    ):
        with pytest.raises(HttpResponseError) as refused:
            attempt()
        assert refused.value.status_code == 403
    other_sub = ferry.subscription()
    with pytest.raises(HttpResponseError) as elsewhere:
        list(
            ferry.client(
                other_sub, token=ferry.issue_token("Reader", scope=mover_path(sub, "mine"))
            ).storage_movers.list_by_subscription()
        )
    assert elsewhere.value.status_code == 403

    # its own mover it may delete, and poll the operation to the end
    scoped.storage_movers.begin_delete(RG, "mine").result()
    assert [m.name for m in admin.storage_movers.list(RG)] == ["theirs"]


def test_revoked_tokens_get_401(ferry: Ferry) -> None:
    answer = ferry.http("POST", "/ferry/v1/tokens", json={"name": "temp", "role": "Contributor"})
    token = answer.json()["token"]
    token_id = answer.json()["id"]
    client = ferry.client(ferry.subscription(), token=token)
    assert list(client.storage_movers.list(RG)) == []

    listed = ferry.http("GET", "/ferry/v1/tokens").json()["value"]
    assert {"name": "temp", "revoked": False} | {"id": token_id} == {
        k: v
        for k, v in next(t for t in listed if t["id"] == token_id).items()
        if k in ("id", "name", "revoked")
    }
    assert all("token" not in t and "tokenHash" not in t for t in listed)

    assert ferry.http("POST", f"/ferry/v1/tokens/{token_id}/revoke").status_code == 200
    with pytest.raises(ClientAuthenticationError) as revoked:
        list(client.storage_movers.list(RG))
    assert revoked.value.status_code == 401


def test_mutating_calls_are_audited(ferry: Ferry) -> None:
    sub = ferry.subscription()
    ferry.client(sub).storage_movers.create_or_update(RG, "audited", {"location": "eastus"})
    ferry.http("PUT", mover_path(sub, "denied"), token=None, json={"location": "x"})
    entries = ferry.http("GET", "/ferry/v1/auditLog", params={"$top": "50"}).json()["value"]
    mine = [e for e in entries if sub in e["path"]]
    assert {(e["method"], e["principal"], e["statusCode"], e["result"]) for e in mine} == {
        ("PUT", "admin", 200, "Succeeded"),
        ("PUT", None, 401, "Failed"),
    }
    assert all(e["at"] for e in mine)
    assert (
        ferry.http("GET", "/ferry/v1/auditLog", token=ferry.issue_token("Reader")).status_code
        == 403
    )


def test_every_answer_names_its_request_and_the_audit_log_keeps_the_ids(ferry: Ferry) -> None:
    sub = ferry.subscription()
    read = ferry.http("GET", "/providers/Microsoft.StorageMover/operations")
    assert read.status_code == 200
    assert uuid.UUID(read.headers["x-ms-request-id"])
    # without a correlation id of the client's, the request id stands for it
    assert read.headers["x-ms-correlation-request-id"] == read.headers["x-ms-request-id"]

    correlation = f"script-{uuid.uuid4()}"
    made = ferry.http(
        "PUT",
        mover_path(sub, "traced"),
        json={"location": "eastus"},
        headers={"x-ms-correlation-request-id": correlation},
    )
    refused = ferry.http("PUT", mover_path(sub, "refused"), token=None, json={"location": "x"})
    assert made.status_code == 200 and refused.status_code == 401
    assert made.headers["x-ms-correlation-request-id"] == correlation
    assert refused.headers["x-ms-request-id"] != made.headers["x-ms-request-id"]
    entries = ferry.http("GET", "/ferry/v1/auditLog", params={"$top": "50"}).json()["value"]
    by_path = {e["path"]: e for e in entries if sub in e["path"]}
    traced = by_path[mover_path(sub, "traced")]
    assert traced["requestId"] == made.headers["x-ms-request-id"]
    assert traced["correlationRequestId"] == correlation
    assert by_path[mover_path(sub, "refused")]["requestId"] == refused.headers["x-ms-request-id"]
