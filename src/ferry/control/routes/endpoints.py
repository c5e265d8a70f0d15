"""endpoints: where data comes from and goes to; properties are polymorphic on endpointType."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ferry.control.arm import (
    bad_request,
    check_name,
    envelope,
    require_api_version,
    resource_type,
)
from ferry.control.auth import Principal, authorize_path, require_visible
from ferry.control.deps import get_session
from ferry.control.models import Endpoint, JobDefinition
from ferry.control.references import bind_references
from ferry.control.resource_properties import endpoint_properties
from ferry.control.resources import (
    commit,
    endpoint_id,
    find_endpoint,
    missing,
    require_mover,
    stamp_created,
    stamp_modified,
)
from ferry.control.routes import MOVER_PATH
from ferry.control.routes.arm_routes import (
    DELETE_RESPONSES,
    AuthorizedCall,
    not_there,
    refuse_while_used,
)
from ferry.control.schemas import (
    ENDPOINT_COMMON_FIELDS,
    ENDPOINT_MUTABLE_FIELDS,
    EndpointPatch,
    EndpointPut,
)

TYPE = resource_type("storageMovers", "endpoints")
COLLECTION = MOVER_PATH + "/endpoints"
ITEM = COLLECTION + "/{endpoint}"
# which credential type each endpoint type takes
CREDENTIAL_TYPES = {"SmbMount": "AzureKeyVaultSmb", "S3WithHMAC": "AzureKeyVaultS3WithHMAC"}

router = APIRouter(tags=["endpoints"], dependencies=[Depends(require_api_version)])


def render(endpoint: Endpoint) -> dict[str, Any]:
    return envelope(endpoint, endpoint_id(endpoint), TYPE, endpoint_properties(endpoint))


@router.get(ITEM)
def get_endpoint(
    subscription_id: str,
    resource_group: str,
    mover: str,
    endpoint: str,
    principal: Annotated[Principal, Depends(authorize_path)],
    session: Annotated[Session, Depends(get_session)],
) -> dict[str, Any]:
    parent = require_mover(session, subscription_id, resource_group, mover)
    row = find_endpoint(session, parent, endpoint)
    if row is None:
        raise missing("endpoint", endpoint)
    require_visible(principal, endpoint_id(row))
    return render(row)


@router.put(ITEM)
def put_endpoint(
    subscription_id: str,
    resource_group: str,
    mover: str,
    endpoint: str,
    body: EndpointPut,
    principal: Annotated[Principal, Depends(authorize_path)],
    session: Annotated[Session, Depends(get_session)],
) -> dict[str, Any]:
    parent = require_mover(session, subscription_id, resource_group, mover)
    given = body.properties.model_dump(mode="json", by_alias=True, exclude_none=True)
    specific = {k: v for k, v in given.items() if k not in ENDPOINT_COMMON_FIELDS}
    row = find_endpoint(session, parent, endpoint)
    if row is None:
        check_name("endpoint", endpoint)
        row = Endpoint(
            storage_mover_id=parent.id,
            storage_mover=parent,
            endpoint_type=body.properties.endpoint_type,
            endpoint_kind=body.properties.endpoint_kind,
        )
        stamp_created(row, principal, endpoint)
        session.add(row)
    else:
        check_unchanged(row, body.properties.endpoint_type, body.properties.endpoint_kind, specific)
        stamp_modified(row, principal)
    row.description = body.properties.description
    row.properties = specific
    bind_references(session, row)
    commit(session, f"Endpoint '{endpoint}'")
    return render(row)


def check_unchanged(
    row: Endpoint, endpoint_type: str, endpoint_kind: str | None, specific: dict[str, Any]
) -> None:
    if endpoint_type != row.endpoint_type:
        raise bad_request(
            "PropertyChangeNotAllowed",
            f"Endpoint '{row.name}' is of type {row.endpoint_type} and cannot become "
            f"{endpoint_type}; create a new endpoint instead.",
            target="properties.endpointType",
        )
    if endpoint_kind != row.endpoint_kind:
        raise bad_request(
            "PropertyChangeNotAllowed",
            f"The endpointKind of endpoint '{row.name}' cannot be changed.",
            target="properties.endpointKind",
        )
    for field in sorted(set(specific) | set(row.properties)):
        if field in ENDPOINT_MUTABLE_FIELDS:
            continue
        if specific.get(field) != row.properties.get(field):
            raise bad_request(
                "PropertyChangeNotAllowed",
                f"The property '{field}' of endpoint '{row.name}' cannot be changed after "
                "creation; create a new endpoint instead.",
                target=f"properties.{field}",
            )


@router.patch(ITEM)
def patch_endpoint(
    subscription_id: str,
    resource_group: str,
    mover: str,
    endpoint: str,
    body: EndpointPatch,
    principal: Annotated[Principal, Depends(authorize_path)],
    session: Annotated[Session, Depends(get_session)],
) -> dict[str, Any]:
    parent = require_mover(session, subscription_id, resource_group, mover)
    row = find_endpoint(session, parent, endpoint)
    if row is None:
        raise missing("endpoint", endpoint)
    changes = body.properties
    if changes is not None:
        if changes.endpoint_type != row.endpoint_type:
            raise bad_request(
                "PropertyChangeNotAllowed",
                f"Endpoint '{row.name}' is of type {row.endpoint_type}, not "
                f"{changes.endpoint_type}.",
                target="properties.endpointType",
            )
        if "description" in changes.model_fields_set:
            row.description = changes.description
        if changes.credentials is not None:
            expected = CREDENTIAL_TYPES.get(row.endpoint_type)
            if changes.credentials.type != expected:
                raise bad_request(
                    "InvalidCredentials",
                    f"Endpoints of type {row.endpoint_type} take "
                    f"{expected or 'no'} credentials, not {changes.credentials.type}.",
                    target="properties.credentials",
                )
            row.properties = {
                **row.properties,
                "credentials": merge_credentials(
                    row.properties.get("credentials", {}), changes.credentials.given()
                ),
            }
            bind_references(session, row)
    stamp_modified(row, principal)
    commit(session, f"Endpoint '{endpoint}'")
    return render(row)


def merge_credentials(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """PATCH semantics of the ``*Uri`` fields: absent keeps, "" clears, a value replaces."""
    merged = {**old, **new}
    return {k: v for k, v in merged.items() if v != ""}


@router.delete(ITEM, status_code=202, responses=DELETE_RESPONSES)
def delete_endpoint(
    subscription_id: str, resource_group: str, mover: str, endpoint: str, call: AuthorizedCall
) -> Response:
    session = call.session
    parent = require_mover(session, subscription_id, resource_group, mover)
    row = find_endpoint(session, parent, endpoint)
    if row is None:
        return not_there()
    users = session.scalars(
        select(JobDefinition.name)
        .where(
            or_(
                JobDefinition.source_endpoint_id == row.id,
                JobDefinition.target_endpoint_id == row.id,
            )
        )
        .order_by(JobDefinition.name)
    ).all()
    refuse_while_used("Endpoint", row.name, users, "job definition(s)", "delete them first")
    return call.accepted_delete(parent.location, endpoint_id(row), lambda: session.delete(row))


@router.get(COLLECTION)
def list_endpoints(
    subscription_id: str, resource_group: str, mover: str, call: AuthorizedCall
) -> dict[str, Any]:
    return call.mover_page(subscription_id, resource_group, mover, Endpoint, render)
