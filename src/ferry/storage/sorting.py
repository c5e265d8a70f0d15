"""Sorting directory listings in bounded memory.

File systems list a directory in no particular order, and the engine merge-joins source and
target listings in byte order. A directory wider than the cutoff is sorted on disk: sorted
runs of at most ``cutoff`` names are spilled to temporary files and merged back. Hand-written
because no maintained library offers an external sort of byte strings in bounded memory.
"""

from __future__ import annotations

import heapq
import os
import struct
import tempfile
from collections.abc import Iterable, Iterator
from typing import BinaryIO

from ferry.storage.entry import sort_key

DEFAULT_LIST_CUTOFF = 100_000
_LENGTH = struct.Struct(">I")


def sorted_names(
    names: Iterable[str], cutoff: int = DEFAULT_LIST_CUTOFF, spool_dir: str | None = None
) -> Iterator[str]:
    """Yield ``names`` sorted by their bytes, holding at most ``cutoff`` names in memory."""
    chunk: list[str] = []
    runs: list[BinaryIO] = []
    try:
        for name in names:
            chunk.append(name)
            if len(chunk) >= cutoff:
                runs.append(_spill(chunk, spool_dir))
                chunk = []
        if not runs:
            chunk.sort(key=sort_key)
            yield from chunk
            return
        if chunk:
            runs.append(_spill(chunk, spool_dir))
            chunk = []
        yield from heapq.merge(*(_read_run(run) for run in runs), key=sort_key)
    finally:
        for run in runs:
            run.close()


def _spill(chunk: list[str], spool_dir: str | None) -> BinaryIO:
    run = tempfile.TemporaryFile(dir=spool_dir)  # noqa: SIM115 - closed by sorted_names
    chunk.sort(key=sort_key)
    write = run.write
    for name in chunk:
        raw = os.fsencode(name)
        write(_LENGTH.pack(len(raw)))
        write(raw)
    run.seek(0)
    return run


def _read_run(run: BinaryIO) -> Iterator[str]:
    read = run.read
    while header := read(_LENGTH.size):
        (length,) = _LENGTH.unpack(header)
        yield os.fsdecode(read(length))
