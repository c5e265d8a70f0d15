"""Include/exclude globs, size and age bounds, hidden items.

Glob syntax: ``*`` matches within one path component, ``**`` across components, ``?`` one
character, ``[...]`` a class, ``{a,b}`` alternatives. A pattern without ``/`` is matched
against the item's name; a pattern with ``/`` against its whole path from the root (a leading
``/`` is optional); a trailing ``/`` makes it match directories only. An excluded directory
is not descended into. ``--include`` patterns select files and links; directories are always
traversed unless excluded. Size and age bounds apply to files.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ferry.engine.codes import Code
from ferry.storage.entry import Entry, EntryKind


class PatternError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class _Pattern:
    regex: re.Pattern[str]
    whole_path: bool
    dirs_only: bool

    def matches(self, entry: Entry) -> bool:
        if self.dirs_only and entry.kind is not EntryKind.DIR:
            return False
        subject = entry.path if self.whole_path else entry.name
        return self.regex.fullmatch(subject) is not None


def compile_glob(pattern: str) -> _Pattern:
    if not pattern.strip("/"):
        raise PatternError(f"empty pattern: {pattern!r}")
    dirs_only = pattern.endswith("/")
    body = pattern.rstrip("/")
    whole_path = "/" in body
    body = body.lstrip("/")
    try:
        regex = re.compile(_glob_to_regex(body, pattern))
    except re.error as exc:
        raise PatternError(f"invalid pattern {pattern!r}: {exc}") from None
    return _Pattern(regex, whole_path, dirs_only)


def _glob_to_regex(glob: str, original: str) -> str:
    out: list[str] = []
    i, n, depth = 0, len(glob), 0
    while i < n:
        c = glob[i]
        if c == "*":
            if glob.startswith("**", i):
                i += 2
                if glob.startswith("/", i):  # "**/" also matches no directory at all
                    out.append("(?:.*/)?")
                    i += 1
                else:
                    out.append(".*")
                continue
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            # A ']' right after '[' or '[!' is a member of the class, not its end.
            first = i + 2 if glob.startswith("[!", i) else i + 1
            end = glob.find("]", first + 1 if glob.startswith("]", first) else first)
            if end < 0:
                raise PatternError(f"unclosed '[' in pattern {original!r}")
            inner = glob[i + 1 : end]
            if inner.startswith("!"):
                inner = "^" + inner[1:]
            out.append(f"[{inner.replace(chr(92), chr(92) * 2)}]")
            i = end
        elif c == "{":
            depth += 1
            out.append("(?:")
        elif c == "}" and depth:
            depth -= 1
            out.append(")")
        elif c == "," and depth:
            out.append("|")
        elif c == "\\" and i + 1 < n:
            i += 1
            out.append(re.escape(glob[i]))
        else:
            out.append(re.escape(c))
        i += 1
    if depth:
        raise PatternError(f"unclosed '{{' in pattern {original!r}")
    return "".join(out)


@dataclass(frozen=True, slots=True)
class FilterRules:
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    min_size: int | None = None
    max_size: int | None = None
    min_age_ns: int | None = None
    """Files modified more recently than this are excluded."""
    max_age_ns: int | None = None
    """Files modified longer ago than this are excluded."""
    exclude_hidden: bool = False


class Filter:
    """Decides whether an item is Excluded, and why. ``now_ns`` is the run's start time."""

    def __init__(self, rules: FilterRules, now_ns: int) -> None:
        self.rules = rules
        self._now_ns = now_ns
        self._include = _compile_all(rules.include)
        self._exclude = _compile_all(rules.exclude)
        self.active = bool(
            self._include
            or self._exclude
            or rules.exclude_hidden
            or rules.min_size is not None
            or rules.max_size is not None
            or rules.min_age_ns is not None
            or rules.max_age_ns is not None
        )

    def check(self, entry: Entry) -> Code | None:
        if not self.active:
            return None
        rules = self.rules
        if rules.exclude_hidden and entry.name.startswith("."):
            return Code.EXCLUDED_HIDDEN
        if any(p.matches(entry) for p in self._exclude):
            return Code.EXCLUDED_BY_PATTERN
        if entry.kind is EntryKind.DIR:
            return None
        if self._include and not any(p.matches(entry) for p in self._include):
            return Code.NOT_INCLUDED
        if entry.kind is EntryKind.FILE:
            if (rules.min_size is not None and entry.size < rules.min_size) or (
                rules.max_size is not None and entry.size > rules.max_size
            ):
                return Code.EXCLUDED_BY_SIZE
            age = self._now_ns - entry.mtime_ns
            if (rules.min_age_ns is not None and age < rules.min_age_ns) or (
                rules.max_age_ns is not None and age > rules.max_age_ns
            ):
                return Code.EXCLUDED_BY_AGE
        return None


def _compile_all(patterns: Sequence[str]) -> list[_Pattern]:
    return [compile_glob(p) for p in patterns]


NO_FILTER_RULES = FilterRules()
