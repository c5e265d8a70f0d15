"""Errors of the ``azureblob`` backend: azure-core exceptions as storage errors."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping

from ferry.storage.azureblob.address import redact
from ferry.storage.errors import (
    AlreadyExists,
    IntegrityError,
    NotFound,
    PermissionDenied,
    SourceChanged,
    StorageError,
    StoreIOError,
    Throttled,
    TransientIOError,
)
from ferry.storage.http_errors import reason, retry_after_seconds

_THROTTLE_CODES = frozenset({"ServerBusy", "TooManyRequests"})
_TRANSIENT_CODES = frozenset(
    {"InternalError", "OperationTimedOut", "ContainerBeingDeleted", "BlobBeingRehydrated"}
)
_INTEGRITY_CODES = frozenset({"Md5Mismatch", "InvalidMd5", "Crc64Mismatch"})
_AUTH_CODES = frozenset(
    {
        "AuthenticationFailed",
        "AuthorizationFailure",
        "AuthorizationPermissionMismatch",
        "AuthorizationResourceTypeMismatch",
        "AuthorizationServiceMismatch",
        "AuthorizationProtocolMismatch",
        "AuthorizationSourceIPMismatch",
        "InsufficientAccountPermissions",
        "InvalidAuthenticationInfo",
        "NoAuthenticationInformation",
    }
)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    millis = headers.get("x-ms-retry-after-ms")
    if millis:
        with contextlib.suppress(ValueError):
            return max(0.0, float(millis) / 1000)
    return retry_after_seconds(headers.get("retry-after"))


def error_code(exc: BaseException) -> str:
    """The service's error code (``BlobNotFound``) of an azure-core exception, or ''."""
    code = getattr(exc, "error_code", None)
    if code is None:
        response = getattr(exc, "response", None)
        headers = getattr(response, "headers", None) or {}
        code = headers.get("x-ms-error-code")
    return str(getattr(code, "value", code) or "")


def status_of(exc: BaseException) -> int:
    status = getattr(exc, "status_code", None)
    if status is None:
        status = getattr(getattr(exc, "response", None), "status_code", None)
    return int(status or 0)


def map_error(exc: Exception, path: str) -> StorageError:
    """The storage error for an azure-core exception. Messages name the path and the
    service's reason, never a key or a SAS signature."""
    from azure.core.exceptions import (
        HttpResponseError,
        ServiceRequestError,
        ServiceResponseError,
    )

    where = path or "/"
    if isinstance(exc, HttpResponseError):
        code = error_code(exc)
        status = status_of(exc)
        response = exc.response
        headers: Mapping[str, str] = getattr(response, "headers", None) or {}
        first = (str(getattr(exc, "message", "") or "").strip().splitlines() or [""])[0]
        label = code or f"HTTP {status}" if status else code or exc.__class__.__name__
        detail = redact(first.strip())
        text = reason(label, detail)
        if code in _INTEGRITY_CODES or (status == 400 and "md5" in detail.lower()):
            return IntegrityError(
                f"the service refused the data's checksum ({text}): {where}", path=path
            )
        if code in _THROTTLE_CODES or status in (429, 503):
            return Throttled(
                f"the service asks to slow down ({text}): {where}",
                path=path,
                retry_after=_retry_after(headers),
            )
        if code == "ContainerNotFound":
            return NotFound(f"the container does not exist ({text}): {where}", path=path)
        if status == 404:
            return NotFound(f"not found ({text}): {where}", path=path)
        if code == "BlobArchived":
            return StoreIOError(
                f"the blob is in the Archive tier and must be rehydrated first ({text}): {where}",
                path=path,
            )
        if code in ("ConditionNotMet", "SourceConditionNotMet") or status == 412:
            return SourceChanged(f"changed meanwhile ({text}): {where}", path=path)
        if code == "AuthenticationFailed":
            return PermissionDenied(
                "the service refused the credentials: check the account key "
                f"(AZURE_STORAGE_KEY or the connection string) or the SAS ({label}): {where}",
                path=path,
            )
        if code in _AUTH_CODES or status in (401, 403):
            return PermissionDenied(f"access denied ({text}): {where}", path=path)
        if code in ("BlobAlreadyExists", "ContainerAlreadyExists"):
            return AlreadyExists(f"{text}: {where}", path=path)
        if code in _TRANSIENT_CODES or status >= 500 or status == 408:
            return TransientIOError(f"the service failed ({text}): {where}", path=path)
        return StoreIOError(f"{text}: {where}", path=path)
    if isinstance(exc, ServiceRequestError | ServiceResponseError):
        inner = exc.inner_exception if hasattr(exc, "inner_exception") else None
        name = (inner or exc).__class__.__name__
        if "SSL" in name or "SSL" in str(inner or ""):
            return StoreIOError(f"TLS failed ({name}): {where}", path=path)
        return TransientIOError(f"connection failed ({name}): {where}", path=path)
    return StoreIOError(f"{exc.__class__.__name__}: {redact(str(exc))}: {where}", path=path)


def azure_errors() -> tuple[type[Exception], ...]:
    from azure.core.exceptions import AzureError

    return (AzureError,)


__all__ = ["azure_errors", "error_code", "map_error", "status_of"]
