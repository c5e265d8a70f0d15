"""The storage error taxonomy. The engine maps each class to a stable status code."""

from __future__ import annotations

import errno


class StorageError(Exception):
    """Base of every error a store raises. ``transient`` errors are worth retrying."""

    transient = False

    def __init__(self, message: str, *, path: str = "") -> None:
        super().__init__(message)
        self.path = path


class NotFound(StorageError):
    pass


class AlreadyExists(StorageError):
    pass


class NotADirectory(StorageError):
    pass


class DirectoryNotEmpty(StorageError):
    pass


class PermissionDenied(StorageError):
    pass


class NoSpace(StorageError):
    pass


class SourceChanged(StorageError):
    """The source item changed while it was being read."""

    transient = True


class IntegrityError(StorageError):
    """What was written does not read back with the MD5 of what was read."""

    transient = True


class Throttled(StorageError):
    """The service asked us to slow down (HTTP 429/503)."""

    transient = True

    def __init__(self, message: str, *, path: str = "", retry_after: float | None = None) -> None:
        super().__init__(message, path=path)
        self.retry_after = retry_after


class TransientIOError(StorageError):
    transient = True


class StoreIOError(StorageError):
    pass


class InvalidAddress(StorageError):
    """A store URL or path that cannot be used at all."""


_ERRNO_CLASSES: dict[int, type[StorageError]] = {
    errno.ENOENT: NotFound,
    errno.EEXIST: AlreadyExists,
    errno.ENOTDIR: NotADirectory,
    errno.ENOTEMPTY: DirectoryNotEmpty,
    errno.EACCES: PermissionDenied,
    errno.EPERM: PermissionDenied,
    errno.EROFS: PermissionDenied,
    errno.ENOSPC: NoSpace,
    errno.EDQUOT: NoSpace,
    errno.EAGAIN: TransientIOError,
    errno.EINTR: TransientIOError,
    errno.ETIMEDOUT: TransientIOError,
    errno.ESTALE: TransientIOError,
    errno.EIO: StoreIOError,
}


def from_oserror(exc: OSError, path: str) -> StorageError:
    cls = _ERRNO_CLASSES.get(exc.errno or 0, StoreIOError)
    reason = exc.strerror or str(exc)
    return cls(f"{reason}: {path or '/'}", path=path)
