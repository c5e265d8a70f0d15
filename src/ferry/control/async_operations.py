"""Asynchronous ARM operations (deletes): the 202 answer and the status resource it points to.

A delete is carried out inside the request and its operation recorded as finished, so any
replica can answer the status poll from the database alone."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from fastapi import Request, Response
from sqlalchemy.orm import Session

from ferry.control.arm import API_VERSION, NAMESPACE
from ferry.control.models import AsyncOperation, utcnow
from ferry.control.settings import Settings


def status_path(subscription: str, location: str, operation_id: str) -> str:
    return (
        f"/subscriptions/{subscription}/providers/{NAMESPACE}/locations/"
        f"{quote(location, safe='')}/operationStatuses/{operation_id}"
    )


def accepted_delete(
    session: Session,
    request: Request,
    settings: Settings,
    *,
    subscription: str,
    location: str,
    resource_id: str,
    delete: Callable[[], None],
) -> Response:
    """Run ``delete``, record the operation and answer 202 with the polling headers."""
    operation = AsyncOperation(
        id=str(uuid.uuid4()),
        subscription_key=subscription.lower(),
        resource_id=resource_id,
        action="delete",
        status="Deleting",
        start_time=utcnow(),
    )
    delete()
    operation.status = "Succeeded"
    operation.end_time = utcnow()
    session.add(operation)
    session.commit()
    version = request.query_params.get("api-version", API_VERSION)
    base = str(request.base_url).rstrip("/")
    url = f"{base}{status_path(subscription, location, operation.id)}?api-version={version}"
    headers = {
        "Azure-AsyncOperation": url,
        "Location": url,
        "Retry-After": str(settings.retry_after_seconds),
    }
    if settings.retry_after_ms is not None:
        headers["x-ms-retry-after-ms"] = str(settings.retry_after_ms)
    return Response(status_code=202, headers=headers)


def render_status(operation: AsyncOperation, path: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": path,
        "name": operation.id,
        "resourceId": operation.resource_id,
        "status": operation.status,
        "startTime": operation.start_time.isoformat(),
        "properties": None,
    }
    if operation.end_time is not None:
        body["endTime"] = operation.end_time.isoformat()
    if operation.error is not None:
        body["error"] = operation.error
    return body
