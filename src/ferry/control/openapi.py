"""An honest ``/openapi.json``: the error answers the routes really give, in the ARM envelope.

FastAPI documents a 422 ``HTTPValidationError`` for every route with parameters, but Ferry
answers invalid requests with a 400 ARM error (arm.install_error_handlers). This replaces it
and declares the other errors every route can give: 401/403 (every route needs a token), 404
(a missing resource or parent, or a path no route matches), and 409 for changes (conflicts
with the state of other resources, or a concurrent change)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

MUTATING = frozenset({"put", "patch", "post", "delete"})
VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")
ERROR_REF = "#/components/schemas/ErrorResponse"
DESCRIPTIONS = {
    "400": "The request is not valid (ARM error envelope).",
    "401": "No token, or an invalid or revoked one.",
    "403": "The token's role or scope does not allow this.",
    "404": "The resource, its parent, or the route was not found.",
    "409": "The change conflicts with the state of other resources.",
}


class ErrorDetail(BaseModel):
    code: str
    message: str
    target: str | None = None


class ErrorResponse(BaseModel):
    """The ARM error envelope: ``{"error": {"code", "message", "target"?}}``."""

    error: ErrorDetail


def error_statuses(method: str, operation: dict[str, Any]) -> list[str]:
    statuses = ["400", "401", "403"]
    if "requestBody" in operation or any(
        parameter.get("in") == "path" for parameter in operation.get("parameters", ())
    ):
        statuses.append("404")
    if method in MUTATING:
        statuses.append("409")
    return statuses


def document_errors(document: dict[str, Any]) -> dict[str, Any]:
    """Replace FastAPI's 422 with the ARM errors each operation can answer."""
    schemas: dict[str, Any] = document.setdefault("components", {}).setdefault("schemas", {})
    for name in VALIDATION_SCHEMAS:
        schemas.pop(name, None)
    schemas.update(
        {
            "ErrorDetail": ErrorDetail.model_json_schema(),
            "ErrorResponse": ErrorResponse.model_json_schema(
                ref_template="#/components/schemas/{model}"
            ),
        }
    )
    schemas["ErrorResponse"].pop("$defs", None)
    for path_item in document.get("paths", {}).values():
        for method, operation in path_item.items():
            responses: dict[str, Any] = operation.setdefault("responses", {})
            responses.pop("422", None)
            for status in error_statuses(method, operation):
                responses.setdefault(
                    status,
                    {
                        "description": DESCRIPTIONS[status],
                        "content": {"application/json": {"schema": {"$ref": ERROR_REF}}},
                    },
                )
    return document


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_errors(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    description=app.description,
                    routes=app.routes,
                )
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
