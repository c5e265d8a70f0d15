"""Target naming profiles: what names a target can hold (docs/design.md §3.7).

An item the target cannot hold is reported as Unsupported with the problem found here; it is
never silently renamed. No profile ever lets a name resolve outside the target root: on every
profile a path is relative and '/'-separated, and '', '.', '..', NUL and backslash are never
names (a backslash is a legal blob or S3 character, but enough tools treat it as a separator
that no profile accepts it).

Profiles and where their limits come from:

- ``posix``: Linux NAME_MAX and PATH_MAX, in bytes.
- ``blob`` (Azure Blob Storage, flat namespace): "Naming and Referencing Containers, Blobs, and
  Metadata" and "Scalability and performance targets for Blob storage".
- ``s3``: "Naming Amazon S3 objects" (object key naming guidelines) and "Amazon S3 multipart
  upload limits".
- ``windows`` (SMB shares, with the Azure Files limits): "Naming and Referencing Shares,
  Directories, Files, and Metadata", "Scalability and performance targets for Azure Files and
  Azure File Sync", and Win32 "Naming Files, Paths, and Namespaces" for the device names.
- ``sharepoint`` (SharePoint in Microsoft 365 and OneDrive, as Migration Manager and SPMT scan
  them): Microsoft's "Invalid file names and file types in OneDrive and SharePoint" and the
  Migration Manager file-size limits.
"""

from __future__ import annotations

import enum
import os
import re
from dataclasses import dataclass, field, replace


class NameProblem(enum.Enum):
    INVALID_CHARACTER = "invalid character"
    NAME_TOO_LONG = "name too long"
    PATH_TOO_LONG = "path too long"
    TOO_DEEP = "path too deep"
    RESERVED_NAME = "reserved name"
    TOO_LARGE = "file too large"


class LengthUnit(enum.Enum):
    """What a profile's length limits count."""

    BYTES = "bytes"
    """Bytes of the name as the file system sees it: UTF-8, and a name that is not UTF-8
    counts its original bytes (``os.fsencode``)."""
    UTF16 = "UTF-16 code units"
    """What Windows, Azure Storage and SharePoint call characters: a character outside the
    Basic Multilingual Plane (most emoji) counts 2."""

    def measure(self, text: str) -> int:
        if text.isascii():
            return len(text)
        if self is LengthUnit.BYTES:
            return len(os.fsencode(text))
        return len(text.encode("utf-16-le", "surrogatepass")) // 2


_NOT_NAMES = frozenset(("", ".", ".."))

# Unicode general category Cc: C0 controls, DEL and C1 controls.
CONTROL_CHARACTERS = frozenset(chr(c) for c in (*range(0x00, 0x20), *range(0x7F, 0xA0)))
# Lone surrogates are how a source name that is not UTF-8 arrives (``os.fsdecode``); such a
# name cannot be written to a target that stores Unicode. U+FFFE and U+FFFF are not characters
# and are invalid in the XML of Blob, Azure Files and S3 listings.
_NOT_UNICODE = "\\ud800-\\udfff\\ufffe\\uffff"


Problem = tuple[NameProblem, str]


@dataclass(frozen=True, slots=True)
class NamingProfile:
    """What names one kind of target can hold.

    The two length limits count ``unit`` (the field names date from the byte-counting POSIX
    profile): ``max_component_bytes`` bounds each '/'-separated component and
    ``max_path_bytes`` the whole relative path. ``max_depth`` bounds the number of components.
    Every name-matching rule (reserved names, prefixes, substrings) compares :meth:`fold`ed
    names against data that is stored folded.
    """

    name: str
    max_component_bytes: int
    max_path_bytes: int
    max_depth: int
    unit: LengthUnit = LengthUnit.BYTES
    forbidden_characters: frozenset[str] = frozenset()
    """Characters not allowed anywhere in a name (NUL, '/' and backslash never are)."""
    unicode_only: bool = False
    """Reject names that are not valid Unicode (source bytes that are not UTF-8)."""
    no_trailing_dot: bool = False
    no_trailing_space: bool = False
    no_leading_space: bool = False
    reserved_names: frozenset[str] = frozenset()
    """Names reserved exactly (after folding)."""
    reserved_stems: frozenset[str] = frozenset()
    """Names reserved also with any extension: Windows device names, where ``con.txt`` and
    ``CON .tar.gz`` open the console just as ``CON`` does."""
    reserved_prefixes: tuple[str, ...] = ()
    reserved_substrings: tuple[str, ...] = ()
    reserved_root_names: frozenset[str] = frozenset()
    """Names reserved only as the first component of the path."""
    case_insensitive: bool = False
    """Two names with the same :meth:`fold` are the same item on the target. Detecting such
    collisions is the engine's job; the profile only checks one path at a time."""
    max_file_bytes: int | None = None
    """The largest file the target can hold, or None for no limit of its own."""
    staged_name_length: int = 0
    """The length of the temporary name a file or link is first written under in its
    directory (``.ferry-<key>.partial``) where the store does that; that path must fit too."""
    _bad_character: re.Pattern[str] | None = field(
        init=False, repr=False, compare=False, default=None
    )
    _has_name_rules: bool = field(init=False, repr=False, compare=False, default=False)
    _plain: bool = field(init=False, repr=False, compare=False, default=True)

    def __post_init__(self) -> None:
        for names in (
            self.reserved_names,
            self.reserved_stems,
            self.reserved_prefixes,
            self.reserved_substrings,
            self.reserved_root_names,
        ):
            unfolded = sorted(n for n in names if self.fold(n) != n or not n)
            if unfolded:
                raise ValueError(
                    f"profile {self.name!r}: reserved names must be folded and non-empty: {unfolded}"
                )
        ranges = "".join(re.escape(c) for c in sorted(self.forbidden_characters))
        if self.unicode_only:
            ranges += _NOT_UNICODE
        pattern = re.compile(f"[{ranges}]") if ranges else None
        object.__setattr__(self, "_bad_character", pattern)
        rules = (
            self.no_trailing_dot
            or self.no_trailing_space
            or self.no_leading_space
            or self.reserved_names
            or self.reserved_stems
            or self.reserved_prefixes
            or self.reserved_substrings
            or self.reserved_root_names
            or self.case_insensitive
        )
        object.__setattr__(self, "_has_name_rules", bool(rules))
        plain = pattern is None and not rules and self.unit is LengthUnit.BYTES
        object.__setattr__(self, "_plain", plain)

    def fold(self, name: str) -> str:
        """The key under which the target compares ``name``: the name itself on a
        case-sensitive target; on a case-insensitive one, the case fold of its simple
        (one-to-one) upper case, so that names equal under Unicode case folding and names
        equal under NTFS's upper-case table (dotless i, U+0131, and i) both get the same key."""
        if not self.case_insensitive:
            return name
        if name.isascii():
            return name.lower()
        return "".join(u if len(u := c.upper()) == 1 else c for c in name).casefold()

    def check(self, path: str) -> Problem | None:
        """The first problem of ``path`` (relative, '/'-separated) on this target, if any:
        the depth, then each component in order, then the total length."""
        components = path.split("/")
        if len(components) > self.max_depth:
            return NameProblem.TOO_DEEP, f"{len(components)} levels, limit {self.max_depth}"
        for index, component in enumerate(components):
            problem = self._check_component(component, at_root=index == 0)
            if problem is not None:
                return problem
        return self._check_length(path)

    def check_leaf(self, path: str) -> Problem | None:
        """Like :meth:`check`, for a walk that already checked every parent directory: only
        the last component, the depth and the total length are examined."""
        depth = path.count("/") + 1
        if depth > self.max_depth:
            return NameProblem.TOO_DEEP, f"{depth} levels, limit {self.max_depth}"
        name = path.rpartition("/")[2]
        if not self._plain:
            problem = self._check_component(name, at_root=depth == 1)
            if problem is not None:
                return problem
            return self._check_length(path)
        # The planner's hot path on file-system targets: the POSIX rules, inlined.
        if name in _NOT_NAMES or "\x00" in name or "\\" in name:
            return NameProblem.INVALID_CHARACTER, f"component {name!r} is not a name"
        if name.startswith(".ferry-") and _is_ferry_artifact(name):
            return NameProblem.RESERVED_NAME, _FERRY_RESERVED
        size = len(name) if name.isascii() else len(os.fsencode(name))
        if size > self.max_component_bytes:
            return NameProblem.NAME_TOO_LONG, f"{size} bytes, limit {self.max_component_bytes}"
        size = len(path) if path.isascii() else len(os.fsencode(path))
        if size > self.max_path_bytes:
            return NameProblem.PATH_TOO_LONG, f"{size} bytes, limit {self.max_path_bytes}"
        return None

    def below(self, root: str, *, staged: bool = False) -> NamingProfile:
        """This profile for paths under ``root`` ('/'-separated: a key prefix, or a directory
        of the share or disk). A service limits whole names, so the total length and depth
        left to a path below the root are the limits less what ``root/`` takes. ``staged``:
        the store writes files under a temporary name first (``staged_name_length``)."""
        used = self.unit.measure(root) + 1 if root else 0
        return replace(
            self,
            max_path_bytes=max(0, self.max_path_bytes - used),
            max_depth=max(0, self.max_depth - (root.count("/") + 1 if root else 0)),
            staged_name_length=STAGED_NAME_LENGTH if staged else 0,
        )

    def check_staged(self, path: str) -> Problem | None:
        """Whether the temporary name of a file or link at ``path`` fits (see
        ``staged_name_length``): a short name deep down can fit where its temporary one
        would not."""
        if not self.staged_name_length:
            return None
        parent = path.rpartition("/")[0]
        size = (self.unit.measure(parent) + 1 if parent else 0) + self.staged_name_length
        if size > self.max_path_bytes:
            return (
                NameProblem.PATH_TOO_LONG,
                f"{size} {self.unit.value} with the temporary name it is written under, "
                f"limit {self.max_path_bytes}",
            )
        return None

    def check_size(self, size: int) -> Problem | None:
        """Whether a file of ``size`` bytes fits on this target."""
        if self.max_file_bytes is not None and size > self.max_file_bytes:
            return NameProblem.TOO_LARGE, f"{size} bytes, limit {self.max_file_bytes}"
        return None

    def _check_component(self, name: str, *, at_root: bool) -> Problem | None:
        if name in _NOT_NAMES or "\x00" in name or "\\" in name:
            return NameProblem.INVALID_CHARACTER, f"component {name!r} is not a name"
        if self._bad_character is not None:
            found = self._bad_character.search(name)
            if found is not None:
                return NameProblem.INVALID_CHARACTER, _describe_character(found.group())
        if self._has_name_rules:
            problem = self._check_name_rules(name, at_root=at_root)
            if problem is not None:
                return problem
        elif name.startswith(".ferry-") and _is_ferry_artifact(name):
            return NameProblem.RESERVED_NAME, _FERRY_RESERVED
        size = self.unit.measure(name)
        if size > self.max_component_bytes:
            return (
                NameProblem.NAME_TOO_LONG,
                f"{size} {self.unit.value}, limit {self.max_component_bytes}",
            )
        return None

    def _check_name_rules(self, name: str, *, at_root: bool) -> Problem | None:
        if self.no_leading_space and name.startswith(" "):
            return NameProblem.INVALID_CHARACTER, f"{name!r} starts with a space"
        if self.no_trailing_space and name.endswith(" "):
            return NameProblem.INVALID_CHARACTER, f"{name!r} ends with a space"
        if self.no_trailing_dot and name.endswith("."):
            return NameProblem.INVALID_CHARACTER, f"{name!r} ends with a dot"
        folded = self.fold(name)
        if folded.startswith(".ferry-") and _is_ferry_artifact(folded):
            return NameProblem.RESERVED_NAME, _FERRY_RESERVED
        if folded in self.reserved_names:
            return NameProblem.RESERVED_NAME, f"{name!r} is a reserved name on {self.name}"
        if self.reserved_stems:
            stem = folded.partition(".")[0].rstrip(" ")
            if stem in self.reserved_stems:
                return (
                    NameProblem.RESERVED_NAME,
                    f"{name!r} is a reserved device name on {self.name}",
                )
        for prefix in self.reserved_prefixes:
            if folded.startswith(prefix):
                return (
                    NameProblem.RESERVED_NAME,
                    f"names starting with {prefix!r} are reserved on {self.name}",
                )
        for part in self.reserved_substrings:
            if part in folded:
                return (
                    NameProblem.RESERVED_NAME,
                    f"names containing {part!r} are reserved on {self.name}",
                )
        if at_root and folded in self.reserved_root_names:
            return (
                NameProblem.RESERVED_NAME,
                f"{name!r} is reserved at the root of the target on {self.name}",
            )
        return None

    def _check_length(self, path: str) -> Problem | None:
        size = self.unit.measure(path)
        if size > self.max_path_bytes:
            return (
                NameProblem.PATH_TOO_LONG,
                f"{size} {self.unit.value}, limit {self.max_path_bytes}",
            )
        return None


def _describe_character(char: str) -> str:
    code = ord(char)
    if 0xD800 <= code <= 0xDFFF:
        return f"the source name is not valid UTF-8 (U+{code:04X})"
    if char in CONTROL_CHARACTERS:
        return f"control character U+{code:04X} is not allowed"
    if code in (0xFFFE, 0xFFFF):
        return f"U+{code:04X} is not a Unicode character"
    return f"character {char!r} is not allowed"


PARTIAL_SUFFIXES = (".partial", ".parts")
PARTIAL_KEY_LENGTH = 20
STAGED_NAME_LENGTH = len(".ferry-") + PARTIAL_KEY_LENGTH + max(map(len, PARTIAL_SUFFIXES))
_FERRY_RESERVED = "name is reserved for Ferry's partial files"


def _is_ferry_artifact(name: str) -> bool:
    for suffix in PARTIAL_SUFFIXES:
        if name.endswith(suffix):
            key = name[len(".ferry-") : -len(suffix)]
            return len(key) == PARTIAL_KEY_LENGTH and all(c in "0123456789abcdef" for c in key)
    return False


def is_partial_artifact(name: str) -> bool:
    """Whether ``name`` is one of Ferry's own in-progress files on a file-system target."""
    return name.startswith(".ferry-") and _is_ferry_artifact(name)


KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB
TIB = 1024 * GIB

# Linux NAME_MAX and PATH_MAX; the depth bound keeps a hostile tree from exhausting the stack
# of tools that walk the copy later.
POSIX = NamingProfile("posix", max_component_bytes=255, max_path_bytes=4095, max_depth=2048)

# Azure Blob Storage (block blobs, flat namespace). A blob name is 1 to 1,024 characters
# (counted here as UTF-16 code units, the service's string length) in at most 254 path
# segments; control characters (0x00-0x1F, U+0081, ...) are not allowed; and names or
# segments ending with a dot are to be avoided: the service strips the dot, so "a." would
# become "a". There is no separate segment limit. A block blob holds at most 50,000 blocks of
# 4,000 MiB (about 190.7 TiB).
BLOB = NamingProfile(
    "blob",
    max_component_bytes=1024,
    max_path_bytes=1024,
    max_depth=254,
    unit=LengthUnit.UTF16,
    forbidden_characters=CONTROL_CHARACTERS,
    unicode_only=True,
    no_trailing_dot=True,
    max_file_bytes=50_000 * 4000 * MIB,
)

# Amazon S3 and S3-compatible stores. A key is at most 1,024 bytes of UTF-8, prefixes and
# delimiters included; control characters (0x00-0x1F, 0x7F and the C1 range) need special
# handling in XML listings and many tools, so they are refused. S3 has no depth limit of its
# own: 512 one-byte segments and their slashes already fill 1,023 bytes. The maximum object
# size is 5 TiB, the limit S3-compatible stores share (AWS itself has since raised it to
# 48.8 TiB, 10,000 parts of 5 GiB).
S3 = NamingProfile(
    "s3",
    max_component_bytes=1024,
    max_path_bytes=1024,
    max_depth=512,
    unit=LengthUnit.BYTES,
    forbidden_characters=CONTROL_CHARACTERS,
    unicode_only=True,
    max_file_bytes=5 * TIB,
)

_DEVICE_NAMES = frozenset(
    {"con", "prn", "aux", "nul", "clock$"}
    | {f"{port}{digit}" for port in ("com", "lpt") for digit in "0123456789\u00b9\u00b2\u00b3"}
)

# SMB shares, with the limits of Azure Files, the stricter of the SMB targets Ferry writes
# (a Windows server allows paths of 32,767 characters; Azure Files allows 2,048, components
# of 255 and a subdirectory depth of 250, which is applied here to the number of components).
# Characters " * : < > ? | \ and control characters are invalid; Win32 strips a trailing dot
# or space, so a name ending with either could not be created as given (and "..." or ". "
# would become the parent or the directory itself). Device names are reserved with any
# extension: the Win32 list (CON, PRN, AUX, NUL, COM0-COM9, LPT0-LPT9, COM¹²³, LPT¹²³) plus
# Azure Files' CLOCK$. Names are case-preserving and case-insensitive. Azure Files files are
# at most 4 TiB.
WINDOWS = NamingProfile(
    "windows",
    max_component_bytes=255,
    max_path_bytes=2048,
    max_depth=250,
    unit=LengthUnit.UTF16,
    forbidden_characters=frozenset('"*:<>?|') | CONTROL_CHARACTERS,
    unicode_only=True,
    no_trailing_dot=True,
    no_trailing_space=True,
    reserved_stems=_DEVICE_NAMES,
    case_insensitive=True,
    max_file_bytes=4 * TIB,
)

# SharePoint in Microsoft 365 and OneDrive ("Invalid file names and file types in OneDrive and SharePoint"). Invalid:
# " * : < > ? / \ |, U+007F (and, conservatively, every control character), leading or
# trailing spaces. Reserved: .lock, CON, PRN, AUX, NUL, COM0-COM9, LPT0-LPT9, desktop.ini
# (exact names, as Microsoft lists them), names starting with ~$, _vti_ anywhere, and "forms"
# as a root-level folder of a library (refused at the root whatever the kind: the profile sees
# paths, not kinds). The whole destination path must be under 400 characters; only the part
# below the target root is known here, so a target inside a site or folder should lower
# max_path_bytes by the length of its own path. No separate component or depth limit: 200
# one-character components already fill 399. Files are at most 250 GB, taken as 250 GiB
# (Microsoft writes "GB"; 250 * 10**9 would be the stricter reading).
SHAREPOINT = NamingProfile(
    "sharepoint",
    max_component_bytes=399,
    max_path_bytes=399,
    max_depth=200,
    unit=LengthUnit.UTF16,
    forbidden_characters=frozenset('"*:<>?|') | CONTROL_CHARACTERS,
    unicode_only=True,
    no_leading_space=True,
    no_trailing_space=True,
    reserved_names=frozenset(
        {".lock", "con", "prn", "aux", "nul", "desktop.ini"}
        | {f"{port}{digit}" for port in ("com", "lpt") for digit in "0123456789"}
    ),
    reserved_prefixes=("~$",),
    reserved_substrings=("_vti_",),
    reserved_root_names=frozenset({"forms"}),
    case_insensitive=True,
    max_file_bytes=250 * GIB,
)

PROFILES: tuple[NamingProfile, ...] = (BLOB, POSIX, S3, SHAREPOINT, WINDOWS)


def profile_by_name(name: str) -> NamingProfile:
    """The profile called ``name`` (case-insensitive); ValueError for an unknown name."""
    wanted = name.strip().lower()
    for profile in PROFILES:
        if profile.name == wanted:
            return profile
    known = ", ".join(p.name for p in PROFILES)
    raise ValueError(f"unknown naming profile {name!r}; known profiles: {known}")
