"""The store contract every backend implements (docs/design.md §3.3, §3.4).

A store lists one directory level at a time in sorted order, streams reads, and writes files
through an :class:`Upload`: parts may be written in any order and in parallel, and
``commit`` makes the file visible at its final name atomically. A store that can resume an
interrupted upload reports the parts an earlier attempt already wrote in
``Upload.done_parts``; the engine then skips them.
"""

from __future__ import annotations

import abc
import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from ferry.storage.entry import Entry
from ferry.storage.naming import NamingProfile


def md5_of(
    read_at: Callable[[int, int], bytes],
    io_size: int = 1 << 20,
    stop: Callable[[], bool] | None = None,
) -> str | None:
    """MD5 of everything ``read_at(offset, size)`` returns from offset 0 to the end; None if
    ``stop()`` turned true on the way."""
    digest = hashlib.md5(usedforsecurity=False)
    offset = 0
    while True:
        if stop is not None and stop():
            return None
        chunk = read_at(offset, io_size)
        if not chunk:
            return digest.hexdigest()
        digest.update(chunk)
        offset += len(chunk)


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a store keeps, and which optional operations it has. The engine reads each of
    them; a store implements an optional operation exactly when it declares it."""

    posix_metadata: bool = False
    """Mode is kept and read back."""
    set_owner: bool = False
    """uid/gid can be set (root on a local disk, or kept in metadata)."""
    mtime_precision_ns: int = 1
    case_insensitive: bool = False
    useful_concurrency: int | None = None
    """How many transfers at once still help; None for stores whose latency wants as many
    as the user allows (network file systems, cloud stores)."""
    useful_listing_concurrency: int | None = None
    """The same for directory listings (the engine's checkers)."""
    dir_times: bool = True
    """A directory keeps the times and mode set on it. False where a directory is only a
    name prefix whose marker the server stores without metadata (SeaweedFS's S3 API); the
    engine then does not compare directories' times. A store may learn it in
    ``ensure_root``."""
    listing_metadata: bool = True
    """A listing carries each item's recorded mtime and metadata. When False (S3 lists no
    user metadata), the engine calls ``stat`` on an item before deciding it is unchanged."""

    # -- optional operations -------------------------------------------------------------

    symlinks: bool = False
    """:meth:`Store.make_symlink`. Without it the planner reports a source's links as not
    copied instead of handing them to the target."""
    server_side_copy: bool = False
    """:meth:`Store.server_side_copy` from stores of the same service. The engine asks the
    target when the run allows server-side copies, and streams the data otherwise."""
    copy_part_from_fd: bool = False
    """:meth:`Upload.copy_part_from_fd`: the engine hands a part over as a file descriptor
    when the source's read handle has one (:meth:`ReadHandle.fileno`)."""
    prefetch: bool = False
    """:meth:`Store.prefetch`, which the engine calls, as a source, before a batch of small
    files."""
    discard_partial: bool = False
    """An interrupted upload leaves artifacts beside its final name: a target listing
    reports them in ``partials`` and :meth:`Store.discard_partial` removes them, which the
    engine does once their directory has been compared."""


class ReadHandle(abc.ABC):
    """An open source file. ``entry`` is its state when it was opened."""

    entry: Entry

    @abc.abstractmethod
    def read_at(self, offset: int, size: int) -> bytes: ...

    def fileno(self) -> int | None:
        """A file descriptor for zero-copy transfers, when the store has one."""
        return None

    @abc.abstractmethod
    def changed(self) -> bool:
        """Whether the item differs now from ``entry`` (size, mtime or identity)."""

    @abc.abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> ReadHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Upload(abc.ABC):
    """A file being written. Nothing is visible at the final name before ``commit``."""

    path: str
    part_size: int
    done_parts: frozenset[int]
    unverified_parts: Mapping[int, str] = {}
    """Parts an earlier attempt left that the store cannot tie to this source by itself
    (index -> MD5 hex of the part's bytes). The engine hashes the same range of the source
    and skips the parts that match; the others are written again."""
    committed: bool = False

    @abc.abstractmethod
    def write_part(self, index: int, chunks: Iterable[bytes]) -> None:
        """Write part ``index`` (at offset ``index * part_size``) from ``chunks``, in order.
        Every part but the last is exactly ``part_size`` bytes."""

    def copy_part_from_fd(self, index: int, fd: int, length: int) -> bool:
        """Optional (``Capabilities.copy_part_from_fd``): copy part ``index`` from a local
        file descriptor without passing the bytes through Python. Returns False when the
        kernel cannot for this pair of files (another file system), and the caller reads
        instead."""
        raise NotImplementedError(f"{type(self).__name__} copies no part from a descriptor")

    @abc.abstractmethod
    def part_done(self, index: int) -> None:
        """Record that part ``index`` is durable, so that a later attempt can skip it."""

    @abc.abstractmethod
    def read_back_md5(self) -> str:
        """MD5 of what was written so far, read back from the store (for verification)."""

    @abc.abstractmethod
    def commit(self, meta: Entry, md5: str | None) -> None:
        """Make the file visible at its final name with ``meta``'s times, mode and owner."""

    @abc.abstractmethod
    def abort(self, *, keep_for_resume: bool) -> None:
        """Give up. With ``keep_for_resume`` the written parts stay for a later attempt."""


class Store(abc.ABC):
    url: str
    capabilities: Capabilities
    naming: NamingProfile

    @abc.abstractmethod
    def list_dir(self, path: str, partials: list[str] | None = None) -> Iterator[Entry]:
        """Entries of directory ``path`` ('' is the root), sorted by the bytes of the name.

        When ``partials`` is given (listing a target), the store's own in-progress artifacts
        are not yielded but appended to it, so that the caller can discard stale ones later.
        Without it (listing a source) every item is yielded."""

    @abc.abstractmethod
    def stat(self, path: str) -> Entry | None: ...

    @abc.abstractmethod
    def open_read(self, path: str) -> ReadHandle: ...

    @abc.abstractmethod
    def begin_upload(self, source: Entry, part_size: int) -> Upload:
        """Start writing ``source.path`` with ``source.size`` bytes."""

    @abc.abstractmethod
    def make_dir(self, path: str) -> None:
        """Create a directory (its parent exists). An existing directory is not an error."""

    def make_symlink(self, source: Entry) -> None:
        """Optional (``Capabilities.symlinks``): create or replace a symbolic link at
        ``source.path`` pointing at its target."""
        raise NotImplementedError(f"{type(self).__name__} keeps no symbolic links")

    @abc.abstractmethod
    def set_metadata(self, source: Entry) -> None:
        """Apply ``source``'s times, mode and owner to the existing item at its path."""

    @abc.abstractmethod
    def delete(self, path: str, *, is_dir: bool) -> None:
        """Delete a file or link, or an empty directory."""

    def server_side_copy(self, source: Store, entry: Entry) -> bool:
        """Optional (``Capabilities.server_side_copy``): copy ``entry`` from ``source``
        inside the storage service, so that no data flows through Ferry, with ``entry``'s
        times, mode and owner recorded as ``commit`` would. Returns False when the service
        cannot for this source or item (another service or account it cannot read, an
        archived object); the engine then streams the data. Raises ``SourceChanged`` if the
        source no longer matches ``entry`` (etag or size)."""
        raise NotImplementedError(f"{type(self).__name__} has no server-side copy")

    def prefetch(self, paths: Sequence[str]) -> None:
        """Optional (``Capabilities.prefetch``): a hint that these files will be read soon,
        so that their reads overlap."""
        raise NotImplementedError(f"{type(self).__name__} does not prefetch")

    def discard_partial(self, dir_path: str, name: str) -> None:
        """Optional (``Capabilities.discard_partial``): remove a stale in-progress artifact
        that ``list_dir`` reported in ``partials``."""
        raise NotImplementedError(f"{type(self).__name__} leaves no partial uploads")

    def hash_md5(self, path: str) -> str:
        """MD5 of the item's content, reading it when the store does not know it."""
        with self.open_read(path) as handle:
            digest = md5_of(handle.read_at)
        assert digest is not None
        return digest

    def ensure_root(self) -> None:
        """Create the root of a target if it does not exist."""

    def close(self) -> None:
        """Release connections."""
