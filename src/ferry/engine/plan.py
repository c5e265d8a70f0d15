"""The planner: what to do with one path, as a pure function of the source entry, the target
entry and the options. No I/O here; the caller fills ``md5`` in when comparing by checksum.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from ferry.engine.codes import Code
from ferry.engine.filters import NO_FILTER_RULES, Filter
from ferry.storage.entry import Entry, EntryKind
from ferry.storage.naming import NameProblem, NamingProfile
from ferry.storage.objects import OFFLINE_TIERS


class CopyMode(enum.Enum):
    ADDITIVE = "Additive"
    MIRROR = "Mirror"


class Compare(enum.Enum):
    TIME = "time"  # same kind, size and mtime
    CHECKSUM = "checksum"  # same kind, size and MD5


class Action(enum.Enum):
    RECORD = "record"
    """Nothing to do; the item ends with ``code``'s result (Excluded, Unsupported,
    NoTransferNeeded or Failed)."""
    COPY = "copy"
    """Copy a file's content, or re-create a link."""
    UPDATE_METADATA = "update-metadata"
    """Content is the same; set times, mode and owner."""
    CREATE_DIR = "create-dir"
    ENTER_DIR = "enter-dir"
    """The directory exists on both sides: descend. ``code`` says whether its own metadata
    needs updating once its contents are done."""
    REPLACE = "replace"
    """Mirror: the target has another kind of item here; delete it, then copy or create."""
    DELETE = "delete"
    """Mirror: absent from the source; delete from the target."""
    KEEP = "keep"
    """Target-only item that stays (Additive, or excluded)."""


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    code: Code | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class PlanOptions:
    mode: CopyMode = CopyMode.ADDITIVE
    compare: Compare = Compare.TIME
    mtime_window_ns: int = 0
    """Two mtimes closer than this are equal (the coarser precision of the two stores)."""
    compare_mode: bool = True
    compare_owner: bool = False
    dir_times: bool = True
    """Both stores keep directories' times, so a directory's times are compared."""
    target_symlinks: bool = True
    naming: NamingProfile | None = None
    also_naming: NamingProfile | None = None
    """A second profile every name must also pass: where the target's data goes next."""
    filter: Filter = field(default_factory=lambda: Filter(NO_FILTER_RULES, 0))


_NAME_CODES = {
    NameProblem.INVALID_CHARACTER: Code.INVALID_CHARACTER,
    NameProblem.NAME_TOO_LONG: Code.NAME_TOO_LONG,
    NameProblem.PATH_TOO_LONG: Code.PATH_TOO_LONG,
    NameProblem.TOO_DEEP: Code.TOO_DEEP,
    NameProblem.RESERVED_NAME: Code.RESERVED_NAME,
    NameProblem.TOO_LARGE: Code.TOO_LARGE,
}

KEEP = Decision(Action.KEEP)
_DELETE = Decision(Action.DELETE, Code.DELETED)


def plan(src: Entry | None, dst: Entry | None, opts: PlanOptions) -> Decision:
    if src is None:
        if dst is None:
            raise ValueError("plan() needs a source or a target entry")
        if opts.mode is CopyMode.MIRROR and opts.filter.check(dst) is None:
            return _DELETE
        return KEEP

    excluded = opts.filter.check(src)
    if excluded is not None:
        return Decision(Action.RECORD, excluded)
    unsupported = _unsupported(src, opts)
    if unsupported is not None:
        return unsupported

    if dst is None:
        return _create(src)
    if dst.kind is not src.kind:
        if opts.mode is CopyMode.MIRROR and opts.filter.check(dst) is None:
            return Decision(Action.REPLACE, Code.REPLACED, f"target was a {dst.kind.value}")
        return Decision(Action.RECORD, Code.KIND_CONFLICT, f"target is a {dst.kind.value}")

    if src.kind is EntryKind.DIR:
        if not opts.dir_times or _same_metadata(src, dst, opts, check_mtime=True):
            return Decision(Action.ENTER_DIR, Code.UNCHANGED_BY_TIME)
        return Decision(Action.ENTER_DIR, Code.METADATA_UPDATED)

    if src.kind is EntryKind.SYMLINK:
        if src.link_target != dst.link_target:
            return Decision(Action.COPY, Code.SYMLINK_COPIED)
        if _mtime_equal(src, dst, opts):
            return Decision(Action.RECORD, Code.UNCHANGED_BY_TIME)
        return Decision(Action.UPDATE_METADATA, Code.METADATA_UPDATED)

    if src.size != dst.size:
        return Decision(Action.COPY, Code.COPIED)
    if opts.compare is Compare.CHECKSUM:
        if src.md5 is None or dst.md5 is None or src.md5 != dst.md5:
            return Decision(Action.COPY, Code.COPIED)
        if _same_metadata(src, dst, opts, check_mtime=True):
            return Decision(Action.RECORD, Code.UNCHANGED_BY_CHECKSUM)
        return Decision(Action.UPDATE_METADATA, Code.METADATA_UPDATED)
    if not _mtime_equal(src, dst, opts):
        return Decision(Action.COPY, Code.COPIED)
    if _same_metadata(src, dst, opts, check_mtime=False):
        return Decision(Action.RECORD, Code.UNCHANGED_BY_TIME)
    return Decision(Action.UPDATE_METADATA, Code.METADATA_UPDATED)


def _unsupported(src: Entry, opts: PlanOptions) -> Decision | None:
    if src.kind is EntryKind.SPECIAL:
        return Decision(Action.RECORD, Code.UNSUPPORTED_TYPE, "fifo, socket or device")
    if src.tier in OFFLINE_TIERS:
        return Decision(Action.RECORD, Code.OFFLINE_TIER, f"tier {src.tier}")
    if src.kind is EntryKind.SYMLINK and not opts.target_symlinks:
        return Decision(Action.RECORD, Code.UNSUPPORTED_TYPE, "the target cannot hold links")
    for profile in (opts.naming, opts.also_naming):
        if profile is None:
            continue
        # The walk never enters a directory whose own name failed, so the leaf suffices.
        problem = profile.check_leaf(src.path)
        if problem is None and src.kind is EntryKind.FILE:
            problem = profile.check_size(src.size)
        if problem is None and src.kind is not EntryKind.DIR:
            problem = profile.check_staged(src.path)
        if problem is not None:
            kind, detail = problem
            return Decision(Action.RECORD, _NAME_CODES[kind], detail)
    return None


def _create(src: Entry) -> Decision:
    if src.kind is EntryKind.DIR:
        return Decision(Action.CREATE_DIR, Code.DIRECTORY_CREATED)
    if src.kind is EntryKind.SYMLINK:
        return Decision(Action.COPY, Code.SYMLINK_COPIED)
    return Decision(Action.COPY, Code.COPIED)


def _mtime_equal(src: Entry, dst: Entry, opts: PlanOptions) -> bool:
    return abs(src.mtime_ns - dst.mtime_ns) <= opts.mtime_window_ns


def _same_metadata(src: Entry, dst: Entry, opts: PlanOptions, *, check_mtime: bool) -> bool:
    if check_mtime and not _mtime_equal(src, dst, opts):
        return False
    if opts.compare_mode and src.mode is not None and dst.mode is not None and src.mode != dst.mode:
        return False
    return not (
        opts.compare_owner
        and src.uid is not None
        and dst.uid is not None
        and (src.uid != dst.uid or src.gid != dst.gid)
    )
