"""Sorting listings by bytes in bounded memory, ``ferry.storage.sorting``."""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ferry.storage.sorting import DEFAULT_LIST_CUTOFF, sorted_names

PROPERTY = settings(max_examples=200, deadline=None)
CUTOFFS = [1, 2, 3, 7, DEFAULT_LIST_CUTOFF]


def by_bytes(raw: list[bytes]) -> list[str]:
    """The expected order, computed on the raw bytes without the module's key."""
    return [os.fsdecode(b) for b in sorted(raw)]


def test_fs_encoding_is_utf8() -> None:
    # The expectations below are written for UTF-8 file-system names.
    assert os.fsencode("é") == b"\xc3\xa9"


@pytest.mark.parametrize("cutoff", CUTOFFS)
def test_empty(cutoff: int) -> None:
    assert list(sorted_names([], cutoff=cutoff)) == []


@pytest.mark.parametrize("cutoff", CUTOFFS)
def test_single(cutoff: int) -> None:
    assert list(sorted_names(["only"], cutoff=cutoff)) == ["only"]


@pytest.mark.parametrize("cutoff", CUTOFFS)
def test_ascii_and_case(cutoff: int) -> None:
    names = ["b", "a", "B", "A", "_", "10", "9", "a.txt", "a", "Z", "z", "~", " "]
    expected = [" ", "10", "9", "A", "B", "Z", "_", "a", "a", "a.txt", "b", "z", "~"]
    assert list(sorted_names(names, cutoff=cutoff)) == expected


@pytest.mark.parametrize("cutoff", CUTOFFS)
def test_prefixes_sort_first(cutoff: int) -> None:
    names = ["abc", "ab", "a", "abcd", "", "b"]
    assert list(sorted_names(names, cutoff=cutoff)) == ["", "a", "ab", "abc", "abcd", "b"]


@pytest.mark.parametrize("cutoff", CUTOFFS)
def test_unicode_sorts_by_utf8_bytes(cutoff: int) -> None:
    names = ["文件", "é", "z", "ﬀ", "😀", "e", "\u00ff", "\u0100"]
    # UTF-8 byte order equals code point order for well-formed text.
    expected = ["e", "z", "é", "\u00ff", "\u0100", "文件", "ﬀ", "😀"]
    assert list(sorted_names(names, cutoff=cutoff)) == expected
    assert expected == by_bytes([os.fsencode(n) for n in names])


@pytest.mark.parametrize("cutoff", CUTOFFS)
def test_non_utf8_names_sort_by_their_raw_bytes(cutoff: int) -> None:
    raw = [b"\xe9t\xe9", b"\xc3\xa9", b"\xff", b"\x80", b"z", b"latin1-\xe9", b"latin1-e"]
    names = [os.fsdecode(b) for b in raw]
    # '\udc80' (from the byte 0x80) sorts before 'é' (0xC3 0xA9) by bytes, although its code
    # point U+DC80 is greater than U+00E9: a plain sorted() would get this wrong.
    assert sorted(names) != by_bytes(raw)
    result = list(sorted_names(names, cutoff=cutoff))
    assert result == by_bytes(raw)
    assert [os.fsencode(n) for n in result] == sorted(raw)
    assert result.index("\udc80") < result.index("é")


@pytest.mark.parametrize("cutoff", CUTOFFS)
def test_duplicates_are_kept(cutoff: int) -> None:
    names = ["b", "a", "b", "a", "b", "\udce9", "\udce9"]
    assert list(sorted_names(names, cutoff=cutoff)) == ["a", "a", "b", "b", "b"] + ["\udce9"] * 2


@pytest.mark.parametrize("cutoff", [1, 2, 3])
def test_spills_to_the_given_directory_and_cleans_up(cutoff: int, tmp_path: Path) -> None:
    names = [f"n{i:03d}" for i in range(50, 0, -1)]
    result = list(sorted_names(names, cutoff=cutoff, spool_dir=str(tmp_path)))
    assert result == sorted(names)
    assert list(tmp_path.iterdir()) == []


def test_spool_dir_must_exist_when_spilling(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    with pytest.raises(FileNotFoundError):
        list(sorted_names(["b", "a"], cutoff=1, spool_dir=str(missing)))
    # Below the cutoff nothing is spilled, so the directory is never used.
    assert list(sorted_names(["b", "a"], cutoff=3, spool_dir=str(missing))) == ["a", "b"]


def test_accepts_any_iterable_lazily() -> None:
    consumed: list[str] = []

    def generate() -> Iterator[str]:
        for name in ["c", "a", "b"]:
            consumed.append(name)
            yield name

    result = sorted_names(generate(), cutoff=2)
    assert consumed == []  # nothing is read before the first name is asked for
    assert next(result) == "a"
    assert consumed == ["c", "a", "b"]
    assert list(result) == ["b", "c"]


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


needs_proc = pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")


@needs_proc
@pytest.mark.parametrize(("count", "cutoff", "runs"), [(20, 3, 7), (20, 1, 20), (6, 2, 3)])
def test_spills_sorted_runs_and_closes_them(count: int, cutoff: int, runs: int) -> None:
    names = [f"{i:02d}" for i in reversed(range(count))]
    before = open_fds()
    result = sorted_names(names, cutoff=cutoff)
    assert next(result) == "00"
    assert open_fds() - before == runs  # one temporary file per run of at most `cutoff` names
    assert list(result) == [f"{i:02d}" for i in range(1, count)]
    assert open_fds() == before


@needs_proc
def test_no_spill_below_the_cutoff() -> None:
    before = open_fds()
    result = sorted_names(["c", "b", "a"], cutoff=4)
    assert next(result) == "a"
    assert open_fds() == before
    assert list(result) == ["b", "c"]


@needs_proc
def test_closing_early_closes_the_runs(tmp_path: Path) -> None:
    before = open_fds()
    result = sorted_names([str(i) for i in range(20)], cutoff=3, spool_dir=str(tmp_path))
    assert next(result) == "0"
    assert open_fds() > before
    assert isinstance(result, Generator)
    result.close()
    assert open_fds() == before
    assert list(tmp_path.iterdir()) == []


# Raw names as a file system may hold them: any bytes but '/' and NUL.
raw_names = st.binary(min_size=0, max_size=12).map(
    lambda b: b.replace(b"/", b"").replace(b"\0", b"")
)
name_lists = st.lists(raw_names, max_size=40)


@PROPERTY
@given(name_lists, st.sampled_from([1, 2, 3, 5]))
def test_external_sort_matches_in_memory_sort(raw: list[bytes], cutoff: int) -> None:
    names = [os.fsdecode(b) for b in raw]
    expected = by_bytes(raw)
    assert list(sorted_names(names)) == expected
    assert list(sorted_names(names, cutoff=cutoff)) == expected


text_names = st.text(st.characters(codec="utf-8", exclude_characters="/\0"), max_size=8)


@PROPERTY
@given(st.lists(text_names, max_size=30), st.sampled_from([1, 2, 3]))
def test_unicode_text_sorts_by_utf8_bytes(names: list[str], cutoff: int) -> None:
    expected = by_bytes([n.encode("utf-8") for n in names])
    assert expected == sorted(names)  # without surrogates, byte order is code point order
    assert list(sorted_names(names, cutoff=cutoff)) == expected
    assert list(sorted_names(names)) == expected
