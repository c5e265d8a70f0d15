"""The ``local`` backend: local disks and NFS/SMB mounts.

Writes (:mod:`.upload`) go to ``.ferry-<key>.partial`` beside the final name and are renamed
over it once complete, so a file at its final name is always whole.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator, Sequence

from ferry.storage.base import Capabilities, ReadHandle, Store, Upload
from ferry.storage.entry import Entry, EntryKind
from ferry.storage.errors import (
    InvalidAddress,
    NotFound,
    StorageError,
    from_oserror,
)
from ferry.storage.local.upload import LocalUpload, apply_owner_and_mode
from ferry.storage.naming import (
    POSIX,
    is_partial_artifact,
)
from ferry.storage.sorting import DEFAULT_LIST_CUTOFF, sorted_names

_OPEN_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC


_KINDS = {
    stat.S_IFREG: EntryKind.FILE,
    stat.S_IFDIR: EntryKind.DIR,
    stat.S_IFLNK: EntryKind.SYMLINK,
}
_FILE, _DIR, _SPECIAL = EntryKind.FILE, EntryKind.DIR, EntryKind.SPECIAL


def _entry_from_stat(path: str, st: os.stat_result, link_target: str | None = None) -> Entry:
    # On the path of every listed item: plain bit operations instead of the stat helpers.
    mode = st.st_mode
    kind = _KINDS.get(mode & 0o170000, _SPECIAL)
    return Entry(
        path,
        kind,
        st.st_size if kind is _FILE or link_target is not None else 0,
        st.st_mtime_ns,
        st.st_atime_ns,
        st.st_ctime_ns,
        mode & 0o7777,
        st.st_uid,
        st.st_gid,
        link_target=link_target,
    )


class LocalReadHandle(ReadHandle):
    def __init__(self, path: str, abs_path: str) -> None:
        try:
            self._fd = os.open(abs_path, _OPEN_READ)
        except OSError as exc:
            raise from_oserror(exc, path) from exc
        self._path = path
        self._stat = os.fstat(self._fd)
        self.entry = _entry_from_stat(path, self._stat)

    def read_at(self, offset: int, size: int) -> bytes:
        try:
            return os.pread(self._fd, size, offset)
        except OSError as exc:
            raise from_oserror(exc, self._path) from exc

    def fileno(self) -> int | None:
        return self._fd

    def changed(self) -> bool:
        now = os.fstat(self._fd)
        before = self._stat
        return (
            now.st_size != before.st_size
            or now.st_mtime_ns != before.st_mtime_ns
            or now.st_ctime_ns != before.st_ctime_ns
        )

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class LocalStore(Store):
    """A directory tree on a local or mounted file system."""

    naming = POSIX

    def __init__(
        self, root: str, *, list_cutoff: int = DEFAULT_LIST_CUTOFF, spool_dir: str | None = None
    ) -> None:
        if not root or "\x00" in root:
            raise InvalidAddress(f"not a usable path: {root!r}")
        self.root = os.path.abspath(root)
        self.naming = POSIX.below(self.root, staged=True)  # PATH_MAX counts the whole path
        self.url = self.root
        self._list_cutoff = list_cutoff
        self._spool_dir = spool_dir
        is_root = hasattr(os, "geteuid") and os.geteuid() == 0
        network = is_network_filesystem(self.root)
        self.capabilities = Capabilities(
            posix_metadata=True,
            set_owner=is_root,
            symlinks=True,
            copy_part_from_fd=True,
            prefetch=True,
            discard_partial=True,
            # On a local disk the scan is Python work between microsecond syscalls: a second
            # lister gains under 10% with cold caches and loses 15-25% with warm ones (the
            # threads trade the interpreter lock at every lstat). Transfers spend long enough
            # in the kernel that one thread per CPU pays.
            useful_concurrency=None if network else os.cpu_count() or 1,
            useful_listing_concurrency=None if network else 1,
        )

    def abs_path(self, path: str) -> str:
        if not path:
            return self.root
        if path.startswith("/") or "\x00" in path or ".." in path.split("/"):
            raise InvalidAddress(f"path escapes the store root: {path!r}", path=path)
        return f"{self.root}/{path}"

    # -- reading -------------------------------------------------------------------------

    def list_dir(self, path: str, partials: list[str] | None = None) -> Iterator[Entry]:
        abs_dir = self.abs_path(path)
        try:
            dir_fd = os.open(abs_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as exc:
            raise from_oserror(exc, path) from exc
        try:
            try:
                with os.scandir(dir_fd) as scan:
                    names = sorted_names(
                        (entry.name for entry in scan), self._list_cutoff, self._spool_dir
                    )
                    # sorted_names consumes the whole scan before yielding its first name
                    first = next(names, None)
            except OSError as exc:
                raise from_oserror(exc, path) from exc
            if first is None:
                return
            prefix = f"{path}/" if path else ""
            lstat, islink = os.lstat, stat.S_ISLNK
            for name in _chain_first(first, names):
                if partials is not None and is_partial_artifact(name):
                    partials.append(name)
                    continue
                try:
                    st = lstat(name, dir_fd=dir_fd)
                    link = os.readlink(name, dir_fd=dir_fd) if islink(st.st_mode) else None
                except FileNotFoundError:
                    continue  # removed between listing and stat
                except OSError as exc:
                    raise from_oserror(exc, prefix + name) from exc
                yield _entry_from_stat(prefix + name, st, link)
        finally:
            os.close(dir_fd)

    def stat(self, path: str) -> Entry | None:
        abs_path = self.abs_path(path)
        try:
            # The root may be a link to the tree (``/data -> /mnt/data``); nothing below is followed.
            st = os.stat(abs_path) if not path else os.lstat(abs_path)
            link = os.readlink(abs_path) if stat.S_ISLNK(st.st_mode) else None
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise from_oserror(exc, path) from exc
        return _entry_from_stat(path, st, link)

    def open_read(self, path: str) -> ReadHandle:
        return LocalReadHandle(path, self.abs_path(path))

    # -- writing -------------------------------------------------------------------------

    def ensure_root(self) -> None:
        try:
            os.makedirs(self.root, exist_ok=True)
        except OSError as exc:
            raise from_oserror(exc, "") from exc
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise from_oserror(OSError(errno.EACCES, "Permission denied"), "")

    def begin_upload(self, source: Entry, part_size: int) -> Upload:
        return LocalUpload(
            self.abs_path(source.path), source, part_size, set_owner=self.capabilities.set_owner
        )

    def make_dir(self, path: str) -> None:
        abs_path = self.abs_path(path)
        try:
            os.mkdir(abs_path, 0o700)
        except FileExistsError:
            if not os.path.isdir(abs_path) or os.path.islink(abs_path):
                raise from_oserror(OSError(errno.EEXIST, "File exists"), path) from None
        except OSError as exc:
            raise from_oserror(exc, path) from exc

    def make_symlink(self, source: Entry) -> None:
        if source.link_target is None:
            raise StorageError(f"link target unknown: {source.path}", path=source.path)
        final = self.abs_path(source.path)
        temp = os.path.join(os.path.dirname(final), f".ferry-{os.urandom(10).hex()}.partial")
        try:
            os.symlink(source.link_target, temp)
            try:
                if self.capabilities.set_owner and source.uid is not None:
                    os.lchown(temp, source.uid, source.gid if source.gid is not None else -1)
                os.utime(
                    temp,
                    ns=(source.atime_ns or source.mtime_ns, source.mtime_ns),
                    follow_symlinks=False,
                )
                os.rename(temp, final)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temp)
                raise
        except OSError as exc:
            raise from_oserror(exc, source.path) from exc

    def set_metadata(self, source: Entry) -> None:
        abs_path = self.abs_path(source.path)
        times = (source.atime_ns or source.mtime_ns, source.mtime_ns)
        try:
            if source.kind is EntryKind.SYMLINK:
                os.utime(abs_path, ns=times, follow_symlinks=False)
                return
            fd = os.open(abs_path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            try:
                apply_owner_and_mode(fd, source, set_owner=self.capabilities.set_owner)
                os.utime(fd, ns=times)
            finally:
                os.close(fd)
        except OSError as exc:
            raise from_oserror(exc, source.path) from exc

    def delete(self, path: str, *, is_dir: bool) -> None:
        abs_path = self.abs_path(path)
        try:
            if is_dir:
                os.rmdir(abs_path)
            else:
                os.unlink(abs_path)
        except FileNotFoundError:
            raise NotFound(f"already gone: {path}", path=path) from None
        except OSError as exc:
            raise from_oserror(exc, path) from exc

    def prefetch(self, paths: Sequence[str]) -> None:
        # Asks the kernel to start reading every file of a batch at once; copying them one
        # after another then rarely waits for the disk.
        for path in paths:
            try:
                fd = os.open(self.abs_path(path), _OPEN_READ)
            except (OSError, InvalidAddress):
                continue  # the copy itself reports the problem
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
            except OSError:
                pass
            finally:
                os.close(fd)

    def discard_partial(self, dir_path: str, name: str) -> None:
        if not is_partial_artifact(name):
            return
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(self.abs_path(dir_path), name))


# File systems whose operations wait on a network: parallel requests hide that latency.
_NETWORK_FS = (
    "nfs",
    "nfs4",
    "cifs",
    "smb3",
    "smbfs",
    "9p",
    "afs",
    "ceph",
    "glusterfs",
    "lustre",
    "fuse",
)


def is_network_filesystem(path: str, mountinfo: str = "/proc/self/mountinfo") -> bool:
    """Whether ``path`` (or its nearest existing parent) is on a network or FUSE file system,
    from the longest matching mount point in /proc/self/mountinfo."""
    real = os.path.realpath(path)
    best, fstype = "", ""
    try:
        with open(mountinfo, encoding="utf-8", errors="surrogateescape") as mounts:
            for line in mounts:
                fields = line.split()
                separator = fields.index("-")
                mount_point = fields[4].replace("\\040", " ")
                inside = real == mount_point or real.startswith(mount_point.rstrip("/") + "/")
                if inside and len(mount_point) >= len(best):
                    best, fstype = mount_point, fields[separator + 1]
    except (OSError, ValueError, IndexError):
        return False
    return fstype.split(".")[0] in _NETWORK_FS


def _chain_first(first: str, rest: Iterator[str]) -> Iterator[str]:
    yield first
    yield from rest


__all__ = ["LocalStore", "is_network_filesystem"]
