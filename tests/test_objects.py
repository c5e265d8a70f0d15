"""Object-store helpers: the listing order fix-up, the metadata keys, the folded merge."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ferry.engine.codes import Code
from ferry.engine.merge import merge_join_folded
from ferry.engine.plan import Action, PlanOptions, plan
from ferry.storage.entry import Entry, EntryKind, sort_key
from ferry.storage.errors import StoreIOError
from ferry.storage.naming import WINDOWS
from ferry.storage.objects import (
    FOLDER,
    MD5,
    MODE,
    MTIME,
    fields_from_metadata,
    in_name_order,
    is_folder_marker,
    metadata_for,
    stored_md5,
)

FILE, DIR = EntryKind.FILE, EntryKind.DIR


def store_order(files: set[str], dirs: set[str], markers: set[str]) -> list[tuple[bool, Entry]]:
    """One level as an object store lists it: objects by key, prefixes by key plus '/'."""
    listed: list[tuple[bytes, bool, Entry]] = []
    for name in files:
        listed.append((sort_key(name), False, Entry(name, FILE, 1)))
    for name in markers:
        listed.append((sort_key(name), False, Entry(name, DIR, mtime_ns=7)))
    for name in dirs:
        listed.append((sort_key(name) + b"/", True, Entry(name, DIR)))
    listed.sort(key=lambda item: item[0])
    return [(is_prefix, entry) for _, is_prefix, entry in listed]


def test_a_sub_prefix_moves_before_names_that_extend_it() -> None:
    listing = store_order({"d-x", "d.txt", "d0", "c"}, {"d"}, set())
    assert [e.name for _, e in listing] == ["c", "d-x", "d.txt", "d", "d0"]
    names = [e.name for e in in_name_order(iter(listing))]
    assert names == ["c", "d", "d-x", "d.txt", "d0"]


def test_a_marker_and_its_prefix_are_one_directory_with_the_marker_fields() -> None:
    listing = store_order({"a", "dir.txt"}, {"dir"}, {"dir"})
    out = list(in_name_order(iter(listing)))
    assert [(e.name, e.kind) for e in out] == [("a", FILE), ("dir", DIR), ("dir.txt", FILE)]
    assert out[1].mtime_ns == 7


def test_out_of_order_listing_is_an_error_not_a_wrong_merge() -> None:
    listing = [(False, Entry("b", FILE)), (False, Entry("c", FILE)), (False, Entry("a", FILE))]
    with pytest.raises(StoreIOError, match="out of order"):
        list(in_name_order(iter(listing)))


names = st.text(alphabet=st.sampled_from(list("ab-./_~0Zé")), min_size=1, max_size=5).filter(
    lambda n: "/" not in n
)


@settings(max_examples=300, deadline=None)
@given(files=st.sets(names, max_size=12), dirs=st.sets(names, max_size=6), data=st.data())
def test_output_is_name_ordered_and_complete(
    files: set[str], dirs: set[str], data: st.DataObject
) -> None:
    markers = (
        data.draw(st.sets(st.sampled_from(sorted(dirs)), max_size=len(dirs))) if dirs else set()
    )
    out = list(in_name_order(iter(store_order(files, dirs, markers))))
    keys = [(sort_key(e.name), e.kind is DIR) for e in out]
    assert [k for k, _ in keys] == sorted(k for k, _ in keys)
    assert sorted((e.name, e.kind.value) for e in out) == sorted(
        [(n, "file") for n in files] + [(n, "dir") for n in dirs]
    )


def test_metadata_round_trip() -> None:
    entry = Entry(
        "x", FILE, 3, 1_700_000_000_123_456_789, 5, 6, 0o640, 1000, 1001, metadata={"Owner": "a"}
    )
    meta = metadata_for(entry, md5="0" * 32)
    assert meta[MTIME] == "1700000000123456789" and meta[MODE] == "640" and meta[MD5] == "0" * 32
    assert meta["owner"] == "a"
    fields = fields_from_metadata(meta, last_modified_ns=99)
    assert fields["mtime_ns"] == entry.mtime_ns
    assert (fields["atime_ns"], fields["ctime_ns"]) == (5, 6)
    assert (fields["mode"], fields["uid"], fields["gid"]) == (0o640, 1000, 1001)
    assert fields["metadata"] == {"owner": "a"}
    assert stored_md5(meta) == "0" * 32
    assert is_folder_marker(metadata_for(Entry("d", DIR)))
    assert not is_folder_marker(meta)


@pytest.mark.parametrize(
    "meta",
    [None, {MTIME: "soon"}, {MTIME: "-5"}, {"FERRY_MTIME": "x"}],
)
def test_objects_ferry_did_not_write_use_the_service_time(meta: dict[str, str] | None) -> None:
    fields = fields_from_metadata(meta, last_modified_ns=42)
    assert fields["mtime_ns"] == 42
    assert stored_md5({MD5: "not hex at all, thirty-two chars"}) is None
    assert FOLDER not in (fields["metadata"] or {})


def pairs(
    sources: list[str], targets: list[str]
) -> list[tuple[str | None, str | None, str | None]]:
    out = merge_join_folded(
        [Entry(n, FILE) for n in sources], [Entry(n, FILE) for n in targets], WINDOWS.fold
    )
    return [
        (
            p.source.name if p.source else None,
            p.target.name if p.target else None,
            p.same_on_target.name if p.same_on_target else None,
        )
        for p in out
    ]


def test_folded_merge_pairs_names_that_differ_in_case() -> None:
    assert pairs(["Readme.TXT", "b"], ["README.txt", "c"]) == [
        ("b", None, None),
        (None, "c", None),
        ("Readme.TXT", "README.txt", None),
    ]


def test_colliding_source_names_keep_the_target_item_and_report_the_other() -> None:
    assert sorted(pairs(["A.txt", "a.txt"], ["a.txt"]), key=str) == sorted(
        [("a.txt", "a.txt", None), ("A.txt", None, "a.txt")], key=str
    )
    # Nothing on the target yet: the first in byte order wins, every time.
    assert sorted(pairs(["a.txt", "A.txt", "A.TXT"], []), key=str) == sorted(
        [("A.TXT", None, None), ("A.txt", None, "A.TXT"), ("a.txt", None, "A.TXT")], key=str
    )


def test_folded_merge_never_deletes_a_target_item_a_source_name_maps_to() -> None:
    result = pairs(["DATA.bin"], ["data.bin", "other"])
    assert ("DATA.bin", "data.bin", None) in result
    assert (None, "data.bin", None) not in result


def test_offline_tier_is_unsupported_with_its_own_code() -> None:
    for tier in ("Archive", "GLACIER", "DEEP_ARCHIVE"):
        decision = plan(Entry("x", FILE, 1, tier=tier), None, PlanOptions())
        assert decision.action is Action.RECORD and decision.code is Code.OFFLINE_TIER
    assert plan(Entry("x", FILE, 1, tier="Cool"), None, PlanOptions()).action is Action.COPY
