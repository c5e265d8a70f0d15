"""Target naming profiles: what names a target can hold (DESIGN §3).

An item the target cannot hold is reported as Unsupported with the problem found here; it is
never silently renamed. No profile ever lets a name resolve outside the target root.
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass


class NameProblem(enum.Enum):
    INVALID_CHARACTER = "invalid character"
    NAME_TOO_LONG = "name too long"
    PATH_TOO_LONG = "path too long"
    TOO_DEEP = "path too deep"
    RESERVED_NAME = "reserved name"


@dataclass(frozen=True, slots=True)
class NamingProfile:
    name: str
    max_component_bytes: int
    max_path_bytes: int
    max_depth: int

    def check(self, path: str) -> tuple[NameProblem, str] | None:
        """The first problem of ``path`` (relative, '/'-separated) on this target, if any."""
        components = path.split("/")
        if len(components) > self.max_depth:
            return NameProblem.TOO_DEEP, f"{len(components)} levels, limit {self.max_depth}"
        for component in components:
            if component in ("", ".", "..") or "\x00" in component or "\\" in component:
                return NameProblem.INVALID_CHARACTER, f"component {component!r} is not a name"
            if component.startswith(".ferry-") and _is_ferry_artifact(component):
                return NameProblem.RESERVED_NAME, "name is reserved for Ferry's partial files"
            size = len(os.fsencode(component))
            if size > self.max_component_bytes:
                return (
                    NameProblem.NAME_TOO_LONG,
                    f"{size} bytes, limit {self.max_component_bytes}",
                )
        return self._check_length(path)

    def check_leaf(self, path: str) -> tuple[NameProblem, str] | None:
        """Like :meth:`check`, for a walk that already checked every parent directory: only
        the last component, the depth and the total length are examined."""
        depth = path.count("/") + 1
        if depth > self.max_depth:
            return NameProblem.TOO_DEEP, f"{depth} levels, limit {self.max_depth}"
        name = path.rpartition("/")[2]
        if name in ("", ".", "..") or "\x00" in name or "\\" in name:
            return NameProblem.INVALID_CHARACTER, f"component {name!r} is not a name"
        if name.startswith(".ferry-") and _is_ferry_artifact(name):
            return NameProblem.RESERVED_NAME, "name is reserved for Ferry's partial files"
        size = len(name) if name.isascii() else len(os.fsencode(name))
        if size > self.max_component_bytes:
            return NameProblem.NAME_TOO_LONG, f"{size} bytes, limit {self.max_component_bytes}"
        return self._check_length(path)

    def _check_length(self, path: str) -> tuple[NameProblem, str] | None:
        size = len(path) if path.isascii() else len(os.fsencode(path))
        if size > self.max_path_bytes:
            return NameProblem.PATH_TOO_LONG, f"{size} bytes, limit {self.max_path_bytes}"
        return None


PARTIAL_SUFFIXES = (".partial", ".parts")
PARTIAL_KEY_LENGTH = 20


def _is_ferry_artifact(name: str) -> bool:
    for suffix in PARTIAL_SUFFIXES:
        if name.endswith(suffix):
            key = name[len(".ferry-") : -len(suffix)]
            return len(key) == PARTIAL_KEY_LENGTH and all(c in "0123456789abcdef" for c in key)
    return False


def is_partial_artifact(name: str) -> bool:
    """Whether ``name`` is one of Ferry's own in-progress files on a file-system target."""
    return name.startswith(".ferry-") and _is_ferry_artifact(name)


# Linux NAME_MAX and PATH_MAX; the depth bound keeps a hostile tree from exhausting the stack
# of tools that walk the copy later.
POSIX = NamingProfile("posix", max_component_bytes=255, max_path_bytes=4095, max_depth=2048)
