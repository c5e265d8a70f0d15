"""SMB2 requests and replies of the ``smb`` backend, and what their statuses mean.

Requests are :class:`~ferry.storage.smb.channel.Message` bodies (sent by
:mod:`ferry.storage.smb.wire`, alone or as compounds): the ones every file costs (CREATE, READ,
WRITE, QUERY_INFO, CLOSE) are packed here with ``struct``, the rarer ones with smbprotocol's
structures. Replies are parsed here too: smbprotocol rounds directory-listing times to
microseconds, and SMB keeps 100 ns.

Times are FILETIMEs: creation (Entry.ctime_ns), last access and last write. The DOS attributes
READONLY, HIDDEN, SYSTEM and ARCHIVE travel in ``Entry.metadata["smb_attributes"]`` ("0x21").
"""

from __future__ import annotations

import struct
import types
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from smbprotocol.file_info import (
    FileBasicInformation,
    FileDispositionInformation,
    FileEndOfFileInformation,
    FileRenameInformation,
)
from smbprotocol.header import NtStatus
from smbprotocol.open import SMB2QueryDirectoryRequest, SMB2SetInfoRequest

from ferry.storage.entry import Entry, EntryKind
from ferry.storage.errors import (
    AlreadyExists,
    DirectoryNotEmpty,
    NoSpace,
    NotADirectory,
    NotFound,
    PermissionDenied,
    StorageError,
    StoreIOError,
    Throttled,
    TransientIOError,
)
from ferry.storage.smb.channel import TRANSPORT_ERROR, Message, Reply

ATTRIBUTES_KEY = "smb_attributes"

# DOS attributes
READONLY, HIDDEN, SYSTEM, DIRECTORY, ARCHIVE, NORMAL = 0x1, 0x2, 0x4, 0x10, 0x20, 0x80
REPARSE_POINT = 0x400
KEPT_ATTRIBUTES = READONLY | HIDDEN | SYSTEM | ARCHIVE

# Access rights, share modes, dispositions and options of SMB2 CREATE
READ_DATA, WRITE_DATA, LIST_DIRECTORY = 0x1, 0x2, 0x1
READ_ATTRIBUTES, WRITE_ATTRIBUTES = 0x80, 0x100
DELETE, SYNCHRONIZE = 0x10000, 0x100000
_SHARE_ALL = 0x7  # read, write, delete: never lock others out of a share being migrated
OPEN, OPEN_IF, OVERWRITE_IF = 1, 3, 5
DIRECTORY_FILE, NON_DIRECTORY_FILE = 0x1, 0x40
OPEN_REPARSE_POINT = 0x200000  # open a link itself: never follow it
_IMPERSONATION = 2

RELATED = b"\xff" * 16  # "the handle the CREATE before this one in the compound opened"
_EPOCH_FILETIME = 116_444_736_000_000_000
_SMB2_HEADER = 64

IO_CHUNK = 1 << 20  # bytes per READ or WRITE request
PIPELINE = 4  # READ or WRITE requests one stream keeps in flight
_LIST_BUFFER = 256 << 10  # output buffer of one QUERY_DIRECTORY

_FILE_ID_FULL_DIRECTORY_INFORMATION = 38
_FILE_NETWORK_OPEN_INFORMATION = 34
_RESTART_SCANS = 0x1
_DIR_RECORD = struct.Struct("<IIqqqqqqIIII8s")  # FILE_ID_FULL_DIR_INFORMATION without the name
_TIMES = struct.Struct("<qqqqqqI")  # creation, access, write, change, allocation, EOF, attributes

# NTSTATUS codes smbprotocol does not name
_EXTRA_STATUS_NAMES = {
    0xC0000044: "STATUS_QUOTA_EXCEEDED",
    0xC0000054: "STATUS_FILE_LOCK_CONFLICT",
    0xC0000055: "STATUS_LOCK_NOT_GRANTED",
    0xC00000A2: "STATUS_MEDIA_WRITE_PROTECTED",
    0xC000020C: "STATUS_CONNECTION_DISCONNECTED",
    0xC000020D: "STATUS_CONNECTION_RESET",
    0xC000035C: "STATUS_NETWORK_SESSION_EXPIRED",
    0xC0000072: "STATUS_ACCOUNT_DISABLED",
    0xC0000234: "STATUS_ACCOUNT_LOCKED_OUT",
    0xC000006E: "STATUS_ACCOUNT_RESTRICTION",
    0xC0000193: "STATUS_ACCOUNT_EXPIRED",
    0xC000015B: "STATUS_LOGON_TYPE_NOT_GRANTED",
}
_STATUS_NAMES: dict[int, str] = {
    **{v: k for k, v in vars(NtStatus).items() if k.startswith("STATUS_") and isinstance(v, int)},
    **_EXTRA_STATUS_NAMES,
}
NOT_FOUND = {
    NtStatus.STATUS_OBJECT_NAME_NOT_FOUND,
    NtStatus.STATUS_OBJECT_PATH_NOT_FOUND,
    NtStatus.STATUS_NO_SUCH_FILE,
    NtStatus.STATUS_NOT_FOUND,
    NtStatus.STATUS_DELETE_PENDING,
    NtStatus.STATUS_BAD_NETWORK_NAME,
}
LOGON = {
    NtStatus.STATUS_LOGON_FAILURE,
    NtStatus.STATUS_WRONG_PASSWORD,
    NtStatus.STATUS_PASSWORD_EXPIRED,
    0xC0000072,
    0xC0000234,
    0xC000006E,
    0xC0000193,
    0xC000015B,
}
_STATUS_CLASSES: dict[int, type[StorageError]] = {
    **dict.fromkeys(NOT_FOUND, NotFound),
    **dict.fromkeys(LOGON, PermissionDenied),
    NtStatus.STATUS_ACCESS_DENIED: PermissionDenied,
    NtStatus.STATUS_PRIVILEGE_NOT_HELD: PermissionDenied,
    NtStatus.STATUS_CANNOT_DELETE: PermissionDenied,
    0xC00000A2: PermissionDenied,
    NtStatus.STATUS_OBJECT_NAME_COLLISION: AlreadyExists,
    NtStatus.STATUS_DISK_FULL: NoSpace,
    0xC0000044: NoSpace,
    NtStatus.STATUS_DIRECTORY_NOT_EMPTY: DirectoryNotEmpty,
    NtStatus.STATUS_NOT_A_DIRECTORY: NotADirectory,
    NtStatus.STATUS_INSUFFICIENT_RESOURCES: Throttled,
    NtStatus.STATUS_INSUFF_SERVER_RESOURCES: Throttled,
    NtStatus.STATUS_SHARING_VIOLATION: TransientIOError,
    0xC0000054: TransientIOError,
    0xC0000055: TransientIOError,
    NtStatus.STATUS_IO_TIMEOUT: TransientIOError,
    NtStatus.STATUS_INTERNAL_ERROR: TransientIOError,
    NtStatus.STATUS_UNSUCCESSFUL: TransientIOError,
    NtStatus.STATUS_NETWORK_NAME_DELETED: TransientIOError,
    NtStatus.STATUS_USER_SESSION_DELETED: TransientIOError,
    NtStatus.STATUS_FILE_CLOSED: TransientIOError,
    NtStatus.STATUS_INVALID_HANDLE: TransientIOError,
    NtStatus.STATUS_CANCELLED: TransientIOError,
    NtStatus.STATUS_SERVER_UNAVAILABLE: TransientIOError,
    NtStatus.STATUS_REQUEST_NOT_ACCEPTED: TransientIOError,
    0xC000020C: TransientIOError,
    0xC000020D: TransientIOError,
    0xC000035C: TransientIOError,
}
# Statuses after which the session is worth re-establishing.
SESSION_LOST = {
    NtStatus.STATUS_NETWORK_NAME_DELETED,
    NtStatus.STATUS_USER_SESSION_DELETED,
    0xC000035C,
}
END_OF_LISTING = {NtStatus.STATUS_NO_MORE_FILES, NtStatus.STATUS_NO_SUCH_FILE}
STATUS_END_OF_FILE = NtStatus.STATUS_END_OF_FILE
_STATUS_NAMES[TRANSPORT_ERROR] = "no answer, the connection was lost"
_STATUS_CLASSES[TRANSPORT_ERROR] = TransientIOError


# --------------------------------------------------------------------------------------------
# Statuses and errors


def status_name(status: int) -> str:
    return _STATUS_NAMES.get(status, f"NTSTATUS 0x{status & 0xFFFFFFFF:08x}")


def error_for(status: int, path: str, action: str = "") -> StorageError:
    """The storage error for an NTSTATUS, naming the path (relative to the store root)."""
    cls = _STATUS_CLASSES.get(status, StoreIOError)
    where = path or "/"
    doing = f"{action} " if action else ""
    return cls(f"{doing}{where}: {status_name(status)}", path=path)


# --------------------------------------------------------------------------------------------
# Times, attributes and entries


def to_filetime(ns: int | None) -> int:
    """A FILETIME for nanoseconds since the epoch; 0 ("leave unchanged") for None."""
    if ns is None:
        return 0
    return max(1, ns // 100 + _EPOCH_FILETIME)


def from_filetime(filetime: int) -> int:
    return (filetime - _EPOCH_FILETIME) * 100


_METADATA_CACHE: dict[int, Mapping[str, str]] = {}


def attributes_metadata(attributes: int) -> Mapping[str, str]:
    """``{"smb_attributes": "0x.."}`` for the kept DOS attributes (shared, read-only mappings)."""
    kept = attributes & KEPT_ATTRIBUTES
    found = _METADATA_CACHE.get(kept)
    if found is None:
        found = types.MappingProxyType({ATTRIBUTES_KEY: f"0x{kept:02x}"})
        _METADATA_CACHE[kept] = found
    return found


def attributes_of(entry: Entry) -> int | None:
    """The kept DOS attributes an entry carries in its metadata, or None."""
    if not entry.metadata:
        return None
    value = entry.metadata.get(ATTRIBUTES_KEY)
    if value is None:
        return None
    try:
        return int(value, 16) & KEPT_ATTRIBUTES
    except ValueError:
        return None


def basic_info(entry: Entry, *, is_dir: bool) -> Any:
    """FileBasicInformation with ``entry``'s times and attributes (0: leave unchanged)."""
    info = FileBasicInformation()
    info["creation_time"] = to_filetime(entry.ctime_ns)
    info["last_access_time"] = to_filetime(entry.atime_ns if entry.atime_ns else entry.mtime_ns)
    info["last_write_time"] = to_filetime(entry.mtime_ns)
    info["change_time"] = 0
    attributes = attributes_of(entry)
    if attributes is None:
        info["file_attributes"] = 0
    elif is_dir:
        info["file_attributes"] = attributes | DIRECTORY
    else:
        info["file_attributes"] = attributes or NORMAL
    return info


def entry_of(path: str, times: tuple[int, ...], attributes: int) -> Entry:
    created, accessed, written, size = times
    if attributes & REPARSE_POINT:
        kind, size = EntryKind.SPECIAL, 0  # symlink, junction, other reparse point: not followed
    elif attributes & DIRECTORY:
        kind, size = EntryKind.DIR, 0
    else:
        kind = EntryKind.FILE
    return Entry(
        path,
        kind,
        size,
        from_filetime(written),
        from_filetime(accessed),
        from_filetime(created),
        metadata=attributes_metadata(attributes),
    )


# --------------------------------------------------------------------------------------------
# Replies and requests


_CREATE = struct.Struct("<HBBIQQIIIIIHHII")
_READ = struct.Struct("<HBBIQ16sIIIHHB")
_WRITE = struct.Struct("<HHIQ16sIIHHI")
_QUERY_INFO = struct.Struct("<HBBIHHIII16s")
_CLOSE = struct.Struct("<HHI16s")
_CREATE_NAME_OFFSET = 120  # the header and the fixed part of the CREATE request
_WRITE_DATA_OFFSET = 112
CREATE, CLOSE, READ, WRITE = 0x5, 0x6, 0x8, 0x9
QUERY_DIRECTORY, QUERY_INFO, SET_INFO = 0xE, 0x10, 0x11


def create(
    name: str,
    access: int,
    disposition: int = OPEN,
    options: int = OPEN_REPARSE_POINT,
    attributes: int = 0,
) -> Message:
    path = name.encode("utf-16-le")
    body = _CREATE.pack(
        57,
        0,
        0,  # no oplock: nothing here waits for a break notification
        _IMPERSONATION,
        0,
        0,
        access,
        attributes,
        _SHARE_ALL,
        disposition,
        options,
        _CREATE_NAME_OFFSET,
        len(path),
        0,
        0,
    )
    return Message(CREATE, body + (path or b"\x00\x00"))


def close(file_id: bytes = RELATED) -> Message:
    return Message(CLOSE, _CLOSE.pack(24, 0, 0, file_id))


def read(file_id: bytes, offset: int, length: int) -> Message:
    body = _READ.pack(49, 0x50, 0, length, offset, file_id, 0, 0, 0, 0, 0, 0)
    return Message(READ, body, length)


def write(file_id: bytes, offset: int, data: bytes) -> Message:
    body = _WRITE.pack(49, _WRITE_DATA_OFFSET, len(data), offset, file_id, 0, 0, 0, 0, 0)
    return Message(WRITE, body + data, len(data))


def query_times(file_id: bytes) -> Message:
    body = _QUERY_INFO.pack(41, 1, _FILE_NETWORK_OPEN_INFORMATION, 56, 0, 0, 0, 0, 0, file_id)
    return Message(QUERY_INFO, body)  # 1: SMB2_0_INFO_FILE


def set_info(info: Any, file_id: bytes = RELATED) -> Message:
    message = SMB2SetInfoRequest()
    message["info_type"] = info.INFO_TYPE
    message["file_info_class"] = info.INFO_CLASS
    message["file_id"] = file_id
    message["buffer"] = info
    return Message(SET_INFO, message.pack())


def query_directory(file_id: bytes, *, restart: bool) -> Message:
    message = SMB2QueryDirectoryRequest()
    message["file_information_class"] = _FILE_ID_FULL_DIRECTORY_INFORMATION
    message["flags"] = _RESTART_SCANS if restart else 0
    message["file_index"] = 0
    message["file_id"] = file_id
    message["output_buffer_length"] = _LIST_BUFFER
    message["buffer"] = "*".encode("utf-16-le")
    return Message(QUERY_DIRECTORY, message.pack(), _LIST_BUFFER)


def disposition() -> Any:
    info = FileDispositionInformation()
    info["delete_pending"] = True
    return info


def rename_info(target: str) -> Any:
    info = FileRenameInformation()
    info["replace_if_exists"] = True
    info["root_directory"] = 0
    info["file_name"] = target
    return info


def end_of_file(size: int) -> Any:
    info = FileEndOfFileInformation()
    info["end_of_file"] = size
    return info


def attributes_only(attributes: int) -> Any:
    info = FileBasicInformation()
    for field in ("creation_time", "last_access_time", "last_write_time", "change_time"):
        info[field] = 0
    info["file_attributes"] = attributes
    return info


# --------------------------------------------------------------------------------------------
# Decoding replies


def create_result(reply: Reply) -> tuple[bytes, tuple[int, int, int, int], int]:
    """File id, (creation, access, write, end of file) and attributes of a CREATE reply."""
    created, accessed, written, _changed, _allocated, size, attributes = _TIMES.unpack_from(
        reply.data, 8
    )
    return reply.data[64:80], (created, accessed, written, size), attributes


def output_buffer(reply: Reply) -> bytes:
    """The output buffer of a QUERY_DIRECTORY or QUERY_INFO reply."""
    offset, length = struct.unpack_from("<HI", reply.data, 2)
    start = offset - _SMB2_HEADER
    return reply.data[start : start + length]


def read_data(reply: Reply) -> bytes:
    offset = reply.data[2]
    (length,) = struct.unpack_from("<I", reply.data, 4)
    start = offset - _SMB2_HEADER
    return reply.data[start : start + length]


def directory_records(buffer: bytes) -> Iterator[tuple[str, int, int, int, int, int]]:
    """(name, creation, access, write, end of file, attributes) of a listing buffer."""
    size = _DIR_RECORD.size
    position = 0
    while True:
        (
            next_offset,
            _index,
            created,
            accessed,
            written,
            _changed,
            end_of_file,
            _allocated,
            attributes,
            name_length,
            _ea_size,
            _reserved,
            _file_id,
        ) = _DIR_RECORD.unpack_from(buffer, position)
        raw = buffer[position + size : position + size + name_length]
        try:
            name = raw.decode("utf-16-le")
        except UnicodeDecodeError:  # unpaired surrogates: Windows allows them, Python cannot
            name = raw.decode("utf-16-le", "replace")
        if name not in (".", ".."):
            yield name, created, accessed, written, end_of_file, attributes
        if not next_offset:
            return
        position += next_offset


def first_failure(replies: Sequence[Reply]) -> int:
    return next((r.status for r in replies if r.status), 0)


def times_of(info: bytes) -> tuple[int, int]:
    """(write time, end of file) of FILE_NETWORK_OPEN_INFORMATION: what tells whether a file
    changed while it was read. Not the access time, which the read itself changes, nor the
    creation time, which Samba derives from the earliest of the file's times where the file
    system keeps none, so that it moves when a read updates the access time."""
    _created, _accessed, written, _changed, _allocated, size, _attributes = _TIMES.unpack_from(info)
    return written, size
