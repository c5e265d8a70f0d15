"""Walking two listings together: the merge-join of a source and a target directory."""

from __future__ import annotations

from collections.abc import Iterator

from ferry.engine.codes import Code
from ferry.engine.transfer import TransferFailure, source_failure, target_failure
from ferry.storage.entry import Entry, sort_key
from ferry.storage.errors import StorageError


class ListingError(Exception):
    """Listing one side of a directory failed; ``failure`` says which side and why."""

    def __init__(self, failure: TransferFailure) -> None:
        super().__init__(str(failure))
        self.failure = failure


def guarded(entries: Iterator[Entry], target_side: bool) -> Iterator[Entry]:
    """``entries``, with a storage error turned into a :class:`ListingError` of its side."""
    try:
        yield from entries
    except StorageError as exc:
        failure = target_failure(exc) if target_side else source_failure(exc)
        failure.code = Code.TARGET_SCAN_ERROR if target_side else Code.SOURCE_SCAN_ERROR
        raise ListingError(failure) from exc


def merge_join(
    source: Iterator[Entry], target: Iterator[Entry]
) -> Iterator[tuple[Entry | None, Entry | None]]:
    """Pair entries of two listings sorted by name bytes."""
    s = next(source, None)
    t = next(target, None)
    while s is not None or t is not None:
        if t is None:
            assert s is not None
            yield s, None
            s = next(source, None)
        elif s is None:
            yield None, t
            t = next(target, None)
        else:
            sn, tn = s.name, t.name
            if sn == tn:
                yield s, t
                s, t = next(source, None), next(target, None)
            elif (sn < tn) if sn.isascii() and tn.isascii() else (sort_key(sn) < sort_key(tn)):
                yield s, None
                s = next(source, None)
            else:
                yield None, t
                t = next(target, None)
