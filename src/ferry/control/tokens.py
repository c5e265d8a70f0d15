"""API tokens: issued once in clear, stored only as a sha256 hash."""

from __future__ import annotations

import enum
import hashlib
import logging
import os
import secrets
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from ferry.control.models import ApiToken, utcnow

log = logging.getLogger(__name__)

TOKEN_PREFIX = "ferry_"  # noqa: S105 - a prefix, not a secret
ADMIN_TOKEN_NAME = "admin"  # noqa: S105 - a label


class Role(enum.StrEnum):
    OWNER = "Owner"
    CONTRIBUTOR = "Contributor"
    READER = "Reader"


def new_secret() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(
    session: Session,
    *,
    name: str,
    role: Role,
    scope: str | None = None,
    created_by: str | None = None,
) -> tuple[ApiToken, str]:
    """A new token row (added to ``session``, not committed) and the token in clear."""
    secret = new_secret()
    row = ApiToken(
        name=name,
        token_hash=hash_token(secret),
        role=role.value,
        scope=scope.rstrip("/") if scope else None,
        revoked=False,
        created_at=utcnow(),
        created_by=created_by,
    )
    session.add(row)
    return row, secret


def find_token(session: Session, token: str) -> ApiToken | None:
    return session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))


def ensure_admin_token(session: Session, path: Path) -> bool:
    """On a database without tokens, issue an Owner token and write it to ``path`` (0600).

    Returns whether it did. The token itself goes only to the file, never to a log."""
    if session.scalar(select(ApiToken.id).limit(1)) is not None:
        return False
    _row, secret = issue_token(session, name=ADMIN_TOKEN_NAME, role=Role.OWNER)
    write_private(path, secret + "\n")
    session.commit()
    log.warning("first start: wrote an Owner API token to %s (mode 0600)", path)
    return True


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only, never briefly wider."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)  # an existing file keeps its mode through O_CREAT
        os.write(fd, text.encode())
    finally:
        os.close(fd)
