"""How agents prove who they are (docs/design.md §8.2).

An approved agent's Ed25519 public key is stored with it. To get a token the agent signs
``METHOD \\n PATH \\n TIMESTAMP \\n NONCE \\n FINGERPRINT`` with its private key; the server
checks the key is an agent's, the timestamp is within ``signature_window_seconds`` of its own
time and the nonce was not used before in that window, then issues a short-lived token stored
only as its sha256 hash. Agent tokens open the agent-protocol routes only; the ARM API looks
its tokens up in ``api_tokens`` alone, so an agent token is unknown there, and the reverse
holds here. Deleting the agent cascades to its identity and tokens: its next call is refused.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Annotated

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ferry.control.arm import ArmError, bad_request
from ferry.control.auth import bearer
from ferry.control.deps import get_session
from ferry.control.models import Agent, AgentIdentity, AgentNonce, AgentToken, utcnow
from ferry.control.settings import Settings
from ferry.control.tokens import hash_token
from ferry.protocol import (
    PROTOCOL_VERSION,
    VERSION_HEADER,
    VERSION_MISMATCH,
    version_mismatch_message,
)

AGENT_TOKEN_PREFIX = "ferryagent_"  # noqa: S105 - a prefix, not a secret
KEY_HEADER = "X-Ferry-Agent-Key"
TIMESTAMP_HEADER = "X-Ferry-Timestamp"
NONCE_HEADER = "X-Ferry-Nonce"
SIGNATURE_HEADER = "X-Ferry-Signature"
PUBLIC_KEY_BYTES = 32
MAX_NONCE_LENGTH = 64


def signed_message(method: str, path: str, timestamp: str, nonce: str, fingerprint: str) -> bytes:
    """What an agent signs (ferry.agent.identity builds the same bytes)."""
    return "\n".join((method.upper(), path, timestamp, nonce, fingerprint)).encode()


def decode_public_key(encoded: str) -> bytes:
    """The raw 32 bytes of a base64 Ed25519 public key (ValueError when it is not one)."""
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("the public key is not base64") from exc
    if len(raw) != PUBLIC_KEY_BYTES:
        raise ValueError(f"an Ed25519 public key has {PUBLIC_KEY_BYTES} bytes, not {len(raw)}")
    Ed25519PublicKey.from_public_bytes(raw)
    return raw


def fingerprint_of(raw_public_key: bytes) -> str:
    return hashlib.sha256(raw_public_key).hexdigest()


def agent_unauthorized(code: str, message: str) -> ArmError:
    return ArmError(401, code, message, headers={"WWW-Authenticate": 'Bearer realm="ferry-agent"'})


@dataclass(frozen=True)
class AgentPrincipal:
    agent_id: int
    name: str
    storage_mover_id: int


def issue_agent_token(
    request: Request, session: Session, settings: Settings
) -> tuple[str, dt.datetime]:
    """Check the signed token request and issue a token; raises the 401 it deserves."""
    headers = request.headers
    fingerprint = headers.get(KEY_HEADER, "")
    stamp = headers.get(TIMESTAMP_HEADER, "")
    nonce = headers.get(NONCE_HEADER, "")
    signature = headers.get(SIGNATURE_HEADER, "")
    if not (fingerprint and stamp and nonce and signature):
        raise agent_unauthorized(
            "SignatureRequired",
            f"A token request must carry the {KEY_HEADER}, {TIMESTAMP_HEADER}, {NONCE_HEADER} "
            f"and {SIGNATURE_HEADER} headers.",
        )
    if len(nonce) > MAX_NONCE_LENGTH:
        raise bad_request("InvalidNonce", f"The nonce is longer than {MAX_NONCE_LENGTH}.")
    identity = session.scalar(
        select(AgentIdentity).where(AgentIdentity.fingerprint == fingerprint.lower())
    )
    if identity is None:
        raise agent_unauthorized(
            "AgentNotRegistered",
            "No registered agent has this key: the agent was unregistered (deleted) or was "
            "never approved. Register it again with 'ferry agent register'.",
        )
    try:
        sent_at = int(stamp)
    except ValueError:
        raise agent_unauthorized("StaleRequest", "The timestamp is not a number.") from None
    if abs(time.time() - sent_at) > settings.signature_window_seconds:
        raise agent_unauthorized(
            "StaleRequest",
            "The request's timestamp is too far from the server's time; check the agent "
            "machine's clock.",
        )
    try:
        Ed25519PublicKey.from_public_bytes(base64.b64decode(identity.public_key)).verify(
            base64.b64decode(signature),
            signed_message(request.method, request.url.path, stamp, nonce, identity.fingerprint),
        )
    except (InvalidSignature, binascii.Error, ValueError):
        raise agent_unauthorized(
            "InvalidSignature", "The request's signature does not match the agent's key."
        ) from None
    now = utcnow()
    session.add(AgentNonce(agent_id=identity.agent_id, nonce=nonce, seen_at=now))
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise agent_unauthorized(
            "ReplayedRequest", "This signed request was already used; sign a new one."
        ) from None
    token = AGENT_TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires = now + dt.timedelta(seconds=settings.agent_token_ttl_seconds)
    session.add(
        AgentToken(
            agent_id=identity.agent_id,
            token_hash=hash_token(token),
            created_at=now,
            expires_at=expires,
        )
    )
    identity.last_seen_at = now
    session.commit()
    return token, expires


def authenticate_agent(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    session: Annotated[Session, Depends(get_session)],
) -> AgentPrincipal:
    """Dependency of the agent-protocol routes: the agent behind an agent token, or 401."""
    if credentials is None:
        raise agent_unauthorized(
            "InvalidAuthenticationToken", "An 'Authorization: Bearer <agent token>' is required."
        )
    row = session.execute(
        select(AgentToken, Agent)
        .join(Agent, Agent.id == AgentToken.agent_id)
        .where(AgentToken.token_hash == hash_token(credentials.credentials))
    ).first()
    if row is None:
        raise agent_unauthorized(
            "InvalidAuthenticationToken",
            "The agent token is invalid or was revoked (admin API tokens do not open the "
            "agent protocol).",
        )
    token, agent = row[0], row[1]
    if token.expires_at <= utcnow():
        raise agent_unauthorized("ExpiredAuthenticationToken", "The agent token has expired.")
    return AgentPrincipal(agent.id, agent.name, agent.storage_mover_id)


def current_agent(
    session: Session, principal: AgentPrincipal, *, for_update: bool = False
) -> Agent:
    """The agent row behind ``principal``, or the 401 of an unregistered agent: an agent
    deleted between its token check and this read (another request unregistered it) is as
    gone as one whose token no longer resolves."""
    agent = session.get(Agent, principal.agent_id, with_for_update=for_update)
    if agent is None:
        raise agent_unauthorized(
            "AgentNotRegistered",
            "This agent was unregistered (deleted). Register it again with 'ferry agent register'.",
        )
    return agent


def require_protocol_version(request: Request) -> None:
    """Dependency of every agent-protocol route: an agent that speaks another version of the
    protocol is told which one the server speaks before it takes or changes anything."""
    spoken = request.headers.get(VERSION_HEADER)
    if spoken != str(PROTOCOL_VERSION):
        raise ArmError(400, VERSION_MISMATCH, version_mismatch_message(spoken))
