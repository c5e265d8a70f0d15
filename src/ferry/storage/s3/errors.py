"""Errors of the ``s3`` backend: botocore exceptions and S3 error codes mapped to the storage
error taxonomy (:mod:`ferry.storage.errors`), and a Retry-After header read as seconds.
Messages name the path and the service's error code, never a secret."""

from __future__ import annotations

from ferry.storage.errors import (
    AlreadyExists,
    IntegrityError,
    NotFound,
    PermissionDenied,
    StorageError,
    StoreIOError,
    Throttled,
    TransientIOError,
)
from ferry.storage.http_errors import reason, retry_after_seconds

CREDENTIALS_HINT = (
    "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary "
    "credentials), or AWS_PROFILE to use a profile of the shared AWS config files"
)

THROTTLE_CODES = frozenset(
    {"SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequests"}
)
TRANSIENT_CODES = frozenset(
    {"InternalError", "RequestTimeout", "ServiceUnavailable", "OperationAborted"}
)
INTEGRITY_CODES = frozenset(
    {"BadDigest", "InvalidDigest", "XAmzContentSHA256Mismatch", "XAmzContentChecksumMismatch"}
)


def map_error(exc: Exception, path: str) -> StorageError:
    """The storage error for a botocore exception. Messages name the path, never a secret."""
    from botocore.exceptions import (
        ClientError,
        ConnectionError,
        HTTPClientError,
        IncompleteReadError,
        NoCredentialsError,
        ParamValidationError,
        SSLError,
    )

    where = path or "/"
    if isinstance(exc, ClientError):
        response = exc.response
        error = response.get("Error") or {}
        code = str(error.get("Code") or "")
        meta = response.get("ResponseMetadata") or {}
        status = int(meta.get("HTTPStatusCode") or 0)
        headers = meta.get("HTTPHeaders") or {}
        # HEAD answers have no body: the code is the status ("404").
        label = code if code and not code.isdigit() else f"HTTP {status}"
        detail = str(error.get("Message") or "").strip()
        text = reason(label, detail)
        if code in INTEGRITY_CODES:
            return IntegrityError(
                f"the service refused the data's checksum ({text}): {where}", path=path
            )
        if code in THROTTLE_CODES or status in (429, 503):
            return Throttled(
                f"the service asks to slow down ({text}): {where}",
                path=path,
                retry_after=retry_after_seconds(headers.get("retry-after")),
            )
        if code == "NoSuchBucket":
            return NotFound(f"the bucket does not exist ({text}): {where}", path=path)
        if code in ("NoSuchKey", "NoSuchUpload") or status == 404:
            return NotFound(f"not found ({text}): {where}", path=path)
        if code == "InvalidObjectState":
            return StoreIOError(
                f"the object is in an archive storage class and must be restored first "
                f"({text}): {where}",
                path=path,
            )
        if code == "SignatureDoesNotMatch":
            return PermissionDenied(
                f"the service refused the signature: check AWS_SECRET_ACCESS_KEY ({label}): {where}",
                path=path,
            )
        if code == "InvalidAccessKeyId":
            return PermissionDenied(
                f"the service does not know the access key: check AWS_ACCESS_KEY_ID ({label}): "
                f"{where}",
                path=path,
            )
        if code in ("ExpiredToken", "InvalidToken", "TokenRefreshRequired"):
            return PermissionDenied(
                f"the session token was refused: renew AWS_SESSION_TOKEN ({label}): {where}",
                path=path,
            )
        if status == 403 and label.startswith("HTTP"):
            # A HEAD answer has no body to say why (a wrong key, a wrong signature, a policy).
            return PermissionDenied(
                f"access denied ({text}): check the credentials (AWS_ACCESS_KEY_ID, "
                f"AWS_SECRET_ACCESS_KEY) and what they may do: {where}",
                path=path,
            )
        if status == 403 or code == "AccessDenied":
            return PermissionDenied(f"access denied ({text}): {where}", path=path)
        if code in ("BucketAlreadyExists", "BucketAlreadyOwnedByYou"):
            return AlreadyExists(f"{text}: {where}", path=path)
        if code in TRANSIENT_CODES or status >= 500:
            return TransientIOError(f"the service failed ({text}): {where}", path=path)
        if status == 409:
            return AlreadyExists(f"conflict ({text}): {where}", path=path)
        return StoreIOError(f"{text}: {where}", path=path)
    if isinstance(exc, SSLError):
        return StoreIOError(
            f"TLS failed ({exc.__class__.__name__}); AWS_CA_BUNDLE names the CA certificates "
            f"to trust: {where}",
            path=path,
        )
    if isinstance(exc, ConnectionError | HTTPClientError | IncompleteReadError):
        return TransientIOError(f"connection failed ({exc.__class__.__name__}): {where}", path=path)
    if isinstance(exc, NoCredentialsError):
        return PermissionDenied(f"no credentials: {CREDENTIALS_HINT}: {where}", path=path)
    if isinstance(exc, ParamValidationError):
        return StoreIOError(f"invalid request: {exc}: {where}", path=path)
    return StoreIOError(f"{exc.__class__.__name__}: {exc}: {where}", path=path)


def http_status(exc: BaseException | None) -> int:
    """The HTTP status of the botocore ClientError ``exc`` (a mapped error's ``__cause__``);
    0 for anything else."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return 0
    return int((response.get("ResponseMetadata") or {}).get("HTTPStatusCode") or 0)


def error_code(exc: BaseException | None) -> str:
    """The S3 error code of the botocore ClientError ``exc``; '' for anything else."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return ""
    return str((response.get("Error") or {}).get("Code") or "")
