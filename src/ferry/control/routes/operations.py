"""The provider's operations list and the status resources of asynchronous operations."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from ferry.control.arm import NAMESPACE, ArmError, plain_list, require_api_version
from ferry.control.async_operations import render_status
from ferry.control.auth import Principal, authenticate, require_visible
from ferry.control.deps import get_session
from ferry.control.models import AsyncOperation

router = APIRouter(tags=["operations"], dependencies=[Depends(require_api_version)])

_RESOURCES = {
    "storageMovers": "Storage Mover",
    "storageMovers/agents": "Agent",
    "storageMovers/endpoints": "Endpoint",
    "storageMovers/projects": "Project",
    "storageMovers/projects/jobDefinitions": "Job Definition",
    "storageMovers/projects/jobDefinitions/jobRuns": "Job Run",
    "locations/operationStatuses": "Operation Status",
}
_VERBS = {"read": "Read", "write": "Create or Update", "delete": "Delete"}
_ACTIONS = {
    "storageMovers/projects/jobDefinitions/startJob": ("Job Definition", "Start Job"),
    "storageMovers/projects/jobDefinitions/stopJob": ("Job Definition", "Stop Job"),
}
_READ_ONLY = {"storageMovers/projects/jobDefinitions/jobRuns", "locations/operationStatuses"}


def _operation(name: str, resource: str, operation: str) -> dict[str, Any]:
    return {
        "name": f"{NAMESPACE}/{name}",
        "isDataAction": False,
        "display": {
            "provider": NAMESPACE,
            "resource": resource,
            "operation": operation,
            "description": f"{operation} {resource}",
        },
        "origin": "user,system",
    }


def operations() -> list[dict[str, Any]]:
    found = [_operation("operations/read", "Operations", "List Operations")]
    for path, resource in _RESOURCES.items():
        verbs = ("read",) if path in _READ_ONLY else tuple(_VERBS)
        found.extend(_operation(f"{path}/{verb}", resource, _VERBS[verb]) for verb in verbs)
    found.extend(_operation(f"{path}/action", *labels) for path, labels in _ACTIONS.items())
    return found


@router.get(f"/providers/{NAMESPACE}/operations")
def list_operations(_principal: Annotated[Principal, Depends(authenticate)]) -> dict[str, Any]:
    return plain_list(operations())


@router.get(
    "/subscriptions/{subscription_id}/providers/"
    + NAMESPACE
    + "/locations/{location}/operationStatuses/{operation_id}"
)
def get_operation_status(
    request: Request,
    subscription_id: str,
    location: str,
    operation_id: str,
    principal: Annotated[Principal, Depends(authenticate)],
    session: Annotated[Session, Depends(get_session)],
) -> JSONResponse:
    operation = session.scalar(
        select(AsyncOperation).where(
            AsyncOperation.id == operation_id,
            AsyncOperation.subscription_key == subscription_id.lower(),
        )
    )
    if operation is None:
        raise ArmError(404, "ResourceNotFound", f"The operation '{operation_id}' was not found.")
    require_visible(principal, operation.resource_id)
    status = 200 if operation.end_time is not None else 202
    return JSONResponse(render_status(operation, request.url.path), status_code=status)
