"""Deleting and renaming files on a share, for the store and its uploads alike, with the
Windows rule that a READONLY file can be neither deleted nor replaced."""

from __future__ import annotations

import contextlib

from smbprotocol.header import NtStatus

from ferry.storage.errors import StorageError
from ferry.storage.smb import requests as req
from ferry.storage.smb.requests import (
    DELETE,
    DIRECTORY,
    DIRECTORY_FILE,
    NON_DIRECTORY_FILE,
    NORMAL,
    OPEN_REPARSE_POINT,
    READ_ATTRIBUTES,
    READONLY,
    WRITE_ATTRIBUTES,
    error_for,
)
from ferry.storage.smb.wire import Session


def delete(session: Session, smb_path: str, path: str, *, is_dir: bool) -> None:
    """Delete a file or an empty directory; a READONLY one loses the attribute first."""
    kind = DIRECTORY_FILE if is_dir else NON_DIRECTORY_FILE
    opened = req.create(
        smb_path,
        DELETE | READ_ATTRIBUTES | WRITE_ATTRIBUTES,
        options=kind | OPEN_REPARSE_POINT,
    )
    replies = session.run([opened, req.set_info(req.disposition()), req.close()])
    failure = req.first_failure(replies[:2])
    if failure == NtStatus.STATUS_CANNOT_DELETE:
        # READONLY: Windows semantics refuse to delete it until the attribute is cleared.
        cleared = DIRECTORY if is_dir else NORMAL
        replies = session.run(
            [
                opened,
                req.set_info(req.attributes_only(cleared)),
                req.set_info(req.disposition()),
                req.close(),
            ]
        )
        failure = req.first_failure(replies[:3])
    if failure:
        raise error_for(failure, path, "delete")


def rename_over(
    session: Session,
    smb_source: str,
    smb_target: str,
    path: str,
    status: int,
    *,
    attributes: int | None = None,
) -> None:
    """Rename ``smb_source`` over ``smb_target`` after a rename refused with ``status``:
    a read-only target (which Windows will not replace) loses READONLY first and gets it
    back if the rename still fails, so the old file is never lost. ``attributes`` (DOS
    attributes the file should have) are set again once it is at its final name, as
    ``SmbUpload.commit`` does."""
    replies = session.run([req.create(smb_target, READ_ATTRIBUTES | WRITE_ATTRIBUTES), req.close()])
    if replies[0].status or not (req.create_result(replies[0])[2] & READONLY):
        raise error_for(status, path, "rename into place")
    kept = req.create_result(replies[0])[2] & ~READONLY
    session.run(
        [
            req.create(smb_target, WRITE_ATTRIBUTES),
            req.set_info(req.attributes_only(kept or NORMAL)),
            req.close(),
        ]
    )
    again = [] if attributes is None else [req.set_info(req.attributes_only(attributes or NORMAL))]
    replies = session.run(
        [
            req.create(smb_source, DELETE | READ_ATTRIBUTES | WRITE_ATTRIBUTES),
            req.set_info(req.rename_info(smb_target)),
            *again,
            req.close(),
        ]
    )
    failure = req.first_failure(replies[:2])
    if failure:
        with contextlib.suppress(StorageError):
            session.run(
                [
                    req.create(smb_target, WRITE_ATTRIBUTES),
                    req.set_info(req.attributes_only(kept | READONLY)),
                    req.close(),
                ]
            )
        raise error_for(failure, path, "rename into place")
    if again and replies[2].status:
        raise error_for(replies[2].status, path, "set the attributes of")
