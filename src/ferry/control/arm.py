"""The ARM conventions: error envelope, api-version, resource ids, systemData, paging."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlencode

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import Select
from sqlalchemy.exc import DataError
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException as StarletteHTTPException

from ferry.control.models import ArmResource, IntegerKeyed

log = logging.getLogger(__name__)

API_VERSION = "2025-12-01"
# 2025-08-01 is what the SDK pins for connections; older clients only lose newer fields.
SUPPORTED_API_VERSIONS = frozenset({API_VERSION, "2025-08-01", "2025-07-01", "2024-07-01"})
NAMESPACE = "Microsoft.StorageMover"
SKIP_TOKEN = "$skipToken"  # noqa: S105 - a query parameter name

# storageMoverName's pattern in the OpenAPI spec; Ferry applies it to every name it creates.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
RESOURCE_GROUP_PATTERN = re.compile(r"^[-\w._()]{1,90}$")
# Subscription ids are plain namespaces in Ferry (Azure's are GUIDs); they must fit the column.
SUBSCRIPTION_PATTERN = re.compile(r"^[-\w.()]{1,90}$")
MAX_SKIP_TOKEN_DIGITS = 18  # keys are 64-bit at most
REQUEST_ID_HEADER = "x-ms-request-id"
CORRELATION_HEADER = "x-ms-correlation-request-id"
CORRELATION_LENGTH = 100  # AuditEntry.correlation_request_id


def request_ids(request: Request) -> tuple[str, str]:
    """The request's id (made on first use) and its correlation id: the client's
    ``x-ms-correlation-request-id``, or the request id when it sent none."""
    ids: tuple[str, str] | None = getattr(request.state, "ferry_request_ids", None)
    if ids is None:
        request_id = str(uuid.uuid4())
        given = (request.headers.get(CORRELATION_HEADER) or "")[:CORRELATION_LENGTH]
        ids = (request_id, given or request_id)
        request.state.ferry_request_ids = ids
    return ids


class ArmError(Exception):
    """An error answered in the ARM envelope: ``{"error": {"code", "message", "target"?}}``."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        target: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.target = target
        self.headers = headers or {}


def not_found(kind: str, name: str) -> ArmError:
    return ArmError(404, "ResourceNotFound", f"The {kind} '{name}' was not found.", target=name)


def parent_not_found(kind: str, name: str) -> ArmError:
    return ArmError(
        404, "ParentResourceNotFound", f"The parent {kind} '{name}' was not found.", target=name
    )


def bad_request(code: str, message: str, target: str | None = None) -> ArmError:
    return ArmError(400, code, message, target=target)


def conflict(code: str, message: str, target: str | None = None) -> ArmError:
    return ArmError(409, code, message, target=target)


def error_body(code: str, message: str, target: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if target is not None:
        error["target"] = target
    return {"error": error}


def error_response(error: ArmError) -> JSONResponse:
    return JSONResponse(
        error_body(error.code, error.message, error.target),
        status_code=error.status,
        headers=error.headers,
    )


def install_error_handlers(app: FastAPI) -> None:
    async def on_arm_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ArmError)
        return error_response(exc)

    async def on_validation_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        problems = []
        for problem in exc.errors():
            where = ".".join(str(part) for part in problem.get("loc", ()) if part != "body")
            what = problem.get("msg", "invalid")
            problems.append(f"{where}: {what}" if where else what)
        message = "The request content is not valid: " + "; ".join(problems)
        return error_response(bad_request("InvalidRequestContent", message))

    async def on_http_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        codes = {400: "InvalidRequestContent", 404: "NotFound", 405: "MethodNotAllowed"}
        code = codes.get(exc.status_code, "HttpError")
        message = str(exc.detail)
        if exc.status_code == 404:
            message = "No route matches the request path."
        return error_response(
            ArmError(exc.status_code, code, message, headers=dict(exc.headers or {}))
        )

    async def on_data_error(_request: Request, exc: Exception) -> JSONResponse:
        # the database refused a value (too long, out of range, a NUL in PostgreSQL text)
        # that validation let through: the request's fault, and no reason for a 500
        log.warning("the database refused a value of the request: %s", type(exc).__name__)
        return error_response(
            bad_request(
                "InvalidRequestContent",
                "A value in the request is too long, out of range or contains characters "
                "that cannot be stored.",
            )
        )

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        # the details go to the log only, under an id the client can quote
        request_id, correlation = request_ids(request)
        log.error("unexpected error (request id %s)", request_id, exc_info=exc)
        error = ArmError(
            500,
            "InternalServerError",
            f"The server failed unexpectedly; see its log for request id {request_id}.",
            headers={REQUEST_ID_HEADER: request_id, CORRELATION_HEADER: correlation},
        )
        return error_response(error)

    app.add_exception_handler(ArmError, on_arm_error)
    app.add_exception_handler(DataError, on_data_error)
    app.add_exception_handler(Exception, on_unexpected)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)


def require_api_version(
    api_version: str | None = Query(default=None, alias="api-version"),
) -> str:
    """Dependency: ARM requires ``api-version`` on every call."""
    if not api_version:
        raise bad_request(
            "MissingApiVersionParameter",
            f"The api-version query parameter is required (use {API_VERSION}).",
        )
    if api_version not in SUPPORTED_API_VERSIONS:
        supported = ", ".join(sorted(SUPPORTED_API_VERSIONS))
        raise bad_request(
            "InvalidApiVersionParameter",
            f"The api-version '{api_version}' is not supported; supported: {supported}.",
        )
    return api_version


def check_name(kind: str, name: str) -> None:
    if not NAME_PATTERN.match(name):
        raise bad_request(
            "InvalidResourceName",
            f"The {kind} name '{name}' is not valid: use 1-64 letters, digits, '-' or '_', "
            "starting with a letter or digit.",
            target=name,
        )


def check_subscription(subscription: str) -> None:
    if not SUBSCRIPTION_PATTERN.match(subscription):
        raise bad_request(
            "InvalidSubscriptionId",
            f"The subscription id '{subscription}' is not valid: use 1-90 letters, digits, "
            "'-', '_', '.', '(' or ')'.",
            target=subscription,
        )


def check_resource_group(name: str) -> None:
    if not RESOURCE_GROUP_PATTERN.match(name):
        raise bad_request(
            "InvalidResourceGroup",
            f"The resource group name '{name}' is not valid: use 1-90 letters, digits, "
            "'-', '_', '.', '(' or ')'.",
            target=name,
        )


# --------------------------------------------------------------------------------------------
# Resource ids


def provider_prefix(subscription: str, resource_group: str) -> str:
    return f"/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/{NAMESPACE}"


def resource_type(*segments: str) -> str:
    """``resource_type("storageMovers", "endpoints")`` -> the ARM type string."""
    return "/".join([NAMESPACE, *segments])


def within(resource_id: str, prefix: str) -> bool:
    """``resource_id`` is ``prefix`` or below it (case-insensitive, whole segments)."""
    rid = resource_id.rstrip("/").lower()
    pre = prefix.rstrip("/").lower()
    return rid == pre or rid.startswith(pre + "/")


def system_data(row: ArmResource) -> dict[str, Any]:
    return {
        "createdBy": row.created_by,
        "createdByType": row.created_by_type,
        "createdAt": row.created_at.isoformat(),
        "lastModifiedBy": row.modified_by,
        "lastModifiedByType": row.modified_by_type,
        "lastModifiedAt": row.modified_at.isoformat(),
    }


def envelope(
    row: ArmResource, resource_id: str, type_: str, properties: dict[str, Any]
) -> dict[str, Any]:
    """The common resource shape: id, name, type, systemData, properties (+provisioningState)."""
    return {
        "id": resource_id,
        "name": row.name,
        "type": type_,
        "systemData": system_data(row),
        "properties": {**properties, "provisioningState": row.provisioning_state},
    }


# --------------------------------------------------------------------------------------------
# Paging

Row = TypeVar("Row", bound=IntegerKeyed)


@dataclass(frozen=True)
class Page:
    size: int
    after: int | None  # the primary key the page starts after


def page_request(request: Request, size: int) -> Page:
    token = request.query_params.get(SKIP_TOKEN)
    if token is None:
        return Page(size, None)
    if not (token.isascii() and token.isdigit() and len(token) <= MAX_SKIP_TOKEN_DIGITS):
        raise bad_request("InvalidSkipToken", f"The {SKIP_TOKEN} '{token}' is not valid.")
    return Page(size, int(token))


def list_page(
    session: Session,
    request: Request,
    page: Page,
    query: Select[Row],
    id_column: Any,
    render: Callable[[Row], dict[str, Any]],
    visible: Callable[[dict[str, Any]], bool],
) -> dict[str, Any]:
    """One page of ``query`` in primary-key order, keeping the items ``visible`` accepts.

    Keyset paging: the ``$skipToken`` of the nextLink is the last key of the page, so rows
    added or removed between pages never shift the rest."""
    items: list[dict[str, Any]] = []
    after = page.after
    while True:
        batch_query = query.order_by(id_column).limit(page.size + 1)
        if after is not None:
            batch_query = batch_query.where(id_column > after)
        rows: Sequence[Row] = session.scalars(batch_query).all()
        for row in rows:
            if len(items) == page.size:
                return {"value": items, "nextLink": next_link(request, after)}
            after = row.id
            item = render(row)
            if visible(item):
                items.append(item)
        if len(rows) <= page.size:
            return {"value": items}


def next_link(request: Request, after: int | None) -> str:
    params = [(k, v) for k, v in request.query_params.multi_items() if k != SKIP_TOKEN]
    params.append((SKIP_TOKEN, str(after)))
    return str(request.url.replace(query=urlencode(params)))


def plain_list(items: Iterable[dict[str, Any]]) -> dict[str, Any]:
    return {"value": list(items)}
