"""The target naming profiles blob, s3, windows, sharepoint and posix
(``ferry.storage.naming``, docs/design.md §3.7), and how the planner reports them."""

from __future__ import annotations

import dataclasses
import ntpath
import posixpath
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ferry.engine.codes import Code, Result
from ferry.engine.plan import _NAME_CODES, Action, CopyMode, PlanOptions, plan
from ferry.storage.entry import Entry, EntryKind
from ferry.storage.naming import (
    BLOB,
    CONTROL_CHARACTERS,
    POSIX,
    PROFILES,
    S3,
    SHAREPOINT,
    WINDOWS,
    LengthUnit,
    NameProblem,
    NamingProfile,
    profile_by_name,
)

PROPERTY = settings(max_examples=200, deadline=None)
GIB = 1024**3
TIB = 1024**4
KEY = "0123456789abcdef0123"
EMOJI = "\U0001f600"  # outside the BMP: 1 code point, 2 UTF-16 code units, 4 UTF-8 bytes

INVALID = NameProblem.INVALID_CHARACTER
RESERVED = NameProblem.RESERVED_NAME
NAME_LONG = NameProblem.NAME_TOO_LONG
PATH_LONG = NameProblem.PATH_TOO_LONG
DEEP = NameProblem.TOO_DEEP


def pid(value: object) -> str | None:
    return value.name if isinstance(value, NamingProfile) else None


def problem(profile: NamingProfile, path: str) -> NameProblem | None:
    found = profile.check(path)
    return None if found is None else found[0]


def leaf_problem(profile: NamingProfile, path: str) -> NameProblem | None:
    found = profile.check_leaf(path)
    return None if found is None else found[0]


def expect(profile: NamingProfile, path: str, expected: NameProblem | None) -> None:
    """``check`` finds ``expected``; when every ancestor directory passes, ``check_leaf``
    must say exactly the same."""
    assert problem(profile, path) is expected, profile.check(path)
    components = path.split("/")
    ancestors = ["/".join(components[:i]) for i in range(1, len(components))]
    if all(profile.check(a) is None for a in ancestors):
        assert profile.check_leaf(path) == profile.check(path)


def deep(depth: int) -> str:
    return "/".join(["a"] * depth)


def long_path(units: int, tail: str = "") -> str:
    """A path of exactly ``units`` code points, made of valid 100-character components and
    ending with ``tail``."""
    body = (("p" * 100 + "/") * (units // 101 + 1))[: units - len(tail)]
    path = body.rstrip("/") + tail
    while len(path) < units:  # the strip removed a trailing slash: pad the last component
        path = path[: -len(tail) or None] + "q" + tail
    assert len(path) == units, (len(path), units)
    assert "//" not in path and not path.startswith("/")
    return path


# -- the registry -----------------------------------------------------------------------------


def test_profiles_and_lookup() -> None:
    assert [p.name for p in PROFILES] == ["blob", "posix", "s3", "sharepoint", "windows"]
    for profile in PROFILES:
        assert profile_by_name(profile.name) is profile
        assert profile_by_name(profile.name.upper()) is profile
    assert profile_by_name(" SharePoint ") is SHAREPOINT


@pytest.mark.parametrize("name", ["", "smb", "azure", "ntfs", "posix2", "blob/"])
def test_unknown_profile_is_a_clear_error(name: str) -> None:
    with pytest.raises(ValueError, match="unknown naming profile") as raised:
        profile_by_name(name)
    for known in ("blob", "posix", "s3", "sharepoint", "windows"):
        assert known in str(raised.value)


@pytest.mark.parametrize(
    ("profile", "component", "path", "depth", "unit", "case_insensitive", "max_file"),
    [
        (POSIX, 255, 4095, 2048, LengthUnit.BYTES, False, None),
        (BLOB, 1024, 1024, 254, LengthUnit.UTF16, False, 50_000 * 4000 * 1024**2),
        (S3, 1024, 1024, 512, LengthUnit.BYTES, False, 5 * TIB),
        (WINDOWS, 255, 2048, 250, LengthUnit.UTF16, True, 4 * TIB),
        (SHAREPOINT, 399, 399, 200, LengthUnit.UTF16, True, 250 * GIB),
    ],
    ids=pid,
)
def test_profile_limits(
    profile: NamingProfile,
    component: int,
    path: int,
    depth: int,
    unit: LengthUnit,
    case_insensitive: bool,
    max_file: int | None,
) -> None:
    assert (
        profile.max_component_bytes,
        profile.max_path_bytes,
        profile.max_depth,
        profile.unit,
        profile.case_insensitive,
        profile.max_file_bytes,
    ) == (component, path, depth, unit, case_insensitive, max_file)


def test_block_blob_limit_is_about_190_7_tib() -> None:
    assert BLOB.max_file_bytes is not None
    assert round(BLOB.max_file_bytes / TIB, 1) == 190.7


def test_reserved_data_must_be_folded() -> None:
    with pytest.raises(ValueError, match="folded"):
        NamingProfile("bad", 10, 10, 3, reserved_names=frozenset({"CON"}), case_insensitive=True)
    with pytest.raises(ValueError, match="non-empty"):
        NamingProfile("bad", 10, 10, 3, reserved_prefixes=("",))


def test_profiles_are_values() -> None:
    assert dataclasses.replace(WINDOWS) == WINDOWS
    assert hash(dataclasses.replace(BLOB)) == hash(BLOB)
    tiny = dataclasses.replace(WINDOWS, max_depth=2)
    assert problem(tiny, "a/b/c") is DEEP
    assert problem(tiny, "con") is RESERVED  # the rules travel with the copy


@pytest.mark.parametrize(
    ("unit", "text", "size"),
    [
        (LengthUnit.BYTES, "abc", 3),
        (LengthUnit.BYTES, "é", 2),
        (LengthUnit.BYTES, "文", 3),
        (LengthUnit.BYTES, EMOJI, 4),
        (LengthUnit.BYTES, "\udce9", 1),
        (LengthUnit.UTF16, "abc", 3),
        (LengthUnit.UTF16, "é", 1),
        (LengthUnit.UTF16, "文", 1),
        (LengthUnit.UTF16, EMOJI, 2),
        (LengthUnit.UTF16, "a/" + EMOJI * 2, 6),
    ],
)
def test_length_units(unit: LengthUnit, text: str, size: int) -> None:
    assert unit.measure(text) == size


# -- rules every profile keeps ----------------------------------------------------------------

NOT_NAMES = [
    "",
    ".",
    "..",
    "a/./b",
    "a/../b",
    "../etc/passwd",
    "a/..",
    "/etc/passwd",
    "a/",
    "a//b",
    "a\x00b",
    "d/\x00",
    "a\\b",
    "..\\..\\windows",
    "\\",
]


@pytest.mark.parametrize("profile", PROFILES, ids=pid)
@pytest.mark.parametrize("path", NOT_NAMES)
def test_never_a_name(profile: NamingProfile, path: str) -> None:
    found = profile.check(path)
    assert found is not None
    assert found[0] is INVALID
    assert "not a name" in found[1]


@pytest.mark.parametrize("profile", PROFILES, ids=pid)
@pytest.mark.parametrize("name", [f".ferry-{KEY}.partial", f".ferry-{KEY}.parts"])
def test_ferry_partial_names_are_reserved_everywhere(profile: NamingProfile, name: str) -> None:
    for path in (name, f"d/{name}", f"d/{name}/x"):
        found = profile.check(path)
        assert found is not None
        assert found[0] is RESERVED
        assert "Ferry" in found[1]
    assert leaf_problem(profile, f"d/{name}") is RESERVED


@pytest.mark.parametrize("profile", PROFILES, ids=pid)
def test_ferry_partial_names_in_other_case(profile: NamingProfile) -> None:
    """On a case-insensitive target an upper-case twin *is* Ferry's partial file."""
    name = f".FERRY-{KEY.upper()}.PARTIAL"
    expected = RESERVED if profile.case_insensitive else None
    expect(profile, name, expected)


@pytest.mark.parametrize("profile", PROFILES, ids=pid)
def test_plain_names_are_fine(profile: NamingProfile) -> None:
    for path in ("a", "a/b/c.txt", ".hidden", "Dir With Spaces/x", "ünïcødé 文件.txt", EMOJI):
        expect(profile, path, None)


# -- blob -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("a.txt", None),
        ("a b ", None),  # spaces are fine on blob
        (" a", None),
        ("con", None),
        ("con.txt", None),
        ('a:b*c?"<>|', None),
        ("~$x/_vti_/forms", None),
        ("\xa0", None),  # NO-BREAK SPACE is not a control character
        ("\ue000", None),
        ("Aa/aA", None),
        ("a.", INVALID),
        ("a./b", INVALID),  # Azure strips the dot of every segment
        ("d/...", INVALID),
        ("d/a..", INVALID),
        (".a", None),
        ("a.b", None),
        ("a\x01", INVALID),
        ("a\x1f", INVALID),
        ("a\x7f", INVALID),
        ("a\x81", INVALID),
        ("a\x9f", INVALID),
        ("a\n", INVALID),
        ("latin1-\udce9t\udce9", INVALID),
        ("a\ufffe", INVALID),
        ("a\uffff", INVALID),
    ],
)
def test_blob_characters(path: str, expected: NameProblem | None) -> None:
    expect(BLOB, path, expected)


def test_blob_details() -> None:
    assert BLOB.check("d/a.") == (INVALID, "'a.' ends with a dot")
    assert BLOB.check("\x01") == (INVALID, "control character U+0001 is not allowed")
    assert BLOB.check("x\udce9") == (INVALID, "the source name is not valid UTF-8 (U+DCE9)")
    assert BLOB.check("\uffff") == (INVALID, "U+FFFF is not a Unicode character")


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("n" * 1024, None),
        ("n" * 1025, NAME_LONG),
        ("é" * 1024, None),  # 2048 bytes, but 1024 characters
        (EMOJI * 512, None),
        (EMOJI * 512 + "n", NAME_LONG),  # 513 code points, 1025 UTF-16 code units
        (long_path(1024), None),
        (long_path(1025), PATH_LONG),
        (long_path(1023, "/" + EMOJI), None),  # 1024 UTF-16 code units
        (long_path(1024, "/" + EMOJI), PATH_LONG),  # 1024 code points, 1025 code units
        (deep(254), None),
        (deep(255), DEEP),
        (deep(254) + "/", DEEP),  # a trailing slash adds an empty segment
        (deep(253) + "/", INVALID),
    ],
)
def test_blob_lengths(path: str, expected: NameProblem | None) -> None:
    expect(BLOB, path, expected)


def test_blob_length_detail() -> None:
    assert BLOB.check(EMOJI * 513) == (NAME_LONG, "1026 UTF-16 code units, limit 1024")
    assert BLOB.check(long_path(1025)) == (PATH_LONG, "1025 UTF-16 code units, limit 1024")
    assert BLOB.check(deep(255)) == (DEEP, "255 levels, limit 254")


# -- s3 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("a.", None),  # no trailing-dot rule on S3
        ("...", None),
        ("a ", None),
        (" a", None),
        ("con", None),
        ('a:b*c?"<>|', None),
        ("~$x/_vti_/forms", None),
        ("\xa0", None),
        ("a\x01", INVALID),
        ("a\t", INVALID),
        ("a\x7f", INVALID),
        ("a\x85", INVALID),
        ("latin1-\udce9", INVALID),
        ("a\ufffe", INVALID),
    ],
)
def test_s3_characters(path: str, expected: NameProblem | None) -> None:
    expect(S3, path, expected)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("n" * 1024, None),
        ("n" * 1025, NAME_LONG),
        ("é" * 512, None),  # 1024 bytes
        ("é" * 512 + "n", NAME_LONG),  # 513 characters, 1025 bytes
        (EMOJI * 256, None),
        (EMOJI * 256 + "n", NAME_LONG),
        (long_path(1024), None),
        (long_path(1025), PATH_LONG),
        (long_path(1021, "/" + EMOJI), None),  # 1024 bytes
        (long_path(1022, "/" + EMOJI), PATH_LONG),  # 1022 code points, 1025 bytes
        (deep(512), None),
        (deep(513), DEEP),
    ],
)
def test_s3_lengths(path: str, expected: NameProblem | None) -> None:
    expect(S3, path, expected)


def test_s3_counts_bytes() -> None:
    assert S3.check("é" * 513) == (NAME_LONG, "1026 bytes, limit 1024")
    assert S3.check(long_path(1025)) == (PATH_LONG, "1025 bytes, limit 1024")


# -- windows (SMB, Azure Files limits) --------------------------------------------------------


@pytest.mark.parametrize("char", list('"*:<>?|'))
def test_windows_invalid_characters(char: str) -> None:
    detail = f"character {char!r} is not allowed"
    for path in (f"a{char}b", char, f"d/x{char}"):
        assert WINDOWS.check(path) == (INVALID, detail), path
        assert WINDOWS.check_leaf(path) == (INVALID, detail), path
    assert WINDOWS.check(f"{char}/x") == (INVALID, detail)
    assert WINDOWS.check_leaf(f"{char}/x") is None  # the walk already checked the parent


@pytest.mark.parametrize("char", sorted(CONTROL_CHARACTERS - {"\x00"}))
def test_windows_and_sharepoint_refuse_control_characters(char: str) -> None:
    for profile in (WINDOWS, SHAREPOINT, BLOB, S3):
        expect(profile, f"a{char}b", INVALID)
    expect(POSIX, f"a{char}b", None)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("a.", INVALID),
        ("a..", INVALID),
        ("...", INVALID),  # Win32 would strip it to nothing: the directory itself
        ("a ", INVALID),
        (" ", INVALID),
        ("a. ", INVALID),
        ("d/a./x", INVALID),
        (" a", None),  # a leading space is legal on Windows
        ("a b", None),
        (".a", None),
        ("a.b", None),
        ("\xa0", None),
        ("\ue000", None),
        ("latin1-\udce9", INVALID),
    ],
)
def test_windows_trailing_dot_and_space(path: str, expected: NameProblem | None) -> None:
    expect(WINDOWS, path, expected)


def test_windows_trailing_details() -> None:
    assert WINDOWS.check("a.") == (INVALID, "'a.' ends with a dot")
    assert WINDOWS.check("a ") == (INVALID, "'a ' ends with a space")


DEVICE_NAMES = [
    "CON",
    "PRN",
    "AUX",
    "NUL",
    *(f"COM{d}" for d in "0123456789"),
    *(f"LPT{d}" for d in "0123456789"),
    "COM\u00b9",
    "COM\u00b2",
    "COM\u00b3",
    "LPT\u00b9",
    "LPT\u00b2",
    "LPT\u00b3",
    "CLOCK$",
]


@pytest.mark.parametrize("device", DEVICE_NAMES)
def test_windows_device_names(device: str) -> None:
    for name in (device, device.lower(), device.title(), f"{device}.txt", f"{device}.tar.gz"):
        for path in (name, f"d/{name}", f"{name}/x", f"d/{name.lower()} .txt"):
            found = WINDOWS.check(path)
            assert found is not None and found[0] is RESERVED, path
            assert "reserved device name" in found[1]


@pytest.mark.parametrize(
    "name",
    ["console", "com10", "lpt", "com", "xcon", "con_x", "nul2", ".con", "a.con", "auxiliary"],
)
def test_windows_names_like_devices_are_fine(name: str) -> None:
    expect(WINDOWS, name, None)
    expect(WINDOWS, f"d/{name}", None)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("n" * 255, None),
        ("n" * 256, NAME_LONG),
        ("é" * 255, None),  # 510 bytes, 255 characters
        ("文" * 255, None),
        (EMOJI * 127 + "n", None),  # 255 UTF-16 code units
        (EMOJI * 128, NAME_LONG),  # 128 code points, 256 UTF-16 code units
        (long_path(2048), None),
        (long_path(2049), PATH_LONG),
        (long_path(2047, "/" + EMOJI), None),  # 2048 UTF-16 code units
        (long_path(2048, "/" + EMOJI), PATH_LONG),  # 2048 code points, 2049 code units
        (deep(250), None),
        (deep(251), DEEP),
    ],
)
def test_windows_lengths(path: str, expected: NameProblem | None) -> None:
    expect(WINDOWS, path, expected)


def test_windows_length_detail() -> None:
    assert WINDOWS.check("d/" + EMOJI * 128) == (NAME_LONG, "256 UTF-16 code units, limit 255")


# -- sharepoint -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        *((f"a{c}b", INVALID) for c in '"*:<>?|'),
        ("a\x7f", INVALID),
        ("a\x01", INVALID),
        (" a", INVALID),
        ("a ", INVALID),
        (" ", INVALID),
        ("d/ a/x", INVALID),
        ("a b", None),
        ("a.", None),  # no trailing-dot rule in §2.3
        ("...", None),
        ("latin1-\udce9", INVALID),
        ("#%&{}~", None),  # only SharePoint Server 2013 refuses these
    ],
)
def test_sharepoint_characters(path: str, expected: NameProblem | None) -> None:
    expect(SHAREPOINT, path, expected)


def test_sharepoint_space_details() -> None:
    assert SHAREPOINT.check(" a") == (INVALID, "' a' starts with a space")
    assert SHAREPOINT.check("a ") == (INVALID, "'a ' ends with a space")


@pytest.mark.parametrize(
    "name",
    [
        ".lock",
        ".LOCK",
        "con",
        "CON",
        "prn",
        "aux",
        "Nul",
        *(f"com{d}" for d in "0123456789"),
        *(f"LPT{d}" for d in "0123456789"),
        "desktop.ini",
        "Desktop.INI",
        "~$report.docx",
        "~$",
        "_vti_",
        "a_vti_b",
        "x_VTI_y.txt",
        "_vti_cnf",
    ],
)
def test_sharepoint_reserved_names(name: str) -> None:
    for path in (name, f"d/{name}", f"d/e/{name}"):
        expect(SHAREPOINT, path, RESERVED)
        found = SHAREPOINT.check(path)
        assert found is not None and "sharepoint" in found[1]
    assert problem(SHAREPOINT, f"{name}/x") is RESERVED


@pytest.mark.parametrize(
    "name",
    [
        "con.txt",  # Microsoft lists the bare names only
        "a.lock",
        ".lock.txt",
        "x~$y",
        "~x",
        "desktop.ini.bak",
        "vti",
        "_vti",
        "formsx",
        "com10",
    ],
)
def test_sharepoint_names_that_are_fine(name: str) -> None:
    expect(SHAREPOINT, name, None)
    expect(SHAREPOINT, f"d/{name}", None)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("forms", RESERVED),
        ("Forms", RESERVED),
        ("FORMS", RESERVED),
        ("d/forms", None),
        ("d/Forms/x", None),
        ("forms.txt", None),
    ],
)
def test_sharepoint_forms_only_at_the_root(path: str, expected: NameProblem | None) -> None:
    expect(SHAREPOINT, path, expected)
    assert problem(SHAREPOINT, "forms/x.txt") is RESERVED


def test_sharepoint_forms_detail_and_check_leaf() -> None:
    found = SHAREPOINT.check("Forms")
    assert found == (RESERVED, "'Forms' is reserved at the root of the target on sharepoint")
    assert SHAREPOINT.check_leaf("Forms") == found
    assert SHAREPOINT.check_leaf("forms/x") is None  # the walk already checked the parent


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (long_path(399), None),
        (long_path(400), PATH_LONG),
        (long_path(398, "/" + EMOJI), None),  # 399 UTF-16 code units
        (long_path(399, "/" + EMOJI), PATH_LONG),  # 399 code points, 400 code units
        ("n" * 399, None),
        ("n" * 400, NAME_LONG),
        (deep(200), None),
        (deep(201), DEEP),
    ],
)
def test_sharepoint_lengths(path: str, expected: NameProblem | None) -> None:
    expect(SHAREPOINT, path, expected)


def test_sharepoint_path_detail() -> None:
    assert SHAREPOINT.check(long_path(400)) == (PATH_LONG, "400 UTF-16 code units, limit 399")


# -- file sizes -------------------------------------------------------------------------------


@pytest.mark.parametrize("profile", [p for p in PROFILES if p.max_file_bytes is not None], ids=pid)
def test_file_size_limits(profile: NamingProfile) -> None:
    limit = profile.max_file_bytes
    assert limit is not None
    assert profile.check_size(0) is None
    assert profile.check_size(limit) is None
    assert profile.check_size(limit + 1) == (
        NameProblem.TOO_LARGE,
        f"{limit + 1} bytes, limit {limit}",
    )


def test_posix_has_no_file_size_limit() -> None:
    assert POSIX.check_size(2**80) is None


# -- case folding -----------------------------------------------------------------------------


@pytest.mark.parametrize("profile", [BLOB, S3, POSIX], ids=pid)
def test_case_sensitive_fold_is_the_name(profile: NamingProfile) -> None:
    for name in ("ABC", "abc", "Straße", "\u0131", "\udce9"):
        assert profile.fold(name) == name


@pytest.mark.parametrize("profile", [WINDOWS, SHAREPOINT], ids=pid)
@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("ABC.txt", "abc.TXT", True),
        ("Straße", "STRASSE", True),
        ("\u0131", "I", True),  # dotless i: NTFS upper-cases it to I
        ("\u0131", "i", True),
        ("\u03a3", "\u03c2", True),  # capital sigma and final sigma
        ("\u212a", "k", True),  # KELVIN SIGN
        ("\u00e9", "\u00c9", True),
        ("\u00e9", "e", False),
        ("\u00e9", "e\u0301", False),  # no normalization: NFC and NFD stay distinct
        ("a", "b", False),
    ],
)
def test_case_insensitive_fold(profile: NamingProfile, a: str, b: str, same: bool) -> None:
    assert (profile.fold(a) == profile.fold(b)) is same


@PROPERTY
@given(st.text(max_size=12))
def test_fold_is_coarser_than_casefold_and_upper(text: str) -> None:
    fold = WINDOWS.fold
    assert fold(fold(text)) == fold(text)
    assert fold(text.casefold()) == fold(text)
    assert fold(text.upper()) == fold(text)
    assert fold(text.lower()) == fold(text)


# -- properties -------------------------------------------------------------------------------

PIECES = [
    "a",
    "B",
    "é",
    EMOJI,
    ".",
    "..",
    "...",
    "/",
    "\\",
    "\x00",
    "\x01",
    " ",
    ":",
    "\udce9",
    "con",
    "forms",
    "~$",
    "_vti_",
    ".lock",
]


def _resolves_inside(path: str, profile: NamingProfile) -> None:
    root = "/target/root"
    resolved = posixpath.normpath(posixpath.join(root, path))
    assert resolved == f"{root}/{path}"
    components = path.split("/")
    assert all(c not in ("", ".", "..") for c in components)
    assert "\x00" not in path and "\\" not in path
    if profile.no_trailing_dot and profile.no_trailing_space:
        # What Win32 makes of the name: trailing dots and spaces stripped, '\' separators.
        stripped = [c.rstrip(". ") for c in components]
        assert all(c not in ("", ".", "..") for c in stripped)
        win_root = "C:\\target\\root"
        win = ntpath.normpath(ntpath.join(win_root, "\\".join(stripped)))
        assert win.startswith(win_root + "\\")
    if profile.no_trailing_dot:
        assert all(c.rstrip(".") for c in components)  # Azure's dot stripping empties nothing
    if profile.unicode_only:
        path.encode("utf-8")  # no lone surrogates
        assert not set(path) & CONTROL_CHARACTERS


@PROPERTY
@given(st.lists(st.sampled_from(PIECES), max_size=10).map("".join), st.sampled_from(PROFILES))
def test_accepted_paths_stay_inside_the_root(path: str, profile: NamingProfile) -> None:
    """No name any profile accepts may resolve outside the target root or hold a separator."""
    if profile.check(path) is None:
        _resolves_inside(path, profile)
        assert profile.check_leaf(path) is None


COMPONENTS = [
    "a",
    "B",
    "con",
    "CON.txt",
    "forms",
    "~$x",
    "x_vti_",
    "a.",
    "a ",
    " a",
    "...",
    ".",
    "..",
    "",
    "a\\b",
    "a\x00",
    "é" * 3,
    EMOJI * 3,
    "\udce9",
    "\x01",
    ":",
    "n" * 6,
    ".lock",
    f".ferry-{KEY}.partial",
    f".FERRY-{KEY.upper()}.PARTS",
]


def _tiny(profile: NamingProfile) -> NamingProfile:
    return dataclasses.replace(profile, max_component_bytes=6, max_path_bytes=14, max_depth=3)


ALL_PROFILES = [*PROFILES, *(_tiny(p) for p in PROFILES)]


@PROPERTY
@given(
    st.lists(st.sampled_from(COMPONENTS), min_size=1, max_size=4),
    st.sampled_from(ALL_PROFILES),
)
def test_check_leaf_agrees_with_check_when_every_parent_passes(
    components: list[str], profile: NamingProfile
) -> None:
    path = "/".join(components)
    ancestors = ["/".join(components[:i]) for i in range(1, len(components))]
    if all(profile.check(a) is None for a in ancestors):
        assert profile.check_leaf(path) == profile.check(path)
    elif profile.check_leaf(path) is not None:
        assert profile.check(path) is not None


@PROPERTY
@given(st.lists(st.sampled_from(COMPONENTS), min_size=1, max_size=4), st.sampled_from(PROFILES))
def test_every_problem_has_a_detail(components: list[str], profile: NamingProfile) -> None:
    found = profile.check("/".join(components))
    if found is not None:
        kind, detail = found
        assert isinstance(kind, NameProblem)
        assert detail and "\n" not in detail


# -- the planner ------------------------------------------------------------------------------

T = 1_600_000_000_000_000_000


def entry(path: str, kind: EntryKind, size: int, **kw: Any) -> Entry:
    return Entry(path, kind, size=size, mtime_ns=T, mode=0o644, **kw)


def test_every_name_problem_has_an_unsupported_code() -> None:
    assert set(_NAME_CODES) == set(NameProblem)
    assert all(code.result is Result.UNSUPPORTED for code in _NAME_CODES.values())
    assert _NAME_CODES[NameProblem.TOO_LARGE] is Code.TOO_LARGE


def test_too_large_code() -> None:
    assert Code.TOO_LARGE.number == 2026
    assert Code.TOO_LARGE.result is Result.UNSUPPORTED


@pytest.mark.parametrize("profile", [p for p in PROFILES if p.max_file_bytes is not None], ids=pid)
def test_plan_oversized_file_is_unsupported(profile: NamingProfile) -> None:
    limit = profile.max_file_bytes
    assert limit is not None
    options = PlanOptions(naming=profile)
    fits = plan(entry("d/f.bin", EntryKind.FILE, limit), None, options)
    assert (fits.action, fits.code) == (Action.COPY, Code.COPIED)
    big = plan(entry("d/f.bin", EntryKind.FILE, limit + 1), None, options)
    assert (big.action, big.code) == (Action.RECORD, Code.TOO_LARGE)
    assert str(limit) in big.detail and str(limit + 1) in big.detail
    # Also when the target already holds a copy, and in Mirror mode.
    dst = entry("d/f.bin", EntryKind.FILE, 10)
    mirror = PlanOptions(naming=profile, mode=CopyMode.MIRROR)
    assert plan(entry("d/f.bin", EntryKind.FILE, limit + 1), dst, mirror).code is Code.TOO_LARGE


def test_plan_sharepoint_250_gb_plus_one() -> None:
    decision = plan(
        entry("d/big.vhdx", EntryKind.FILE, 250 * GIB + 1), None, PlanOptions(naming=SHAREPOINT)
    )
    assert decision.code is Code.TOO_LARGE


@pytest.mark.parametrize("profile", PROFILES, ids=pid)
def test_plan_directories_and_links_are_never_too_large(profile: NamingProfile) -> None:
    options = PlanOptions(naming=profile)
    huge = 2**70
    created = plan(entry("d/sub", EntryKind.DIR, huge), None, options)
    assert (created.action, created.code) == (Action.CREATE_DIR, Code.DIRECTORY_CREATED)
    entered = plan(entry("d/sub", EntryKind.DIR, huge), entry("d/sub", EntryKind.DIR, 0), options)
    assert entered.action is Action.ENTER_DIR
    linked = plan(entry("d/l", EntryKind.SYMLINK, huge, link_target="x"), None, options)
    assert linked.code is Code.SYMLINK_COPIED


def test_plan_posix_never_too_large() -> None:
    decision = plan(entry("d/f", EntryKind.FILE, 2**70), None, PlanOptions(naming=POSIX))
    assert decision.code is Code.COPIED


def test_plan_name_problem_comes_before_size() -> None:
    decision = plan(entry("d/a:b", EntryKind.FILE, 5 * TIB), None, PlanOptions(naming=WINDOWS))
    assert decision.code is Code.INVALID_CHARACTER


@pytest.mark.parametrize(
    ("profile", "path", "code"),
    [
        (WINDOWS, "d/con.txt", Code.RESERVED_NAME),
        (WINDOWS, "d/a.", Code.INVALID_CHARACTER),
        (WINDOWS, "d/" + "n" * 256, Code.NAME_TOO_LONG),
        (BLOB, deep(255), Code.TOO_DEEP),
        (BLOB, "d/a.", Code.INVALID_CHARACTER),
        (S3, "d/" + "é" * 513, Code.NAME_TOO_LONG),
        (SHAREPOINT, "d/~$x.docx", Code.RESERVED_NAME),
        (SHAREPOINT, "forms", Code.RESERVED_NAME),
        (SHAREPOINT, long_path(400), Code.PATH_TOO_LONG),
        (SHAREPOINT, "d/ x", Code.INVALID_CHARACTER),
    ],
    ids=lambda v: v.name if isinstance(v, NamingProfile | Code) else None,
)
def test_plan_reports_profile_problems(profile: NamingProfile, path: str, code: Code) -> None:
    decision = plan(entry(path, EntryKind.FILE, 1), None, PlanOptions(naming=profile))
    assert (decision.action, decision.code) == (Action.RECORD, code)


SIZES = [0, 1, 250 * GIB, 250 * GIB + 1, 4 * TIB + 1, 5 * TIB + 1, 200 * TIB, 2**63]


@PROPERTY
@given(
    st.sampled_from(PROFILES),
    st.sampled_from([k for k in EntryKind if k is not EntryKind.SPECIAL]),
    st.sampled_from(SIZES),
    st.sampled_from(["d/f", "con", "d/a.", "forms", "x"]),
    st.booleans(),
)
def test_plan_too_large_exactly_for_oversized_files(
    profile: NamingProfile, kind: EntryKind, size: int, path: str, has_target: bool
) -> None:
    extra: dict[str, Any] = {"link_target": "t"} if kind is EntryKind.SYMLINK else {}
    src = entry(path, kind, size, **extra)
    dst = entry(path, kind, 0, **extra) if has_target else None
    decision = plan(src, dst, PlanOptions(naming=profile))
    limit = profile.max_file_bytes
    too_large = (
        kind is EntryKind.FILE
        and profile.check(path) is None
        and limit is not None
        and size > limit
    )
    assert (decision.code is Code.TOO_LARGE) is too_large
    if too_large:
        assert decision.action is Action.RECORD


def test_below_a_root_the_whole_name_limits_shrink() -> None:
    inside = BLOB.below("pre/fix")
    assert (inside.max_path_bytes, inside.max_depth) == (1024 - len("pre/fix/"), 254 - 2)
    assert inside.check_leaf("a" * (1024 - 8)) is None
    assert inside.check_leaf("a" * (1024 - 7))[0] is NameProblem.PATH_TOO_LONG  # type: ignore[index]
    assert BLOB.below("") == BLOB
    emoji = WINDOWS.below("\U0001f600")  # counted in UTF-16 code units: 2, and the slash
    assert emoji.max_path_bytes == 2048 - 3


def test_a_staged_store_needs_room_for_the_temporary_name() -> None:
    disk = POSIX.below("/srv", staged=True)
    room = disk.max_path_bytes - disk.staged_name_length  # what the parent may take, slash in
    assert disk.check_staged("d" * (room - 1) + "/x") is None
    problem = disk.check_staged("d" * room + "/x")
    assert problem is not None and problem[0] is NameProblem.PATH_TOO_LONG
    assert "temporary name" in problem[1]
    assert POSIX.below("/srv").check_staged("d" * 5000 + "/x") is None  # not staged
