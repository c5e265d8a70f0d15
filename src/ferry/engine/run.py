"""One run of the engine over a source and a target (docs/design.md §4).

Directories are processed one at a time: the source and target listings of a directory are
merge-joined in sorted order, each path is planned, and the work is dispatched: files to the
transfer pool, subdirectories back to the checker pool. Memory is bounded by the work in
flight, not by the tree. A directory's own times and mode are applied once everything in it
is done (post-order), because writing into a directory changes its mtime. Mirror deletions
are spooled to disk and carried out after the transfers, and only when nothing failed and
the total stays within ``max_delete``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from ferry.engine.codes import Code, Result
from ferry.engine.copylog import CopyLog
from ferry.engine.counters import Counters, CounterSnapshot
from ferry.engine.deletes import DeleteSpool, deletion_order
from ferry.engine.filters import NO_FILTER_RULES, Filter, FilterRules
from ferry.engine.merge import ListingError, guarded, merge_join, merge_join_folded
from ferry.engine.plan import Action, Compare, CopyMode, Decision, PlanOptions, plan
from ferry.engine.throttle import TokenBucket
from ferry.engine.transfer import (
    Canceled,
    FileCopier,
    TransferFailure,
    TransferSettings,
    source_failure,
    target_failure,
)
from ferry.storage.base import Store
from ferry.storage.entry import Entry, EntryKind, parent_path
from ferry.storage.errors import NotFound, StorageError
from ferry.storage.naming import NamingProfile

MAX_FAILURES_KEPT = 1000
# Small files go to the transfer pool in batches: handing each one to another thread costs
# more than copying it.
SMALL_FILE_BYTES = 1 << 20
BATCH_FILES = 64
BATCH_BYTES = 8 << 20


class RunStatus(enum.Enum):
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    CANCELED = "Canceled"


class Phase(enum.Enum):
    SCANNING = "scanning"
    TRANSFERRING = "transferring"
    DELETING = "deleting"
    DONE = "done"


class RunSetupError(Exception):
    """The run cannot start: a missing source, an unusable target. Nothing was changed."""


@dataclass(frozen=True, slots=True)
class RunOptions:
    mode: CopyMode = CopyMode.ADDITIVE
    compare: Compare = Compare.TIME
    filters: FilterRules = NO_FILTER_RULES
    checkers: int = 8
    transfers: int = 4
    transfer: TransferSettings = field(default_factory=TransferSettings)
    retries: int = 3
    retry_delay: float = 0.5
    max_delete: int | None = None
    dry_run: bool = False
    bwlimit: float | None = None
    run_id: str = ""
    # One work unit of one level (docs/design.md §4.11, §5.1): process only the directory at this path ("" is the root).
    # Its files are planned and transferred and its Mirror deletes done; its subdirectories
    # are created (or checked) and counted here, but not entered: they are reported in
    # ``RunSummary.subdirs`` as the next units. The unit's own directory gets its times when
    # the unit ends. None: the whole tree in one run.
    unit: str | None = None
    # Names must also suit this profile, beyond what the target itself can hold: a local
    # folder that a SharePoint or OneDrive client syncs, a disk an SMB server will share.
    naming: NamingProfile | None = None

    def __post_init__(self) -> None:
        if self.checkers < 1 or self.transfers < 1:
            raise ValueError("checkers and transfers must be at least 1")
        if self.retries < 0:
            raise ValueError("retries cannot be negative")
        if self.max_delete is not None and self.max_delete < 0:
            raise ValueError("max-delete cannot be negative")


@dataclass(frozen=True, slots=True)
class Failure:
    path: str
    code: Code
    details: str


@dataclass(slots=True)
class RunSummary:
    run_id: str
    status: RunStatus
    counters: CounterSnapshot
    started: float
    finished: float
    dry_run: bool
    failures: list[Failure]
    errors: list[str]
    subdirs: list[str] = field(default_factory=list)
    """With ``RunOptions.unit``: the subdirectories to process as units of their own."""

    def as_json(self) -> dict[str, object]:
        return {
            **self.counters.as_job_run(),
            "status": self.status.value,
            "runId": self.run_id,
            "dryRun": self.dry_run,
            "durationSeconds": round(self.finished - self.started, 3),
            "errors": list(self.errors),
        }


@dataclass(frozen=True, slots=True)
class Progress:
    phase: Phase
    counters: CounterSnapshot
    elapsed: float


class _Dir:
    """A directory in flight. ``pending`` counts the listing itself plus every child task
    (transfer or subdirectory) not yet finished; at zero the directory is finalized."""

    __slots__ = (
        "batch",
        "batch_bytes",
        "code",
        "dirty",
        "failure",
        "parent",
        "partials",
        "path",
        "pending",
        "src",
        "target_empty",
    )

    def __init__(
        self,
        path: str,
        parent: _Dir | None,
        src: Entry | None,
        code: Code | None,
        target_empty: bool,
    ) -> None:
        self.path = path
        self.parent = parent
        self.src = src
        self.code = code
        self.target_empty = target_empty
        self.pending = 1
        self.dirty = False
        """Something was written into the directory on the target, which changed its mtime."""
        self.failure: tuple[Code, str] | None = None
        self.partials: list[str] = []
        self.batch: list[tuple[Entry, Code]] = []
        self.batch_bytes = 0


def _capped(requested: int, source_hint: int | None, target_hint: int | None) -> int:
    """``requested``, unless both stores say fewer threads help (None: no limit)."""
    if source_hint is None or target_hint is None:
        return requested
    return min(requested, max(source_hint, target_hint))


def _item_size(entry: Entry) -> int:
    return entry.size if entry.kind in (EntryKind.FILE, EntryKind.SYMLINK) else 0


class CopyRun:
    """Runs the engine once. ``run()`` blocks; ``cancel()`` and ``progress()`` may be called
    from another thread."""

    def __init__(
        self, source: Store, target: Store, options: RunOptions, log: CopyLog | None = None
    ) -> None:
        self.source = source
        self.target = target
        self.options = options
        self.run_id = options.run_id or uuid.uuid4().hex[:12]
        self.log = log
        self.counters = Counters()
        self.bucket = TokenBucket(options.bwlimit)
        self._cancel = threading.Event()
        self._root_done = threading.Event()
        self._lock = threading.Lock()
        self._failures: list[Failure] = []
        self._errors: list[str] = []
        self._dirs_unlisted = 0
        self._phase = Phase.SCANNING
        self._started = time.time()
        self._deleted_inline = 0
        self._spool = DeleteSpool()
        self._subdirs: list[str] = []
        self._slots = threading.BoundedSemaphore(options.transfers * 4)
        # Local disks answer in microseconds: beyond one thread per CPU, Python threads only
        # contend for the interpreter lock. Network stores get every thread the user allows.
        src_caps, dst_caps = source.capabilities, target.capabilities
        self.checkers = _capped(
            options.checkers,
            src_caps.useful_listing_concurrency,
            dst_caps.useful_listing_concurrency,
        )
        self.transfers = _capped(
            options.transfers, src_caps.useful_concurrency, dst_caps.useful_concurrency
        )
        self._checkers = ThreadPoolExecutor(self.checkers, "ferry-check")
        self._transfers = ThreadPoolExecutor(self.transfers, "ferry-transfer")
        self._stat_before_compare = not (src_caps.listing_metadata and dst_caps.listing_metadata)
        also = options.naming
        if dst_caps.case_insensitive:
            self._fold: Callable[[str], str] | None = target.naming.fold
        elif also is not None and also.case_insensitive:
            self._fold = also.fold  # names that will be one item where the data goes next
        else:
            self._fold = None
        self._copier = FileCopier(
            source, target, options.transfer, self.bucket, self._cancel, self.counters.moved
        )
        self._plan_options = PlanOptions(
            mode=options.mode,
            compare=options.compare,
            mtime_window_ns=max(
                source.capabilities.mtime_precision_ns, target.capabilities.mtime_precision_ns
            )
            - 1,
            compare_mode=source.capabilities.posix_metadata and target.capabilities.posix_metadata,
            compare_owner=target.capabilities.set_owner and source.capabilities.posix_metadata,
            target_symlinks=target.capabilities.symlinks,
            naming=target.naming,
            also_naming=options.naming,
            filter=Filter(options.filters, time.time_ns()),
        )

    # -- control ---------------------------------------------------------------------------

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def canceled(self) -> bool:
        return self._cancel.is_set()

    def progress(self) -> Progress:
        return Progress(self._phase, self.counters.snapshot(), time.time() - self._started)

    # -- the run ---------------------------------------------------------------------------

    def run(self) -> RunSummary:
        try:
            unit = self.options.unit or ""
            if unit:
                unit_src, root_empty = self._prepare_unit(unit)
                if unit_src is None:  # gone from the source since its parent was scanned
                    return self._summary()
            else:
                unit_src, root_empty = None, self._prepare_roots()
            # ensure_root may have taught the target what it keeps.
            self._plan_options = dataclasses.replace(
                self._plan_options,
                dir_times=self.source.capabilities.dir_times and self.target.capabilities.dir_times,
            )
            root = _Dir(unit, None, None, None, target_empty=root_empty)
            with self._lock:
                self._dirs_unlisted += 1
            self._checkers.submit(self._scan_dir, root)
            while not self._root_done.wait(0.2):
                pass
            self._phase = Phase.DELETING
            self._run_deletes()
            if unit_src is not None and root.failure is None:
                self._set_unit_times(unit_src)
        finally:
            self._checkers.shutdown(wait=True)
            self._transfers.shutdown(wait=True)
            self._spool.close()
            self._phase = Phase.DONE
        return self._summary()

    def _prepare_roots(self) -> bool:
        try:
            src_root = self.source.stat("")
        except StorageError as exc:
            raise RunSetupError(f"cannot read the source {self.source.url}: {exc}") from exc
        if src_root is None:
            raise RunSetupError(f"source does not exist: {self.source.url}")
        if src_root.kind is not EntryKind.DIR:
            raise RunSetupError(f"source is not a directory: {self.source.url}")
        try:
            dst_root = self.target.stat("")
        except StorageError as exc:
            raise RunSetupError(f"cannot read the target {self.target.url}: {exc}") from exc
        if dst_root is not None and dst_root.kind is not EntryKind.DIR:
            raise RunSetupError(f"target exists and is not a directory: {self.target.url}")
        if not self.options.dry_run:
            try:
                self.target.ensure_root()
            except StorageError as exc:
                raise RunSetupError(f"cannot write the target {self.target.url}: {exc}") from exc
        return dst_root is None

    def _prepare_unit(self, unit: str) -> tuple[Entry | None, bool]:
        """The source entry of a unit's directory (None: nothing to do) and whether its
        target directory is new (its parent's unit normally created it)."""
        try:
            src = self.source.stat(unit)
        except StorageError as exc:
            raise RunSetupError(f"cannot read {unit} on the source: {exc}") from exc
        if src is None or src.kind is not EntryKind.DIR:
            return None, True
        try:
            dst = self.target.stat(unit)
            if dst is None and not self.options.dry_run:
                self.target.make_dir(unit)
        except StorageError as exc:
            raise RunSetupError(f"cannot write {unit} on the target: {exc}") from exc
        return src, dst is None

    def _set_unit_times(self, src: Entry) -> None:
        """A unit's directory gets the source's times once everything in it is written."""
        if self.options.dry_run or self.canceled:
            return
        try:
            self.target.set_metadata(src)
        except StorageError as exc:
            self._error(f"cannot set the times of {src.path}: {exc}")

    def _summary(self) -> RunSummary:
        counters = self.counters.snapshot()
        if self.canceled:
            status = RunStatus.CANCELED
        elif counters.items_failed or counters.delete_failures or self._errors:
            status = RunStatus.FAILED
        else:
            status = RunStatus.SUCCEEDED
        return RunSummary(
            run_id=self.run_id,
            status=status,
            counters=counters,
            started=self._started,
            finished=time.time(),
            dry_run=self.options.dry_run,
            failures=list(self._failures),
            errors=list(self._errors),
            subdirs=sorted(self._subdirs),
        )

    # -- outcomes --------------------------------------------------------------------------

    def _finish(
        self, entry: Entry, code: Code, details: str = "", *, scanned: bool = False
    ) -> None:
        size = _item_size(entry)
        self.counters.outcome(code.result, size, scanned=scanned)
        if self.log is not None:
            self.log.record(entry.path, entry.is_dir, size, code, details)
        if code.result is Result.FAILED:
            with self._lock:
                if len(self._failures) < MAX_FAILURES_KEPT:
                    self._failures.append(Failure(entry.path, code, details or code.message))

    def _record_delete_problem(
        self, path: str, is_dir: bool, size: int, code: Code, details: str
    ) -> None:
        self.counters.delete_failed()
        if self.log is not None:
            self.log.record(path, is_dir, size, code, details)
        with self._lock:
            if len(self._failures) < MAX_FAILURES_KEPT:
                self._failures.append(Failure(path, code, details or code.message))

    def _error(self, message: str) -> None:
        with self._lock:
            self._errors.append(message)

    # -- scanning --------------------------------------------------------------------------

    def _scan_dir(self, d: _Dir) -> None:
        try:
            if self.canceled:
                d.failure = (Code.CANCELED, "")
                return
            source_entries = guarded(self.source.list_dir(d.path), target_side=False)
            target_entries: Iterator[Entry] = (
                iter(())
                if d.target_empty
                else guarded(self.target.list_dir(d.path, d.partials), True)
            )
            if self._fold is None:
                for src, dst in merge_join(source_entries, target_entries):
                    if self.canceled:
                        d.failure = (Code.CANCELED, "")
                        return
                    self._handle(d, src, dst)
                return
            for pair in merge_join_folded(source_entries, target_entries, self._fold):
                if self.canceled:
                    d.failure = (Code.CANCELED, "")
                    return
                if pair.same_on_target is not None and pair.source is not None:
                    self._finish(
                        pair.source,
                        Code.NAME_COLLISION,
                        f"same name as {pair.same_on_target.name!r} on the target",
                        scanned=True,
                    )
                    continue
                self._handle(d, pair.source, pair.target)
        except ListingError as exc:
            d.failure = (exc.failure.code, str(exc.failure))
        except Exception as exc:  # a bug must not hang the run: fail this directory
            d.failure = (Code.UNKNOWN_ERROR, f"{type(exc).__name__}: {exc}")
        finally:
            self._flush_batch(d)
            with self._lock:
                self._dirs_unlisted -= 1
                if self._dirs_unlisted == 0 and self._phase is Phase.SCANNING:
                    self._phase = Phase.TRANSFERRING
            self._child_done(d)

    def _handle(self, d: _Dir, src: Entry | None, dst: Entry | None) -> None:
        if self._stat_before_compare and src is not None:
            if dst is not None:
                recorded = self._with_recorded_metadata(src, dst)
                if recorded is None:
                    return
                src, dst = recorded
            elif src.kind is EntryKind.DIR and not self.source.capabilities.listing_metadata:
                # A new directory takes its recorded times from the source's marker, which
                # a listing of prefixes does not carry.
                stated = self._stat_source(src)
                if stated is None:
                    return
                src = stated
        if src is not None and (
            self.options.compare is Compare.CHECKSUM
            and dst is not None
            and src.kind is EntryKind.FILE
            and dst.kind is EntryKind.FILE
            and src.size == dst.size
        ):
            hashed = self._with_md5(src, dst)
            if hashed is None:
                return
            src, dst = hashed
        decision = plan(src, dst, self._plan_options)
        action = decision.action
        if src is not None:
            if action is Action.RECORD:
                assert decision.code is not None
                self._finish(src, decision.code, decision.detail, scanned=True)
                return
            self.counters.scanned(_item_size(src))
        if action is Action.KEEP:
            return
        if action is Action.DELETE:
            assert dst is not None
            self._spool_delete(dst)
            return
        assert src is not None and decision.code is not None
        if action is Action.CREATE_DIR:
            self._enter(d, src, decision.code, create=True)
        elif action is Action.ENTER_DIR:
            self._enter(d, src, decision.code, create=False)
        elif action is Action.COPY:
            self._copy(d, src, decision.code)
        elif action is Action.UPDATE_METADATA:
            self._update_metadata(src)
        elif action is Action.REPLACE:
            assert dst is not None
            self._replace(d, src, dst, decision)

    def _stat_source(self, src: Entry) -> Entry | None:
        try:
            return self.source.stat(src.path) or src
        except StorageError as exc:
            failure = source_failure(exc)
            self._finish(src, failure.code, str(failure), scanned=True)
            return None

    def _with_recorded_metadata(self, src: Entry, dst: Entry) -> tuple[Entry, Entry] | None:
        """Where a listing lacks the recorded mtime and metadata (S3), read them with a stat
        before deciding that an item is unchanged. A size or kind difference decides alone."""
        if src.kind is not dst.kind or (src.kind is EntryKind.FILE and src.size != dst.size):
            return src, dst
        if src.kind not in (EntryKind.FILE, EntryKind.DIR):
            return src, dst
        if not self.source.capabilities.listing_metadata:
            stated = self._stat_source(src)
            if stated is None:
                return None
            src = stated
        try:
            if not self.target.capabilities.listing_metadata:
                dst = self.target.stat(dst.path) or dst
        except StorageError as exc:
            failure = target_failure(exc)
            self._finish(src, failure.code, str(failure), scanned=True)
            return None
        return src, dst

    def _with_md5(self, src: Entry, dst: Entry) -> tuple[Entry, Entry] | None:
        try:
            if src.md5 is None:
                src = dataclasses.replace(src, md5=self.source.hash_md5(src.path))
        except StorageError as exc:
            failure = source_failure(exc)
            self._finish(src, failure.code, str(failure), scanned=True)
            return None
        try:
            if dst.md5 is None:
                dst = dataclasses.replace(dst, md5=self.target.hash_md5(dst.path))
        except StorageError as exc:
            failure = target_failure(exc)
            self._finish(src, failure.code, str(failure), scanned=True)
            return None
        return src, dst

    def _enter(self, d: _Dir, src: Entry, code: Code, *, create: bool) -> None:
        if create and not self.options.dry_run:
            try:
                self.target.make_dir(src.path)
            except StorageError as exc:
                failure = target_failure(exc)
                self._finish(src, failure.code, str(failure))
                return
        if self.options.unit is not None:
            # one level only: the directory is counted here and becomes a unit of its own
            with self._lock:
                d.dirty = d.dirty or (create and not self.options.dry_run)
                self._subdirs.append(src.path)
            self._finish(src, code, "dry run" if self.options.dry_run else "")
            return
        child = _Dir(src.path, d, src, code, target_empty=create)
        with self._lock:
            d.dirty = d.dirty or (create and not self.options.dry_run)
            d.pending += 1
            self._dirs_unlisted += 1
            if self._phase is Phase.TRANSFERRING:
                self._phase = Phase.SCANNING
        self._checkers.submit(self._scan_dir, child)

    def _child_done(self, d: _Dir | None) -> None:
        while d is not None:
            with self._lock:
                d.pending -= 1
                if d.pending:
                    return
            self._finalize_dir(d)
            if d.parent is None:
                self._root_done.set()
                return
            d = d.parent

    def _finalize_dir(self, d: _Dir) -> None:
        if d.failure is not None and d.failure[0] is Code.CANCELED:
            if d.src is not None:
                self._finish(d.src, Code.CANCELED)
            return
        if not self.options.dry_run and self.target.capabilities.discard_partial:
            for name in d.partials:
                with contextlib.suppress(StorageError):
                    self.target.discard_partial(d.path, name)
                d.dirty = True
        if d.src is None:
            if d.failure is not None:
                self._error(f"cannot list the root: {d.failure[1]}")
            return
        if d.failure is not None:
            self._finish(d.src, d.failure[0], d.failure[1])
            return
        assert d.code is not None
        # Writing into a directory changes its mtime, so an unchanged directory whose
        # content changed gets its times back; that is housekeeping, not a transfer.
        if (
            d.code is not Code.UNCHANGED_BY_TIME or (d.dirty and self.target.capabilities.dir_times)
        ) and not self.options.dry_run:
            try:
                self.target.set_metadata(d.src)
            except StorageError as exc:
                failure = target_failure(exc)
                self._finish(d.src, failure.code, str(failure))
                return
        self._finish(d.src, d.code, "dry run" if self.options.dry_run else "")

    # -- transfers -------------------------------------------------------------------------

    def _copy(self, d: _Dir, src: Entry, code: Code) -> None:
        if src.kind is EntryKind.SYMLINK:
            d.dirty = d.dirty or not self.options.dry_run
            self._copy_symlink(src, code)
            return
        self.counters.planned(src.size)
        if self.options.dry_run:
            self._finish(src, code, "dry run")
            return
        d.batch.append((src, code))
        d.batch_bytes += src.size
        if (
            src.size > SMALL_FILE_BYTES
            or len(d.batch) >= BATCH_FILES
            or d.batch_bytes >= BATCH_BYTES
        ):
            self._flush_batch(d)

    def _flush_batch(self, d: _Dir) -> None:
        """Hand the files gathered so far in ``d`` to the transfer pool as one task."""
        batch = d.batch
        if not batch:
            return
        d.batch, d.batch_bytes = [], 0
        while not self._slots.acquire(timeout=0.2):
            if self.canceled:
                for src, _ in batch:
                    self._finish(src, Code.CANCELED)
                return
        with self._lock:
            d.pending += 1
            d.dirty = True
        self._transfers.submit(self._transfer_batch, d, batch)

    def _transfer_batch(self, d: _Dir, batch: list[tuple[Entry, Code]]) -> None:
        try:
            if len(batch) > 1 and self.source.capabilities.prefetch:
                self.source.prefetch([src.path for src, _ in batch])
            for src, code in batch:
                try:
                    final, details = self._copy_with_retries(src, code)
                except Exception as exc:  # never lose the bookkeeping of an item
                    final, details = Code.UNKNOWN_ERROR, f"{type(exc).__name__}: {exc}"
                self._finish(src, final, details)
        finally:
            self._slots.release()
            self._child_done(d)

    def _copy_with_retries(self, src: Entry, code: Code) -> tuple[Code, str]:
        attempt = 0
        while True:
            attempt += 1
            if self.canceled:
                return Code.CANCELED, ""
            try:
                result = self._copier.copy(src)
            except Canceled:
                return Code.CANCELED, "interrupted; a re-run resumes from the completed parts"
            except TransferFailure as failure:
                if not failure.transient or attempt > self.options.retries:
                    suffix = f" (attempt {attempt})" if attempt > 1 else ""
                    return failure.code, f"{failure}{suffix}"
                delay = failure.retry_after
                if delay is None:
                    cap = self.options.retry_delay * (2 ** (attempt - 1))
                    delay = random.uniform(cap / 2, cap)
                if self._cancel.wait(delay):
                    return Code.CANCELED, ""
                continue
            details = []
            if result.server_side:
                details.append("server-side copy")
            if result.resumed_parts:
                details.append(
                    f"resumed: {result.resumed_parts} of {result.parts} parts were already on the target"
                )
            if result.md5 is not None:
                details.append(f"md5 {result.md5}")
            if attempt > 1:
                details.append(f"attempt {attempt}")
            return code, "; ".join(details)

    def _copy_symlink(self, src: Entry, code: Code) -> None:
        if not self.options.dry_run:
            try:
                self.target.make_symlink(src)
            except StorageError as exc:
                failure = target_failure(exc)
                self._finish(src, failure.code, str(failure))
                return
        self._finish(src, code, "dry run" if self.options.dry_run else f"-> {src.link_target}")

    def _update_metadata(self, src: Entry) -> None:
        if not self.options.dry_run:
            try:
                self.target.set_metadata(src)
            except StorageError as exc:
                failure = target_failure(exc)
                self._finish(src, failure.code, str(failure))
                return
        self._finish(src, Code.METADATA_UPDATED, "dry run" if self.options.dry_run else "")

    def _replace(self, d: _Dir, src: Entry, dst: Entry, decision: Decision) -> None:
        try:
            doomed = list(self._deletion_order(dst, discard_partials=False))
        except StorageError as exc:
            failure = target_failure(exc)
            self._finish(src, failure.code, str(failure))
            return
        limit = self.options.max_delete
        with self._lock:
            if limit is not None and self._deleted_inline + len(doomed) > limit:
                refused = True
            else:
                refused = False
                self._deleted_inline += len(doomed)
        if refused:
            self._finish(
                src,
                Code.MAX_DELETE_EXCEEDED,
                f"replacing the target {dst.kind.value} needs {len(doomed)} deletes",
            )
            return
        d.dirty = d.dirty or not self.options.dry_run
        for entry in doomed:
            if not self._delete_one(entry, Code.DELETED_FOR_REPLACEMENT):
                self._finish(
                    src, Code.DELETE_FAILED, f"could not remove the target {dst.kind.value}"
                )
                return
        assert decision.code is not None
        if src.kind is EntryKind.DIR:
            self._enter(d, src, decision.code, create=True)
        else:
            self._copy(d, src, decision.code)

    # -- Mirror deletions ------------------------------------------------------------------

    def _spool_delete(self, dst: Entry) -> None:
        with self._lock:
            self._spool.add(dst.path, dst.is_dir, _item_size(dst))

    def _deletion_order(self, top: Entry, *, discard_partials: bool = True) -> Iterator[Entry]:
        return deletion_order(
            self.target,
            top,
            self._plan_options.filter,
            discard_partials=discard_partials and not self.options.dry_run,
        )

    def _delete_one(self, entry: Entry, code: Code) -> bool:
        if not self.options.dry_run:
            try:
                self.target.delete(entry.path, is_dir=entry.is_dir)
            except NotFound:
                pass
            except StorageError as exc:
                self._record_delete_problem(
                    entry.path, entry.is_dir, _item_size(entry), Code.DELETE_FAILED, str(exc)
                )
                return False
        self.counters.outcome(Result.DELETED, _item_size(entry))
        if self.log is not None:
            self.log.record(
                entry.path,
                entry.is_dir,
                _item_size(entry),
                code,
                "dry run" if self.options.dry_run else "",
            )
        return True

    def _run_deletes(self) -> None:
        if not self._spool.count or self.canceled:
            return
        if self.counters.snapshot().items_failed:
            for top in self._spool.entries():
                self._record_delete_problem(top.path, top.is_dir, top.size, Code.DELETE_SKIPPED, "")
            self._error(
                f"{self._spool.count} target-only items were not deleted because other items failed"
            )
            return
        total = self._deleted_inline
        try:
            for top in self._spool.entries():
                total += sum(1 for _ in self._deletion_order(top, discard_partials=False))
        except StorageError as exc:
            self._error(f"cannot list the target for deletion: {exc}")
            return
        limit = self.options.max_delete
        if limit is not None and total > limit:
            for top in self._spool.entries():
                self._record_delete_problem(
                    top.path,
                    top.is_dir,
                    top.size,
                    Code.MAX_DELETE_EXCEEDED,
                    f"{total} deletes needed, --max-delete is {limit}",
                )
            self._error(f"not deleting: {total} deletes needed, more than --max-delete {limit}")
            return
        parents: set[str] = set()
        for top in self._spool.entries():
            if self.canceled:
                return
            parents.add(parent_path(top.path))
            try:
                for entry in self._deletion_order(top):
                    self._delete_one(entry, Code.DELETED)
            except StorageError as exc:
                self._record_delete_problem(
                    top.path, top.is_dir, top.size, Code.DELETE_FAILED, str(exc)
                )
        if not self.options.dry_run:
            self._restore_directory_times(parents - {""})

    def _restore_directory_times(self, paths: set[str]) -> None:
        """Deleting changed these directories' mtimes; give them the source's back."""
        for path in paths:
            try:
                entry = self.source.stat(path)
                if entry is not None and entry.kind is EntryKind.DIR:
                    self.target.set_metadata(entry)
            except StorageError as exc:
                self._error(f"cannot restore the times of {path}: {exc}")
