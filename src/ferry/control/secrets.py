"""The secret store (docs/design.md §8.4): values sealed with AES-256-GCM under one master key.

Each value gets a random 96-bit nonce and the secret's (lower-case) name as associated data,
so a ciphertext copied onto another secret's row does not open. The master key comes from
``FERRY_MASTER_KEY`` (base64 of 32 bytes) or else ``<data-dir>/master.key``, created at first
start with mode 0600. Values are never returned by the API or written to a log.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import re
import secrets as random
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select
from sqlalchemy.orm import Session

from ferry.control.arm import bad_request
from ferry.control.models import MasterKeyCheck, Secret, utcnow

log = logging.getLogger(__name__)

MASTER_KEY_ENV = "FERRY_MASTER_KEY"
MASTER_KEY_FILE_NAME = "master.key"
KEY_BYTES = 32
NONCE_BYTES = 12
FERRY_URI_PREFIX = "ferry:secrets/"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9-]{1,127}$")
# Where a session finds the store's cipher (sessionmaker(info=...) copies it to every session).
BOX_INFO_KEY = "ferry.secret_box"
_CHECK_NAME = "ferry:master-key-check"
_CHECK_TEXT = b"ferry master key check"


class MasterKeyError(Exception):
    """The master key is missing, malformed, too widely readable, or not this database's."""


class SecretDecryptError(Exception):
    """A stored value did not open: another master key sealed it, or it was tampered with."""


@dataclass(frozen=True)
class Sealed:
    nonce: bytes
    ciphertext: bytes


class SecretBox:
    """Seals and opens values under the master key."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise MasterKeyError(f"The master key must be {KEY_BYTES} bytes, not {len(key)}.")
        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return "SecretBox(<key hidden>)"

    def seal(self, name: str, value: bytes) -> Sealed:
        nonce = os.urandom(NONCE_BYTES)
        return Sealed(nonce, self._aead.encrypt(nonce, value, name.encode()))

    def open(self, name: str, sealed: Sealed) -> bytes:
        try:
            return self._aead.decrypt(sealed.nonce, sealed.ciphertext, name.encode())
        except InvalidTag:
            raise SecretDecryptError(
                f"The secret '{name}' cannot be decrypted: it was sealed with another master "
                f"key (check {MASTER_KEY_ENV} or {MASTER_KEY_FILE_NAME}) or altered."
            ) from None


# --------------------------------------------------------------------------------------------
# The master key


def load_master_key(data_dir: Path, environ: Mapping[str, str] = os.environ) -> bytes:
    """The key from the environment, else from the key file (created if absent)."""
    encoded = environ.get(MASTER_KEY_ENV)
    if encoded is not None:
        return _decode_key(encoded, f"The {MASTER_KEY_ENV} environment variable")
    path = data_dir / MASTER_KEY_FILE_NAME
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return _create_key_file(path)
    except OSError as exc:
        raise MasterKeyError(f"Cannot read the master key file {path}: {exc}.") from exc
    try:
        mode = stat.S_IMODE(os.fstat(fd).st_mode)
        if mode & 0o077:
            raise MasterKeyError(
                f"The master key file {path} is readable by others (mode {mode:04o}); "
                f"run 'chmod 600 {path}' and start again."
            )
        content = os.read(fd, 4096).decode("ascii", errors="replace")
    finally:
        os.close(fd)
    return _decode_key(content, f"The master key file {path}")


def _decode_key(encoded: str, where: str) -> bytes:
    try:
        key = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != KEY_BYTES:
        raise MasterKeyError(
            f"{where} must hold the base64 encoding of {KEY_BYTES} random bytes "
            "(e.g. the output of 'openssl rand -base64 32')."
        )
    return key


def _create_key_file(path: Path) -> bytes:
    key = random.token_bytes(KEY_BYTES)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:  # another process of this data directory made it first
        return load_master_key(path.parent, {})
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, base64.b64encode(key) + b"\n")
    finally:
        os.close(fd)
    log.warning("first start: wrote a new master key for the secret store to %s (mode 0600)", path)
    return key


def check_master_key(session: Session, box: SecretBox) -> None:
    """Record the key on a new database; refuse a key other than the recorded one."""
    check = session.get(MasterKeyCheck, 1)
    if check is None:
        sealed = box.seal(_CHECK_NAME, _CHECK_TEXT)
        session.add(
            MasterKeyCheck(
                id=1, nonce=sealed.nonce, ciphertext=sealed.ciphertext, created_at=utcnow()
            )
        )
        session.commit()
        return
    try:
        box.open(_CHECK_NAME, Sealed(check.nonce, check.ciphertext))
    except SecretDecryptError:
        raise MasterKeyError(
            "The master key is not the one this database's secrets were sealed with: give "
            f"every replica the same key ({MASTER_KEY_ENV} or {MASTER_KEY_FILE_NAME})."
        ) from None


# --------------------------------------------------------------------------------------------
# Names and references


def check_secret_name(name: str) -> None:
    if not NAME_PATTERN.match(name):
        raise bad_request(
            "InvalidSecretName",
            f"The secret name '{name}' is not valid: use 1-127 letters, digits and hyphens.",
            target=name,
        )


def secret_name_of(uri: str) -> str | None:
    """The secret a reference names: ``ferry:secrets/NAME`` or a Key-Vault-shaped
    ``https://HOST/secrets/NAME[/VERSION]`` (the version is ignored); None if neither."""
    if uri.startswith(FERRY_URI_PREFIX):
        name = uri[len(FERRY_URI_PREFIX) :]
    else:
        parts = urlsplit(uri)
        segments = parts.path.strip("/").split("/")
        if (
            parts.scheme.lower() != "https"
            or not parts.netloc
            or len(segments) not in (2, 3)
            or segments[0].lower() != "secrets"
        ):
            return None
        name = segments[1]
    return name if NAME_PATTERN.match(name) else None


def find_secret(session: Session, name: str) -> Secret | None:
    return session.scalar(select(Secret).where(Secret.key == name.lower()))


def require_reference(session: Session, uri: str, target: str) -> Secret:
    """The secret ``uri`` names, or the 400 that says what is wrong with it."""
    name = secret_name_of(uri)
    if name is None:
        raise bad_request(
            "InvalidSecretReference",
            f"'{uri}' is not a secret reference: use {FERRY_URI_PREFIX}NAME or "
            "https://HOST/secrets/NAME.",
            target=target,
        )
    secret = find_secret(session, name)
    if secret is None:
        raise bad_request(
            "SecretNotFound",
            f"The secret '{name}' does not exist; create it with PUT /ferry/v1/secrets/{name}.",
            target=target,
        )
    return secret


# --------------------------------------------------------------------------------------------
# Values


def box_of(session: Session) -> SecretBox:
    box = session.info.get(BOX_INFO_KEY)
    if not isinstance(box, SecretBox):
        raise RuntimeError("this session was not made by the control plane's sessionmaker")
    return box


def store_value(session: Session, secret: Secret, value: str) -> None:
    sealed = box_of(session).seal(secret.key, value.encode())
    secret.nonce = sealed.nonce
    secret.ciphertext = sealed.ciphertext


def reveal(session: Session, secret: Secret) -> str:
    return box_of(session).open(secret.key, Sealed(secret.nonce, secret.ciphertext)).decode()


class SecretReferenceError(Exception):
    """A reference that names no stored secret."""


def resolve_secret(session: Session, uri: str) -> str:
    """The clear value ``uri`` refers to (for handing credentials to an agent's run)."""
    name = secret_name_of(uri)
    secret = find_secret(session, name) if name is not None else None
    if secret is None:
        raise SecretReferenceError(f"'{uri}' does not name a stored secret.")
    return reveal(session, secret)
