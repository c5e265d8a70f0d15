"""storageMovers: the tracked top-level resource (location, tags), listed per group and
per subscription; deleting one deletes everything in it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ferry.control.arm import (
    NAMESPACE,
    bad_request,
    check_name,
    check_resource_group,
    check_subscription,
    envelope,
    require_api_version,
    resource_type,
)
from ferry.control.auth import (
    Principal,
    authenticate,
    authorize_path,
    forbidden,
    require_visible,
)
from ferry.control.deps import get_session, get_settings
from ferry.control.models import JobDefinition, Project, StorageMover
from ferry.control.resources import (
    commit,
    find_mover,
    mover_id,
    require_mover,
    stamp_created,
    stamp_modified,
)
from ferry.control.routes import MOVER_PATH, RG_PREFIX
from ferry.control.routes.arm_routes import (
    DELETE_RESPONSES,
    ArmCall,
    AuthorizedCall,
    not_there,
)
from ferry.control.schemas import StorageMoverPatch, StorageMoverPut
from ferry.control.settings import Settings

TYPE = resource_type("storageMovers")

router = APIRouter(tags=["storageMovers"], dependencies=[Depends(require_api_version)])


def render(mover: StorageMover) -> dict[str, Any]:
    properties = {} if mover.description is None else {"description": mover.description}
    body = envelope(mover, mover_id(mover), TYPE, properties)
    body["location"] = mover.location
    body["tags"] = mover.tags
    return body


@router.get(MOVER_PATH)
def get_storage_mover(
    subscription_id: str,
    resource_group: str,
    mover: str,
    principal: Annotated[Principal, Depends(authorize_path)],
    session: Annotated[Session, Depends(get_session)],
) -> dict[str, Any]:
    row = require_mover(session, subscription_id, resource_group, mover, parent=False)
    require_visible(principal, mover_id(row))
    return render(row)


@router.put(MOVER_PATH)
def put_storage_mover(
    subscription_id: str,
    resource_group: str,
    mover: str,
    body: StorageMoverPut,
    principal: Annotated[Principal, Depends(authorize_path)],
    session: Annotated[Session, Depends(get_session)],
) -> dict[str, Any]:
    row = find_mover(session, subscription_id, resource_group, mover)
    if row is None:
        check_name("storage mover", mover)
        check_subscription(subscription_id)
        check_resource_group(resource_group)
        row = StorageMover(
            subscription_id=subscription_id,
            subscription_key=subscription_id.lower(),
            resource_group=resource_group,
            resource_group_key=resource_group.lower(),
            location=body.location,
        )
        stamp_created(row, principal, mover)
        session.add(row)
    else:
        if row.location.lower() != body.location.lower():
            raise bad_request(
                "PropertyChangeNotAllowed",
                f"The location of storage mover '{row.name}' is '{row.location}' and cannot "
                "be changed; create a new storage mover instead.",
                target="location",
            )
        stamp_modified(row, principal)
    row.tags = body.tags or {}
    row.description = body.properties.description
    commit(session, f"Storage mover '{mover}'")
    return render(row)


@router.patch(MOVER_PATH)
def patch_storage_mover(
    subscription_id: str,
    resource_group: str,
    mover: str,
    body: StorageMoverPatch,
    principal: Annotated[Principal, Depends(authorize_path)],
    session: Annotated[Session, Depends(get_session)],
) -> dict[str, Any]:
    row = require_mover(session, subscription_id, resource_group, mover, parent=False)
    if body.tags is not None:
        row.tags = body.tags
    if body.properties is not None and "description" in body.properties.model_fields_set:
        row.description = body.properties.description
    stamp_modified(row, principal)
    commit(session, f"Storage mover '{mover}'")
    return render(row)


@router.delete(MOVER_PATH, status_code=202, responses=DELETE_RESPONSES)
def delete_storage_mover(
    subscription_id: str, resource_group: str, mover: str, call: AuthorizedCall
) -> Response:
    session = call.session
    row = find_mover(session, subscription_id, resource_group, mover)
    if row is None:
        return not_there()
    return call.accepted_delete(
        row.location, mover_id(row), lambda: delete_contents_and(session, row)
    )


def delete_contents_and(session: Session, mover: StorageMover) -> None:
    """Delete ``mover`` and everything in it. Job definitions go first: they hold plain
    references to endpoints, which PostgreSQL checks in the middle of a cascade."""
    projects = select(Project.id).where(Project.storage_mover_id == mover.id)
    session.execute(delete(JobDefinition).where(JobDefinition.project_id.in_(projects)))
    session.delete(mover)  # the rest goes through ON DELETE CASCADE


@router.get(RG_PREFIX + "/storageMovers")
def list_storage_movers(
    subscription_id: str, resource_group: str, call: AuthorizedCall
) -> dict[str, Any]:
    query = select(StorageMover).where(
        StorageMover.subscription_key == subscription_id.lower(),
        StorageMover.resource_group_key == resource_group.lower(),
    )
    return call.page(query, StorageMover.id, render)


@router.get("/subscriptions/{subscription_id}/providers/" + NAMESPACE + "/storageMovers")
def list_storage_movers_by_subscription(
    request: Request,
    subscription_id: str,
    principal: Annotated[Principal, Depends(authenticate)],
    session: Annotated[Session, Depends(get_session)],
    settings: Annotated[Settings, Depends(get_settings)],
) -> dict[str, Any]:
    # the collection lives under /providers, but what it lists lies under the subscription
    subscription = f"/subscriptions/{subscription_id}"
    if not principal.reaches_into(subscription):
        raise forbidden(f"The token '{principal.name}' has no access to '{subscription}'.")
    query = select(StorageMover).where(StorageMover.subscription_key == subscription_id.lower())
    return ArmCall(request, principal, session, settings).page(query, StorageMover.id, render)
