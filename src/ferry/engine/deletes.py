"""Mirror deletions: the spool of target-only items and the order they are deleted in.

Deletions are decided during the scan but carried out after every transfer, so they are
spooled to an anonymous temporary file (memory stays flat however much goes)."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from typing import IO

from ferry.engine.filters import Filter
from ferry.storage.base import Store
from ferry.storage.entry import Entry, EntryKind


class DeleteSpool:
    def __init__(self) -> None:
        self._file: IO[str] | None = None
        self.count = 0

    def add(self, path: str, is_dir: bool, size: int) -> None:
        if self._file is None:
            self._file = tempfile.TemporaryFile(  # noqa: SIM115 - closed by close()
                "w+", encoding="utf-8", errors="surrogateescape"
            )
        self._file.write(json.dumps([path, is_dir, size]) + "\n")
        self.count += 1

    def entries(self) -> Iterator[Entry]:
        if self._file is None:
            return
        self._file.seek(0)
        for line in self._file:
            path, is_dir, size = json.loads(line)
            yield Entry(path=path, kind=EntryKind.DIR if is_dir else EntryKind.FILE, size=size)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


def deletion_order(
    target: Store, top: Entry, filt: Filter, *, discard_partials: bool
) -> Iterator[Entry]:
    """``top`` and everything under it, children before their directory. Items the filters
    exclude are kept, and so are the directories that hold them. With ``discard_partials``,
    Ferry's own partial files in a directory about to go are discarded first."""
    if top.kind is not EntryKind.DIR:
        yield top
        return
    # (directory, its listing, [every child deletable so far], partial artifacts seen)
    stack: list[tuple[Entry, Iterator[Entry], list[bool], list[str]]] = []

    def push(directory: Entry) -> None:
        partials: list[str] = []
        stack.append((directory, target.list_dir(directory.path, partials), [True], partials))

    push(top)
    while stack:
        directory, listing, deletable, partials = stack[-1]
        child = next(listing, None)
        if child is None:
            stack.pop()
            if deletable[0]:
                if discard_partials and target.capabilities.discard_partial:
                    for name in partials:
                        target.discard_partial(directory.path, name)
                yield directory
            elif stack:
                stack[-1][2][0] = False
        elif filt.check(child) is not None:
            deletable[0] = False
        elif child.kind is EntryKind.DIR:
            push(child)
        else:
            yield child
