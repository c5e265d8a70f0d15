"""Walking two listings together: the merge-join of a source and a target directory."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

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


@dataclass(frozen=True, slots=True)
class Pair:
    source: Entry | None
    target: Entry | None
    same_on_target: Entry | None = None
    """Set when ``source`` is not copied: the other source item that holds its name on a
    case-insensitive target."""


def merge_join_folded(
    source: Iterable[Entry], target: Iterable[Entry], fold: Callable[[str], str]
) -> Iterator[Pair]:
    """Pair two listings of a directory by ``fold(name)``, for a case-insensitive target.

    Both listings are regrouped in memory, one directory at a time. Within a group of names
    that are one item on the target, a source name that the target already holds exactly
    keeps it; otherwise the first in byte order takes the target's item. Every other source
    name of the group is returned alone with ``same_on_target`` set, never copied, so that
    one source item never overwrites another on the target, and a Mirror run never deletes
    what it has just written under another case.
    """

    def grouped(entries: Iterable[Entry]) -> Iterator[tuple[bytes, list[Entry]]]:
        ordered = sorted(entries, key=lambda e: (sort_key(fold(e.name)), sort_key(e.name)))
        for key, group in itertools.groupby(ordered, key=lambda e: sort_key(fold(e.name))):
            yield key, list(group)

    sources, targets = grouped(source), grouped(target)
    s, t = next(sources, None), next(targets, None)
    while s is not None or t is not None:
        if t is None or (s is not None and s[0] < t[0]):
            assert s is not None
            yield from _pair_group(s[1], [])
            s = next(sources, None)
        elif s is None or t[0] < s[0]:
            yield from (Pair(None, entry) for entry in t[1])
            t = next(targets, None)
        else:
            yield from _pair_group(s[1], t[1])
            s, t = next(sources, None), next(targets, None)


def _pair_group(sources: list[Entry], targets: list[Entry]) -> Iterator[Pair]:
    target_names = {entry.name: entry for entry in targets}
    exact = [entry for entry in sources if entry.name in target_names]
    if exact:
        winners = exact
        for entry in exact:
            yield Pair(entry, target_names.pop(entry.name))
        rest_targets = list(target_names.values())
    else:
        winners = sources[:1]
        yield Pair(sources[0], targets[0] if targets else None)
        rest_targets = targets[1:]
    for entry in sources:
        if entry not in winners:
            yield Pair(entry, None, same_on_target=winners[0])
    yield from (Pair(None, entry) for entry in rest_targets)
