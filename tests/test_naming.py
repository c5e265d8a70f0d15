"""Target naming profiles, ``ferry.storage.naming`` (docs/design.md §3.7)."""

from __future__ import annotations

import os
import posixpath

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ferry.storage.naming import (
    PARTIAL_KEY_LENGTH,
    PARTIAL_SUFFIXES,
    POSIX,
    NameProblem,
    NamingProfile,
    is_partial_artifact,
)

PROPERTY = settings(max_examples=200, deadline=None)
KEY = "0123456789abcdef0123"
assert len(KEY) == PARTIAL_KEY_LENGTH


def problem(path: str, profile: NamingProfile = POSIX) -> NameProblem | None:
    found = profile.check(path)
    return None if found is None else found[0]


def test_posix_limits() -> None:
    assert POSIX.name == "posix"
    assert POSIX.max_component_bytes == 255
    assert POSIX.max_path_bytes == 4095
    assert POSIX.max_depth == 2048
    assert PARTIAL_SUFFIXES == (".partial", ".parts")


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("a", id="name"),
        pytest.param("a/b/c.txt", id="nested"),
        pytest.param(".hidden", id="hidden"),
        pytest.param("...", id="three-dots"),
        pytest.param(".a", id="dot-prefix"),
        pytest.param("a.", id="trailing-dot"),
        pytest.param("a ", id="trailing-space"),
        pytest.param("con", id="windows-reserved-is-fine"),
        pytest.param('a:b*c?"<>|', id="windows-invalid-is-fine"),
        pytest.param("ünïcødé 文件.txt", id="unicode"),
        pytest.param("latin1-\udce9t\udce9", id="non-utf8"),
        pytest.param("\n\t\x01", id="control-characters"),
        pytest.param(".ferry-", id="ferry-prefix-alone"),
    ],
)
def test_valid_names(path: str) -> None:
    assert POSIX.check(path) is None


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("", id="empty-path"),
        pytest.param(".", id="dot"),
        pytest.param("..", id="dotdot"),
        pytest.param("a/./b", id="inner-dot"),
        pytest.param("a/../b", id="inner-dotdot"),
        pytest.param("../etc/passwd", id="escape-root"),
        pytest.param("a/..", id="trailing-dotdot"),
        pytest.param("/etc/passwd", id="absolute"),
        pytest.param("a/", id="trailing-slash"),
        pytest.param("a//b", id="empty-component"),
        pytest.param("a\x00b", id="nul"),
        pytest.param("d/\x00", id="nul-alone"),
        pytest.param("a\\b", id="backslash"),
        pytest.param("..\\..\\windows", id="backslash-escape"),
        pytest.param("\\", id="backslash-alone"),
    ],
)
def test_invalid_components(path: str) -> None:
    found = POSIX.check(path)
    assert found is not None
    assert found[0] is NameProblem.INVALID_CHARACTER
    assert "not a name" in found[1]


@pytest.mark.parametrize(
    ("component", "expected"),
    [
        pytest.param("n" * 255, None, id="255-ascii"),
        pytest.param("n" * 256, NameProblem.NAME_TOO_LONG, id="256-ascii"),
        pytest.param("é" * 127 + "n", None, id="255-bytes-multibyte"),
        pytest.param("é" * 128, NameProblem.NAME_TOO_LONG, id="256-bytes-128-chars"),
        pytest.param("文" * 85, None, id="255-bytes-cjk"),
        pytest.param("文" * 86, NameProblem.NAME_TOO_LONG, id="258-bytes-86-chars"),
        pytest.param("😀" * 63 + "nnn", None, id="255-bytes-emoji"),
        pytest.param("😀" * 64, NameProblem.NAME_TOO_LONG, id="256-bytes-64-chars"),
        pytest.param("\udce9" * 255, None, id="255-escaped-bytes"),
        pytest.param("\udce9" * 256, NameProblem.NAME_TOO_LONG, id="256-escaped-bytes"),
    ],
)
def test_component_length_counts_bytes(component: str, expected: NameProblem | None) -> None:
    assert problem(component) is expected
    assert problem("dir/" + component + "/x") is expected


def test_name_too_long_detail() -> None:
    found = POSIX.check("a/" + "é" * 128)
    assert found is not None
    assert found[0] is NameProblem.NAME_TOO_LONG
    assert "256 bytes" in found[1]
    assert "255" in found[1]


def long_path(total_bytes: int) -> str:
    """A path of exactly ``total_bytes`` bytes made of valid 200-byte components."""
    path = (("p" * 200 + "/") * (total_bytes // 201 + 1))[:total_bytes]
    assert len(os.fsencode(path)) == total_bytes
    assert not path.endswith("/")
    return path


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        pytest.param(4094, None, id="4094"),
        pytest.param(4095, None, id="4095"),
        pytest.param(4096, NameProblem.PATH_TOO_LONG, id="4096"),
        pytest.param(10_000, NameProblem.PATH_TOO_LONG, id="10000"),
    ],
)
def test_path_length(size: int, expected: NameProblem | None) -> None:
    assert problem(long_path(size)) is expected


def test_path_length_counts_bytes() -> None:
    # 2047 two-byte characters in 21 components of at most 200 bytes: 2067 characters, but
    # 4114 bytes.
    parts = ["é" * 100] * 20 + ["é" * 47]
    path = "/".join(parts)
    assert len(path) < 4096 < len(os.fsencode(path))
    found = POSIX.check(path)
    assert found is not None
    assert found[0] is NameProblem.PATH_TOO_LONG
    assert f"{len(os.fsencode(path))} bytes" in found[1]


@pytest.mark.parametrize(
    ("depth", "expected"),
    [
        pytest.param(1, None, id="1"),
        pytest.param(2047, None, id="2047"),
        pytest.param(2048, None, id="2048"),
        pytest.param(2049, NameProblem.TOO_DEEP, id="2049"),
        pytest.param(5000, NameProblem.TOO_DEEP, id="5000"),
    ],
)
def test_depth(depth: int, expected: NameProblem | None) -> None:
    assert problem("/".join(["a"] * depth)) is expected


def test_too_deep_detail() -> None:
    found = POSIX.check("/".join(["a"] * 2049))
    assert found == (NameProblem.TOO_DEEP, "2049 levels, limit 2048")


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        pytest.param("a/b", None, id="fits"),
        pytest.param("a/b/c", NameProblem.TOO_DEEP, id="too-deep"),
        pytest.param("abcdefghi", NameProblem.NAME_TOO_LONG, id="name-too-long"),
        pytest.param("abcdefg/abcdefg", NameProblem.PATH_TOO_LONG, id="path-too-long"),
        pytest.param("abcdef/abcde", None, id="path-at-limit"),
        pytest.param("../x", NameProblem.INVALID_CHARACTER, id="invalid"),
        # The first problem wins: depth, then each component in order, then the path length.
        pytest.param("a/b/..", NameProblem.TOO_DEEP, id="depth-before-components"),
        pytest.param("..//abcdefghi", NameProblem.TOO_DEEP, id="depth-before-invalid"),
        pytest.param("../abcdefghi", NameProblem.INVALID_CHARACTER, id="first-component-first"),
        pytest.param("abcdefghi/..", NameProblem.NAME_TOO_LONG, id="long-before-invalid"),
        pytest.param("abcdefghi/abc", NameProblem.NAME_TOO_LONG, id="name-before-path"),
        pytest.param(
            f".ferry-{KEY}.partial", NameProblem.RESERVED_NAME, id="reserved-before-length"
        ),
    ],
)
def test_custom_profile_and_problem_order(path: str, expected: NameProblem | None) -> None:
    tiny = NamingProfile("tiny", max_component_bytes=8, max_path_bytes=12, max_depth=2)
    assert problem(path, tiny) is expected


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(f".ferry-{KEY}.partial", id="partial"),
        pytest.param(f".ferry-{KEY}.parts", id="parts"),
        pytest.param(f".ferry-{'0' * 20}.partial", id="all-zero"),
        pytest.param(f".ferry-{'f' * 20}.parts", id="all-f"),
    ],
)
def test_reserved_partial_names(name: str) -> None:
    assert is_partial_artifact(name)
    for path in (name, f"d/{name}", f"d/{name}/x"):
        found = POSIX.check(path)
        assert found is not None
        assert found[0] is NameProblem.RESERVED_NAME
        assert "Ferry" in found[1]


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(f".ferry-{KEY[:-1]}.partial", id="19-hex"),
        pytest.param(f".ferry-{KEY}0.partial", id="21-hex"),
        pytest.param(f".ferry-{KEY.upper()}.partial", id="upper-case-hex"),
        pytest.param(f".ferry-{KEY[:-1]}g.partial", id="non-hex"),
        pytest.param(f".ferry-{KEY[:-1]}-.partial", id="dash"),
        pytest.param(f".ferry-{KEY}.part", id="suffix-part"),
        pytest.param(f".ferry-{KEY}.partial.txt", id="extra-suffix"),
        pytest.param(f".ferry-{KEY}.tmp", id="other-suffix"),
        pytest.param(f".ferry-{KEY}", id="no-suffix"),
        pytest.param(f"ferry-{KEY}.partial", id="no-leading-dot"),
        pytest.param(f"x.ferry-{KEY}.partial", id="prefixed"),
        pytest.param(f".Ferry-{KEY}.partial", id="capital-f"),
        pytest.param(f".ferry_{KEY}.partial", id="underscore"),
        pytest.param(".ferry-.partial", id="empty-key"),
        pytest.param(f".ferry-{KEY}.partial.partial", id="double-suffix"),
        pytest.param(f".ferry-{'a' * 20}.PARTIAL", id="upper-suffix"),
    ],
)
def test_similar_names_are_fine(name: str) -> None:
    assert not is_partial_artifact(name)
    assert POSIX.check(name) is None
    assert POSIX.check(f"d/{name}") is None


def test_is_partial_artifact_takes_a_name_not_a_path() -> None:
    assert not is_partial_artifact(f"d/.ferry-{KEY}.partial")
    assert not is_partial_artifact("")


@PROPERTY
@given(st.text("0123456789abcdef", min_size=20, max_size=20), st.sampled_from(PARTIAL_SUFFIXES))
def test_every_lower_hex_key_is_reserved(key: str, suffix: str) -> None:
    name = f".ferry-{key}{suffix}"
    assert is_partial_artifact(name)
    assert problem(name) is NameProblem.RESERVED_NAME


@PROPERTY
@given(st.text(min_size=0, max_size=30), st.sampled_from(PARTIAL_SUFFIXES))
def test_other_keys_are_not_reserved(key: str, suffix: str) -> None:
    reserved = len(key) == 20 and all(c in "0123456789abcdef" for c in key)
    assert is_partial_artifact(f".ferry-{key}{suffix}") is reserved


path_alphabet = st.sampled_from(["a", "b", ".", "..", "/", "\\", "\x00", "é", "\udce9"])


@PROPERTY
@given(st.lists(path_alphabet, min_size=0, max_size=12).map("".join))
def test_accepted_paths_stay_inside_the_root(path: str) -> None:
    """No name the profile accepts may resolve outside the target root."""
    if POSIX.check(path) is not None:
        return
    root = "/target/root"
    resolved = posixpath.normpath(posixpath.join(root, path))
    assert resolved.startswith(root + "/")
    assert resolved == f"{root}/{path}"  # nothing to normalize: the path is taken as it is
    assert all(part not in ("", ".", "..") for part in path.split("/"))
    assert "\x00" not in path and "\\" not in path


# -- check_leaf: for a walk that already checked the parents ----------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        pytest.param("ok/name", None, id="fine"),
        pytest.param("../name", None, id="parents-not-examined"),
        pytest.param("a\\b/" + "n" * 300 + "/name", None, id="long-parent-not-examined"),
        pytest.param("d/..", NameProblem.INVALID_CHARACTER, id="dotdot-leaf"),
        pytest.param("d/.", NameProblem.INVALID_CHARACTER, id="dot-leaf"),
        pytest.param("d/", NameProblem.INVALID_CHARACTER, id="empty-leaf"),
        pytest.param("", NameProblem.INVALID_CHARACTER, id="empty-path"),
        pytest.param("d/a\x00b", NameProblem.INVALID_CHARACTER, id="nul-leaf"),
        pytest.param("d/a\\b", NameProblem.INVALID_CHARACTER, id="backslash-leaf"),
        pytest.param(f"d/.ferry-{KEY}.partial", NameProblem.RESERVED_NAME, id="reserved-leaf"),
        pytest.param(f"d/.ferry-{KEY}.parts", NameProblem.RESERVED_NAME, id="reserved-parts"),
        pytest.param(f".ferry-{KEY}.parts/x", None, id="reserved-parent-not-examined"),
        pytest.param("d/" + "n" * 256, NameProblem.NAME_TOO_LONG, id="long-ascii-leaf"),
        pytest.param("d/" + "é" * 128, NameProblem.NAME_TOO_LONG, id="long-multibyte-leaf"),
        pytest.param("d/" + "é" * 127 + "n", None, id="255-bytes-leaf"),
        pytest.param("d/" + "\udce9" * 256, NameProblem.NAME_TOO_LONG, id="long-escaped-leaf"),
        pytest.param("/".join(["a"] * 2049), NameProblem.TOO_DEEP, id="too-deep"),
        pytest.param("/".join(["a"] * 2048), None, id="deepest"),
    ],
)
def test_check_leaf(path: str, expected: NameProblem | None) -> None:
    found = POSIX.check_leaf(path)
    assert (None if found is None else found[0]) is expected


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        pytest.param(4095, None, id="4095"),
        pytest.param(4096, NameProblem.PATH_TOO_LONG, id="4096"),
    ],
)
def test_check_leaf_path_length(size: int, expected: NameProblem | None) -> None:
    path = long_path(size)
    found = POSIX.check_leaf(path)
    assert (None if found is None else found[0]) is expected
    multibyte = "é/" + path[3:]  # same byte length, one character fewer
    assert len(os.fsencode(multibyte)) == size
    found = POSIX.check_leaf(multibyte)
    assert (None if found is None else found[0]) is expected


def test_check_leaf_details_match_check() -> None:
    for path in ["d/" + "é" * 128, "/".join(["a"] * 2049), long_path(5000), "d/..", "x/"]:
        assert POSIX.check_leaf(path) == POSIX.check(path)


TINY = NamingProfile("tiny", max_component_bytes=4, max_path_bytes=10, max_depth=3)
tiny_components = st.sampled_from(["a", "bb", "éé", "ccccc", "", ".", "..", "a\\", "\udce9" * 5])


@PROPERTY
@given(st.lists(tiny_components, min_size=1, max_size=4), st.sampled_from([TINY, POSIX]))
def test_check_leaf_agrees_with_check_when_the_parents_are_fine(
    components: list[str], profile: NamingProfile
) -> None:
    path = "/".join(components)
    parent = "/".join(components[:-1])
    parents_fine = all(profile.check(c) is None for c in components[:-1])
    if parents_fine and (not parent or profile.check(parent) is None):
        assert profile.check_leaf(path) == profile.check(path)
    elif profile.check_leaf(path) is not None:
        assert profile.check(path) is not None
