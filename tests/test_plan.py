"""The planner, ``ferry.engine.plan.plan``: a table of every branch, then properties."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from ferry.engine.codes import Code, Result
from ferry.engine.filters import Filter, FilterRules
from ferry.engine.plan import Action, Compare, CopyMode, Decision, PlanOptions, plan
from ferry.storage.entry import Entry, EntryKind
from ferry.storage.naming import POSIX, NamingProfile

NOW = 1_700_000_000_000_000_000
T = 1_600_000_000_123_456_789
SEC = 1_000_000_000
HOUR = 3600 * SEC
MD5_A = "0cc175b9c0f1b6a831c399e269772661"
MD5_B = "92eb5ffee6ae2fec3ad71c777531578f"
PARTIAL = ".ferry-0123456789abcdef0123.partial"

ADD = CopyMode.ADDITIVE
MIR = CopyMode.MIRROR


def file(path: str = "d/f.txt", **kw: Any) -> Entry:
    base: dict[str, Any] = dict(size=10, mtime_ns=T, mode=0o644, uid=1000, gid=1000)
    base.update(kw)
    return Entry(path, EntryKind.FILE, **base)


def folder(path: str = "d/sub", **kw: Any) -> Entry:
    base: dict[str, Any] = dict(mtime_ns=T, mode=0o755, uid=1000, gid=1000)
    base.update(kw)
    return Entry(path, EntryKind.DIR, **base)


def link(path: str = "d/l", target: str = "f.txt", **kw: Any) -> Entry:
    base: dict[str, Any] = dict(mtime_ns=T, link_target=target)
    base.update(kw)
    return Entry(path, EntryKind.SYMLINK, **base)


def special(path: str = "d/fifo", **kw: Any) -> Entry:
    return Entry(path, EntryKind.SPECIAL, mtime_ns=T, **kw)


def flt(**rules: Any) -> Filter:
    return Filter(FilterRules(**rules), NOW)


def opts(**kw: Any) -> PlanOptions:
    return PlanOptions(**kw)


TINY_NAMES = NamingProfile("tiny", max_component_bytes=8, max_path_bytes=12, max_depth=2)

# (id, src, dst, options, expected action, expected code)
CASES: list[tuple[str, Entry | None, Entry | None, PlanOptions, Action, Code | None]] = [
    # -- target-only items ---------------------------------------------------------------
    ("target-only-file-additive-keep", None, file(), opts(mode=ADD), Action.KEEP, None),
    ("target-only-dir-additive-keep", None, folder(), opts(mode=ADD), Action.KEEP, None),
    ("target-only-file-mirror-delete", None, file(), opts(mode=MIR), Action.DELETE, Code.DELETED),
    ("target-only-dir-mirror-delete", None, folder(), opts(mode=MIR), Action.DELETE, Code.DELETED),
    ("target-only-link-mirror-delete", None, link(), opts(mode=MIR), Action.DELETE, Code.DELETED),
    (
        "target-only-special-mirror-delete",
        None,
        special(),
        opts(mode=MIR),
        Action.DELETE,
        Code.DELETED,
    ),
    (
        "target-only-excluded-by-pattern-mirror-keep",
        None,
        file("d/x.tmp"),
        opts(mode=MIR, filter=flt(exclude=("*.tmp",))),
        Action.KEEP,
        None,
    ),
    (
        "target-only-excluded-dir-mirror-keep",
        None,
        folder("cache"),
        opts(mode=MIR, filter=flt(exclude=("cache/",))),
        Action.KEEP,
        None,
    ),
    (
        "target-only-not-included-mirror-keep",
        None,
        file("d/x.log"),
        opts(mode=MIR, filter=flt(include=("*.txt",))),
        Action.KEEP,
        None,
    ),
    (
        "target-only-included-mirror-delete",
        None,
        file("d/x.txt"),
        opts(mode=MIR, filter=flt(include=("*.txt",))),
        Action.DELETE,
        Code.DELETED,
    ),
    (
        "target-only-dir-ignores-includes-mirror-delete",
        None,
        folder("d/logs"),
        opts(mode=MIR, filter=flt(include=("*.txt",))),
        Action.DELETE,
        Code.DELETED,
    ),
    (
        "target-only-hidden-mirror-keep",
        None,
        file("d/.secret"),
        opts(mode=MIR, filter=flt(exclude_hidden=True)),
        Action.KEEP,
        None,
    ),
    (
        "target-only-too-big-mirror-keep",
        None,
        file(size=1000),
        opts(mode=MIR, filter=flt(max_size=100)),
        Action.KEEP,
        None,
    ),
    (
        "target-only-too-old-mirror-keep",
        None,
        file(mtime_ns=NOW - 48 * HOUR),
        opts(mode=MIR, filter=flt(max_age_ns=24 * HOUR)),
        Action.KEEP,
        None,
    ),
    (
        "target-only-naming-not-checked",
        None,
        file("d/a\\b"),
        opts(mode=MIR, naming=POSIX),
        Action.DELETE,
        Code.DELETED,
    ),
    (
        "target-only-excluded-additive-keep",
        None,
        file("d/x.tmp"),
        opts(mode=ADD, filter=flt(exclude=("*.tmp",))),
        Action.KEEP,
        None,
    ),
    # -- filters -------------------------------------------------------------------------
    (
        "excluded-by-pattern",
        file("d/x.tmp"),
        None,
        opts(filter=flt(exclude=("*.tmp",))),
        Action.RECORD,
        Code.EXCLUDED_BY_PATTERN,
    ),
    (
        "excluded-by-pattern-with-target-mirror",
        file("d/x.tmp"),
        file("d/x.tmp", size=3),
        opts(mode=MIR, filter=flt(exclude=("*.tmp",))),
        Action.RECORD,
        Code.EXCLUDED_BY_PATTERN,
    ),
    (
        "excluded-dir-by-pattern",
        folder("node_modules"),
        folder("node_modules"),
        opts(filter=flt(exclude=("node_modules/",))),
        Action.RECORD,
        Code.EXCLUDED_BY_PATTERN,
    ),
    (
        "not-included",
        file("d/x.log"),
        None,
        opts(filter=flt(include=("*.txt",))),
        Action.RECORD,
        Code.NOT_INCLUDED,
    ),
    (
        "included-is-copied",
        file("d/x.txt"),
        None,
        opts(filter=flt(include=("*.txt",))),
        Action.COPY,
        Code.COPIED,
    ),
    (
        "excluded-by-size",
        file(size=5),
        None,
        opts(filter=flt(min_size=6)),
        Action.RECORD,
        Code.EXCLUDED_BY_SIZE,
    ),
    (
        "excluded-by-age",
        file(mtime_ns=NOW - 10 * SEC),
        None,
        opts(filter=flt(min_age_ns=HOUR)),
        Action.RECORD,
        Code.EXCLUDED_BY_AGE,
    ),
    (
        "excluded-hidden",
        file("d/.x"),
        None,
        opts(filter=flt(exclude_hidden=True)),
        Action.RECORD,
        Code.EXCLUDED_HIDDEN,
    ),
    (
        "excluded-special-is-excluded-not-unsupported",
        special("d/.fifo"),
        None,
        opts(filter=flt(exclude_hidden=True)),
        Action.RECORD,
        Code.EXCLUDED_HIDDEN,
    ),
    (
        "excluded-beats-kind-conflict",
        file("d/x.tmp"),
        folder("d/x.tmp"),
        opts(mode=ADD, filter=flt(exclude=("*.tmp",))),
        Action.RECORD,
        Code.EXCLUDED_BY_PATTERN,
    ),
    # -- unsupported -----------------------------------------------------------------------
    ("special-unsupported", special(), None, opts(), Action.RECORD, Code.UNSUPPORTED_TYPE),
    (
        "special-unsupported-even-with-target-mirror",
        special(),
        file("d/fifo"),
        opts(mode=MIR),
        Action.RECORD,
        Code.UNSUPPORTED_TYPE,
    ),
    (
        "symlink-target-cannot-hold-links",
        link(),
        None,
        opts(target_symlinks=False),
        Action.RECORD,
        Code.UNSUPPORTED_TYPE,
    ),
    (
        "symlink-target-cannot-hold-links-with-target",
        link(),
        link(),
        opts(target_symlinks=False),
        Action.RECORD,
        Code.UNSUPPORTED_TYPE,
    ),
    (
        "file-ok-when-target-cannot-hold-links",
        file(),
        None,
        opts(target_symlinks=False),
        Action.COPY,
        Code.COPIED,
    ),
    (
        "name-reserved-partial",
        file("d/" + PARTIAL),
        None,
        opts(naming=POSIX),
        Action.RECORD,
        Code.RESERVED_NAME,
    ),
    (
        "name-reserved-parts-dir",
        folder(".ferry-0123456789abcdef0123.parts"),
        None,
        opts(naming=POSIX),
        Action.RECORD,
        Code.RESERVED_NAME,
    ),
    (
        "name-invalid-backslash",
        file("d/a\\b"),
        None,
        opts(naming=POSIX),
        Action.RECORD,
        Code.INVALID_CHARACTER,
    ),
    (
        "name-invalid-dotdot",
        file("d/.."),
        None,
        opts(naming=POSIX),
        Action.RECORD,
        Code.INVALID_CHARACTER,
    ),
    (
        "name-invalid-empty-leaf",
        folder("d/"),
        None,
        opts(naming=POSIX),
        Action.RECORD,
        Code.INVALID_CHARACTER,
    ),
    (
        # The walk never enters a directory whose own name failed: only the leaf is checked.
        "name-parents-not-rechecked",
        file("d/../ok.txt"),
        None,
        opts(naming=POSIX),
        Action.COPY,
        Code.COPIED,
    ),
    (
        "name-invalid-nul",
        file("d/a\x00b"),
        file("d/a\x00b"),
        opts(naming=POSIX),
        Action.RECORD,
        Code.INVALID_CHARACTER,
    ),
    (
        "name-too-long",
        file("d/" + "n" * 256),
        None,
        opts(naming=POSIX),
        Action.RECORD,
        Code.NAME_TOO_LONG,
    ),
    (
        "path-too-long",
        file("/".join(["p" * 255] * 16) + "/x"),
        None,
        opts(naming=POSIX),
        Action.RECORD,
        Code.PATH_TOO_LONG,
    ),
    (
        "too-deep",
        file("/".join(["a"] * 2049)),
        None,
        opts(naming=POSIX),
        Action.RECORD,
        Code.TOO_DEEP,
    ),
    (
        "tiny-profile-too-deep",
        file("a/b/c"),
        None,
        opts(naming=TINY_NAMES),
        Action.RECORD,
        Code.TOO_DEEP,
    ),
    (
        "tiny-profile-name-too-long",
        file("abcdefghi"),
        None,
        opts(naming=TINY_NAMES),
        Action.RECORD,
        Code.NAME_TOO_LONG,
    ),
    (
        "tiny-profile-path-too-long",
        file("abcdefg/abcdefg"),
        None,
        opts(naming=TINY_NAMES),
        Action.RECORD,
        Code.PATH_TOO_LONG,
    ),
    (
        "tiny-profile-fits",
        file("abcdefgh/abc"),
        None,
        opts(naming=TINY_NAMES),
        Action.COPY,
        Code.COPIED,
    ),
    (
        "bad-name-without-profile-is-copied",
        file("d/" + PARTIAL),
        None,
        opts(naming=None),
        Action.COPY,
        Code.COPIED,
    ),
    (
        "bad-name-beats-kind-conflict",
        file("d/a\\b"),
        folder("d/a\\b"),
        opts(mode=MIR, naming=POSIX),
        Action.RECORD,
        Code.INVALID_CHARACTER,
    ),
    # -- missing target ----------------------------------------------------------------------
    ("missing-target-file-copy", file(), None, opts(), Action.COPY, Code.COPIED),
    (
        "missing-target-file-copy-mirror",
        file(),
        None,
        opts(mode=MIR),
        Action.COPY,
        Code.COPIED,
    ),
    (
        "missing-target-dir-create",
        folder(),
        None,
        opts(),
        Action.CREATE_DIR,
        Code.DIRECTORY_CREATED,
    ),
    (
        "missing-target-symlink-copy",
        link(),
        None,
        opts(),
        Action.COPY,
        Code.SYMLINK_COPIED,
    ),
    (
        "missing-target-empty-file-copy",
        file(size=0),
        None,
        opts(compare=Compare.CHECKSUM),
        Action.COPY,
        Code.COPIED,
    ),
    # -- kind conflicts ----------------------------------------------------------------------
    (
        "kind-conflict-file-over-dir-additive",
        file("d/x"),
        folder("d/x"),
        opts(mode=ADD),
        Action.RECORD,
        Code.KIND_CONFLICT,
    ),
    (
        "kind-conflict-dir-over-file-additive",
        folder("d/x"),
        file("d/x"),
        opts(mode=ADD),
        Action.RECORD,
        Code.KIND_CONFLICT,
    ),
    (
        "kind-conflict-link-over-file-additive",
        link("d/x"),
        file("d/x"),
        opts(mode=ADD),
        Action.RECORD,
        Code.KIND_CONFLICT,
    ),
    (
        "kind-conflict-file-over-special-additive",
        file("d/x"),
        special("d/x"),
        opts(mode=ADD),
        Action.RECORD,
        Code.KIND_CONFLICT,
    ),
    (
        "kind-conflict-file-over-dir-mirror",
        file("d/x"),
        folder("d/x"),
        opts(mode=MIR),
        Action.REPLACE,
        Code.REPLACED,
    ),
    (
        "kind-conflict-dir-over-file-mirror",
        folder("d/x"),
        file("d/x"),
        opts(mode=MIR),
        Action.REPLACE,
        Code.REPLACED,
    ),
    (
        "kind-conflict-link-over-dir-mirror",
        link("d/x"),
        folder("d/x"),
        opts(mode=MIR),
        Action.REPLACE,
        Code.REPLACED,
    ),
    (
        "kind-conflict-file-over-link-mirror",
        file("d/x"),
        link("d/x"),
        opts(mode=MIR),
        Action.REPLACE,
        Code.REPLACED,
    ),
    # -- files, compare by time ----------------------------------------------------------------
    ("file-unchanged", file(), file(), opts(), Action.RECORD, Code.UNCHANGED_BY_TIME),
    (
        "file-unchanged-mirror",
        file(),
        file(),
        opts(mode=MIR),
        Action.RECORD,
        Code.UNCHANGED_BY_TIME,
    ),
    (
        "file-size-differs",
        file(size=10),
        file(size=11),
        opts(),
        Action.COPY,
        Code.COPIED,
    ),
    (
        "file-size-differs-same-md5-time-compare",
        file(size=10, md5=MD5_A),
        file(size=11, md5=MD5_A),
        opts(),
        Action.COPY,
        Code.COPIED,
    ),
    (
        "file-mtime-newer-on-source",
        file(mtime_ns=T + 1),
        file(),
        opts(),
        Action.COPY,
        Code.COPIED,
    ),
    (
        "file-mtime-older-on-source",
        file(mtime_ns=T - 1),
        file(),
        opts(),
        Action.COPY,
        Code.COPIED,
    ),
    (
        "file-mtime-within-window",
        file(mtime_ns=T + SEC),
        file(),
        opts(mtime_window_ns=SEC),
        Action.RECORD,
        Code.UNCHANGED_BY_TIME,
    ),
    (
        "file-mtime-within-window-negative",
        file(mtime_ns=T - SEC),
        file(),
        opts(mtime_window_ns=SEC),
        Action.RECORD,
        Code.UNCHANGED_BY_TIME,
    ),
    (
        "file-mtime-just-outside-window",
        file(mtime_ns=T + SEC + 1),
        file(),
        opts(mtime_window_ns=SEC),
        Action.COPY,
        Code.COPIED,
    ),
    (
        "file-mtime-just-outside-window-negative",
        file(mtime_ns=T - SEC - 1),
        file(),
        opts(mtime_window_ns=SEC),
        Action.COPY,
        Code.COPIED,
    ),
    (
        "file-md5-differs-ignored-when-comparing-by-time",
        file(md5=MD5_A),
        file(md5=MD5_B),
        opts(compare=Compare.TIME),
        Action.RECORD,
        Code.UNCHANGED_BY_TIME,
    ),
    # -- files, compare by checksum -----------------------------------------------------------
    (
        "checksum-equal",
        file(md5=MD5_A),
        file(md5=MD5_A),
        opts(compare=Compare.CHECKSUM),
        Action.RECORD,
        Code.UNCHANGED_BY_CHECKSUM,
    ),
    (
        "checksum-differs",
        file(md5=MD5_A),
        file(md5=MD5_B),
        opts(compare=Compare.CHECKSUM),
        Action.COPY,
        Code.COPIED,
    ),
    (
        "checksum-missing-on-source",
        file(md5=None),
        file(md5=MD5_A),
        opts(compare=Compare.CHECKSUM),
        Action.COPY,
        Code.COPIED,
    ),
    (
        "checksum-missing-on-target",
        file(md5=MD5_A),
        file(md5=None),
        opts(compare=Compare.CHECKSUM),
        Action.COPY,
        Code.COPIED,
    ),
    (
        "checksum-missing-on-both",
        file(md5=None),
        file(md5=None),
        opts(compare=Compare.CHECKSUM),
        Action.COPY,
        Code.COPIED,
    ),
    (
        "checksum-size-differs-same-md5",
        file(size=10, md5=MD5_A),
        file(size=11, md5=MD5_A),
        opts(compare=Compare.CHECKSUM),
        Action.COPY,
        Code.COPIED,
    ),
    (
        "checksum-equal-mtime-differs",
        file(md5=MD5_A, mtime_ns=T + HOUR),
        file(md5=MD5_A),
        opts(compare=Compare.CHECKSUM),
        Action.UPDATE_METADATA,
        Code.METADATA_UPDATED,
    ),
    (
        "checksum-equal-mtime-within-window",
        file(md5=MD5_A, mtime_ns=T + SEC),
        file(md5=MD5_A),
        opts(compare=Compare.CHECKSUM, mtime_window_ns=2 * SEC),
        Action.RECORD,
        Code.UNCHANGED_BY_CHECKSUM,
    ),
    (
        "checksum-equal-mode-differs",
        file(md5=MD5_A, mode=0o600),
        file(md5=MD5_A, mode=0o644),
        opts(compare=Compare.CHECKSUM),
        Action.UPDATE_METADATA,
        Code.METADATA_UPDATED,
    ),
    (
        "checksum-equal-mode-differs-not-compared",
        file(md5=MD5_A, mode=0o600),
        file(md5=MD5_A, mode=0o644),
        opts(compare=Compare.CHECKSUM, compare_mode=False),
        Action.RECORD,
        Code.UNCHANGED_BY_CHECKSUM,
    ),
    # -- files, mode and owner -----------------------------------------------------------------
    (
        "mode-differs-compared",
        file(mode=0o600),
        file(mode=0o644),
        opts(compare_mode=True),
        Action.UPDATE_METADATA,
        Code.METADATA_UPDATED,
    ),
    (
        "mode-differs-not-compared",
        file(mode=0o600),
        file(mode=0o644),
        opts(compare_mode=False),
        Action.RECORD,
        Code.UNCHANGED_BY_TIME,
    ),
    (
        "mode-unknown-on-target",
        file(mode=0o600),
        file(mode=None),
        opts(compare_mode=True),
        Action.RECORD,
        Code.UNCHANGED_BY_TIME,
    ),
    (
        "mode-unknown-on-source",
        file(mode=None),
        file(mode=0o600),
        opts(compare_mode=True),
        Action.RECORD,
        Code.UNCHANGED_BY_TIME,
    ),
    (
        "owner-uid-differs-compared",
        file(uid=1000),
        file(uid=1001),
        opts(compare_owner=True),
        Action.UPDATE_METADATA,
        Code.METADATA_UPDATED,
    ),
    (
        "owner-gid-differs-compared",
        file(gid=1000),
        file(gid=1001),
        opts(compare_owner=True),
        Action.UPDATE_METADATA,
        Code.METADATA_UPDATED,
    ),
    (
        "owner-differs-not-compared",
        file(uid=1000, gid=1000),
        file(uid=0, gid=0),
        opts(compare_owner=False),
        Action.RECORD,
        Code.UNCHANGED_BY_TIME,
    ),
    (
        "owner-unknown-on-target",
        file(uid=1000),
        file(uid=None, gid=None),
        opts(compare_owner=True),
        Action.RECORD,
        Code.UNCHANGED_BY_TIME,
    ),
    (
        "owner-same-compared",
        file(),
        file(),
        opts(compare_owner=True),
        Action.RECORD,
        Code.UNCHANGED_BY_TIME,
    ),
    (
        "owner-differs-checksum-compared",
        file(md5=MD5_A, uid=1),
        file(md5=MD5_A, uid=2),
        opts(compare=Compare.CHECKSUM, compare_owner=True),
        Action.UPDATE_METADATA,
        Code.METADATA_UPDATED,
    ),
    (
        "mtime-differs-beats-mode-differs",
        file(mode=0o600, mtime_ns=T + HOUR),
        file(mode=0o644),
        opts(),
        Action.COPY,
        Code.COPIED,
    ),
    # -- directories -----------------------------------------------------------------------
    ("dir-same", folder(), folder(), opts(), Action.ENTER_DIR, Code.UNCHANGED_BY_TIME),
    (
        "dir-same-mirror",
        folder(),
        folder(),
        opts(mode=MIR),
        Action.ENTER_DIR,
        Code.UNCHANGED_BY_TIME,
    ),
    (
        "dir-mtime-differs",
        folder(mtime_ns=T + HOUR),
        folder(),
        opts(),
        Action.ENTER_DIR,
        Code.METADATA_UPDATED,
    ),
    (
        "dir-mtime-within-window",
        folder(mtime_ns=T + SEC),
        folder(),
        opts(mtime_window_ns=SEC),
        Action.ENTER_DIR,
        Code.UNCHANGED_BY_TIME,
    ),
    (
        "dir-mode-differs",
        folder(mode=0o700),
        folder(mode=0o755),
        opts(),
        Action.ENTER_DIR,
        Code.METADATA_UPDATED,
    ),
    (
        "dir-mode-differs-not-compared",
        folder(mode=0o700),
        folder(mode=0o755),
        opts(compare_mode=False),
        Action.ENTER_DIR,
        Code.UNCHANGED_BY_TIME,
    ),
    (
        "dir-owner-differs-compared",
        folder(uid=1),
        folder(uid=2),
        opts(compare_owner=True),
        Action.ENTER_DIR,
        Code.METADATA_UPDATED,
    ),
    (
        "dir-owner-differs-not-compared",
        folder(uid=1),
        folder(uid=2),
        opts(compare_owner=False),
        Action.ENTER_DIR,
        Code.UNCHANGED_BY_TIME,
    ),
    (
        "dir-size-ignored",
        folder(size=4096),
        folder(size=8192),
        opts(),
        Action.ENTER_DIR,
        Code.UNCHANGED_BY_TIME,
    ),
    (
        "dir-checksum-compare-uses-time",
        folder(),
        folder(),
        opts(compare=Compare.CHECKSUM),
        Action.ENTER_DIR,
        Code.UNCHANGED_BY_TIME,
    ),
    # -- symlinks ------------------------------------------------------------------------------
    ("link-same", link(), link(), opts(), Action.RECORD, Code.UNCHANGED_BY_TIME),
    (
        "link-target-differs",
        link(target="a"),
        link(target="b"),
        opts(),
        Action.COPY,
        Code.SYMLINK_COPIED,
    ),
    (
        "link-mtime-differs",
        link(mtime_ns=T + HOUR),
        link(),
        opts(),
        Action.UPDATE_METADATA,
        Code.METADATA_UPDATED,
    ),
    (
        "link-mtime-within-window",
        link(mtime_ns=T + SEC),
        link(),
        opts(mtime_window_ns=SEC),
        Action.RECORD,
        Code.UNCHANGED_BY_TIME,
    ),
    (
        "link-target-differs-checksum-compare",
        link(target="a"),
        link(target="b"),
        opts(compare=Compare.CHECKSUM),
        Action.COPY,
        Code.SYMLINK_COPIED,
    ),
]


@pytest.mark.parametrize(
    ("src", "dst", "options", "action", "code"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_plan_table(
    src: Entry | None,
    dst: Entry | None,
    options: PlanOptions,
    action: Action,
    code: Code | None,
) -> None:
    decision = plan(src, dst, options)
    assert (decision.action, decision.code) == (action, code)


def test_case_ids_are_unique() -> None:
    ids = [case[0] for case in CASES]
    assert len(ids) == len(set(ids))


def test_plan_needs_an_entry() -> None:
    with pytest.raises(ValueError, match="source or a target"):
        plan(None, None, PlanOptions())


def test_default_options() -> None:
    default = PlanOptions()
    assert default.mode is CopyMode.ADDITIVE
    assert default.compare is Compare.TIME
    assert default.compare_mode is True
    assert default.compare_owner is False
    assert default.target_symlinks is True
    assert default.naming is None
    assert default.filter.active is False


def test_kind_conflict_details_name_the_target_kind() -> None:
    additive = plan(file("x"), folder("x"), opts(mode=ADD))
    assert "dir" in additive.detail
    mirror = plan(folder("x"), link("x"), opts(mode=MIR))
    assert "symlink" in mirror.detail


def test_naming_problem_detail_is_passed_through() -> None:
    decision = plan(file("d/" + "é" * 128), None, opts(naming=POSIX))
    assert decision.code is Code.NAME_TOO_LONG
    assert "256" in decision.detail


# -- excluded target items are never deleted (docs/design.md §4.4) -------------------------------
#
# A Mirror kind conflict deletes the target item before copying. When the *target* item is one
# the filters exclude, deleting it breaks "excluded paths are never deleted on the target".

REPLACE_OF_EXCLUDED_TARGET = [
    pytest.param(
        file("build"),
        folder("build"),
        flt(exclude=("build/",)),
        id="dirs-only-exclude-target-dir",
    ),
    pytest.param(
        folder("data"),
        file("data"),
        flt(include=("*.txt",)),
        id="target-file-not-included",
    ),
    pytest.param(
        folder("big"),
        file("big", size=10_000),
        flt(max_size=100),
        id="target-file-too-big",
    ),
    pytest.param(
        folder("old"),
        file("old", mtime_ns=NOW - 48 * HOUR),
        flt(max_age_ns=24 * HOUR),
        id="target-file-too-old",
    ),
]


@pytest.mark.parametrize(("src", "dst", "the_filter"), REPLACE_OF_EXCLUDED_TARGET)
def test_mirror_never_replaces_an_excluded_target_item(
    src: Entry, dst: Entry, the_filter: Filter
) -> None:
    assert the_filter.check(src) is None
    assert the_filter.check(dst) is not None
    decision = plan(src, dst, opts(mode=MIR, filter=the_filter))
    assert decision.action not in (Action.DELETE, Action.REPLACE)


# -- properties --------------------------------------------------------------------------------

HEX = "0123456789abcdef"
COMPONENTS = [
    "a",
    "b.txt",
    "c.tmp",
    ".hidden",
    "build",
    "x" * 9,
    "a\\b",
    "..",
    ".ferry-" + "0" * 20 + ".partial",
]
PATTERNS = ["*.txt", "*.tmp", "build/", "/a", "a/**", "**/b.txt", ".*", "?", "{a,build}"]

paths = st.lists(st.sampled_from(COMPONENTS), min_size=1, max_size=3).map("/".join)
kinds = st.sampled_from(list(EntryKind))
non_special_kinds = st.sampled_from([k for k in EntryKind if k is not EntryKind.SPECIAL])
sizes = st.sampled_from([0, 10, 11, 10_000])
mtimes = st.sampled_from([T, T + 1, T + SEC, T - SEC, T + HOUR, NOW - 48 * HOUR, NOW + HOUR])
modes = st.sampled_from([None, 0o644, 0o600, 0o755])
ids = st.sampled_from([None, 0, 1000])
md5s = st.sampled_from([None, MD5_A, MD5_B])
link_targets = st.sampled_from([None, "a", "b"])
pattern_lists = st.lists(st.sampled_from(PATTERNS), max_size=2).map(tuple)


def entries(path: str, kind: EntryKind | None = None) -> st.SearchStrategy[Entry]:
    def build(
        the_kind: EntryKind,
        size: int,
        mtime_ns: int,
        mode: int | None,
        uid: int | None,
        gid: int | None,
        md5: str | None,
        link_target: str | None,
    ) -> Entry:
        symlink = the_kind is EntryKind.SYMLINK
        return Entry(
            path,
            the_kind,
            size=size,
            mtime_ns=mtime_ns,
            mode=mode,
            uid=uid,
            gid=gid,
            md5=md5,
            link_target=link_target if symlink else None,
        )

    the_kinds = kinds if kind is None else st.just(kind)
    return st.builds(build, the_kinds, sizes, mtimes, modes, ids, ids, md5s, link_targets)


filters = st.builds(
    FilterRules,
    include=pattern_lists,
    exclude=pattern_lists,
    min_size=st.sampled_from([None, 1, 11]),
    max_size=st.sampled_from([None, 10, 100]),
    min_age_ns=st.sampled_from([None, HOUR]),
    max_age_ns=st.sampled_from([None, 24 * HOUR]),
    exclude_hidden=st.booleans(),
).map(lambda rules: Filter(rules, NOW))

plan_options = st.builds(
    PlanOptions,
    mode=st.sampled_from(list(CopyMode)),
    compare=st.sampled_from(list(Compare)),
    mtime_window_ns=st.sampled_from([0, 1, SEC, 2 * HOUR]),
    compare_mode=st.booleans(),
    compare_owner=st.booleans(),
    target_symlinks=st.booleans(),
    naming=st.sampled_from([None, POSIX, TINY_NAMES]),
    filter=filters,
)
which_sides = st.sampled_from(["both", "src", "dst"])


@st.composite
def pairs(draw: st.DrawFn) -> tuple[Entry | None, Entry | None]:
    path = draw(paths)
    which = draw(which_sides)
    src = draw(entries(path)) if which in ("both", "src") else None
    dst = draw(entries(path)) if which in ("both", "dst") else None
    return src, dst


@st.composite
def conflicting_pairs(draw: st.DrawFn) -> tuple[Entry, Entry]:
    """A source and a target entry of different kinds at the same path."""
    path = draw(paths)
    src_kind, dst_kind = draw(st.permutations(list(EntryKind)))[:2]
    return draw(entries(path, src_kind)), draw(entries(path, dst_kind))


any_pairs = st.one_of(pairs(), conflicting_pairs())
target_only = paths.flatmap(entries)

EXPECTED_RESULTS: dict[Action, set[Result]] = {
    Action.RECORD: {Result.EXCLUDED, Result.UNSUPPORTED, Result.NO_TRANSFER_NEEDED, Result.FAILED},
    Action.COPY: {Result.TRANSFERRED},
    Action.CREATE_DIR: {Result.TRANSFERRED},
    Action.UPDATE_METADATA: {Result.TRANSFERRED},
    Action.REPLACE: {Result.TRANSFERRED},
    Action.DELETE: {Result.DELETED},
    Action.ENTER_DIR: {Result.NO_TRANSFER_NEEDED, Result.TRANSFERRED},
}

PROPERTY = settings(max_examples=200, deadline=None)


@PROPERTY
@given(any_pairs, plan_options)
def test_additive_never_deletes_or_replaces(
    pair: tuple[Entry | None, Entry | None], options: PlanOptions
) -> None:
    additive = dataclasses.replace(options, mode=CopyMode.ADDITIVE)
    decision = plan(*pair, additive)
    assert decision.action not in (Action.DELETE, Action.REPLACE)
    assert decision.code not in (Code.DELETED, Code.REPLACED, Code.DELETED_FOR_REPLACEMENT)


@PROPERTY
@given(target_only, plan_options)
def test_target_only_excluded_item_is_never_deleted(dst: Entry, options: PlanOptions) -> None:
    decision = plan(None, dst, options)
    if options.filter.check(dst) is not None:
        assert decision == Decision(Action.KEEP)
    elif options.mode is CopyMode.MIRROR:
        assert decision == Decision(Action.DELETE, Code.DELETED)
    else:
        assert decision == Decision(Action.KEEP)


@PROPERTY
@given(any_pairs, plan_options)
@example(
    pair=(file("build"), folder("build")),
    options=opts(mode=MIR, filter=flt(exclude=("build/",))),
)
def test_never_deletes_an_item_the_filter_excludes(
    pair: tuple[Entry | None, Entry | None], options: PlanOptions
) -> None:
    """Neither a Mirror delete nor a Mirror replace may remove an excluded target item."""
    src, dst = pair
    decision = plan(src, dst, options)
    if decision.action in (Action.DELETE, Action.REPLACE):
        assert dst is not None
        assert options.filter.check(dst) is None, (src, dst, options.filter.rules, decision)


@PROPERTY
@given(any_pairs, plan_options)
def test_excluded_source_is_recorded_with_the_filter_code(
    pair: tuple[Entry | None, Entry | None], options: PlanOptions
) -> None:
    src, dst = pair
    excluded = None if src is None else options.filter.check(src)
    decision = plan(src, dst, options)
    if excluded is not None:
        assert decision == Decision(Action.RECORD, excluded)
    else:
        assert decision.code is None or decision.code.result is not Result.EXCLUDED


@PROPERTY
@given(
    st.data(),
    paths,
    non_special_kinds,
    plan_options,
)
def test_identical_entries_need_no_transfer(
    data: st.DataObject, path: str, kind: EntryKind, options: PlanOptions
) -> None:
    assume(options.naming is None or options.naming.check(path) is None)
    entry = data.draw(entries(path, kind))
    if options.compare is Compare.CHECKSUM and kind is EntryKind.FILE:
        assume(entry.md5 is not None)  # a missing MD5 is copied; see the table
    twin = dataclasses.replace(entry)
    decision = plan(entry, twin, options)
    assert decision.action not in (Action.COPY, Action.REPLACE, Action.DELETE)
    assert decision.action in (Action.RECORD, Action.ENTER_DIR)
    assert decision.code is not None
    unsupported_link = kind is EntryKind.SYMLINK and not options.target_symlinks
    if options.filter.check(entry) is None and not unsupported_link:
        assert decision.code.result is Result.NO_TRANSFER_NEEDED


@PROPERTY
@given(target_only, plan_options)
def test_without_source_only_keep_or_delete(dst: Entry, options: PlanOptions) -> None:
    decision = plan(None, dst, options)
    assert decision.action in (Action.KEEP, Action.DELETE)


@PROPERTY
@given(any_pairs, plan_options)
def test_code_result_matches_action(
    pair: tuple[Entry | None, Entry | None], options: PlanOptions
) -> None:
    decision = plan(*pair, options)
    if decision.action is Action.KEEP:
        assert decision.code is None
        return
    assert decision.code is not None
    assert decision.code.result in EXPECTED_RESULTS[decision.action]


@PROPERTY
@given(any_pairs, plan_options)
def test_plan_is_deterministic(
    pair: tuple[Entry | None, Entry | None], options: PlanOptions
) -> None:
    first = plan(*pair, options)
    assert plan(*pair, options) == first
    fresh = dataclasses.replace(options, filter=Filter(options.filter.rules, NOW))
    src, dst = pair
    copies = (
        None if src is None else dataclasses.replace(src),
        None if dst is None else dataclasses.replace(dst),
    )
    assert plan(*copies, fresh) == first


@PROPERTY
@given(conflicting_pairs(), plan_options)
def test_kind_conflict_is_failed_in_additive_and_replaced_in_mirror(
    pair: tuple[Entry, Entry], options: PlanOptions
) -> None:
    src, dst = pair
    if options.filter.check(dst) is not None:
        return  # see test_mirror_never_replaces_an_excluded_target_item
    decision = plan(src, dst, options)
    recorded = decision.code.result if decision.code is not None else None
    if decision.action is Action.RECORD and recorded in (Result.EXCLUDED, Result.UNSUPPORTED):
        return
    if options.mode is CopyMode.MIRROR:
        assert decision == Decision(Action.REPLACE, Code.REPLACED, decision.detail)
    else:
        assert decision == Decision(Action.RECORD, Code.KIND_CONFLICT, decision.detail)
