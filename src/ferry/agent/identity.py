"""The agent's identity and state in its data directory.

``agent.key``: the Ed25519 private key (PKCS#8 PEM, mode 0600), made at registration and
never sent anywhere. ``agent.json``: the server, the storage mover and agent names, and the
registration id (no secrets; mode 0600 all the same). Store credentials the server hands out
for a run are kept in memory only."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ferry.private_files import write_private

KEY_FILE = "agent.key"
STATE_FILE = "agent.json"
PINNED_CA = "server-ca.pem"  # the server CA given at registration; the only one trusted
KEY_HEADER = "X-Ferry-Agent-Key"
TIMESTAMP_HEADER = "X-Ferry-Timestamp"
NONCE_HEADER = "X-Ferry-Nonce"
SIGNATURE_HEADER = "X-Ferry-Signature"


class IdentityError(Exception):
    """The data directory holds no usable identity; the message says what to run."""


def signed_message(method: str, path: str, timestamp: str, nonce: str, fingerprint: str) -> bytes:
    """What the agent signs (ferry.control.agent_auth checks the same bytes)."""
    return "\n".join((method.upper(), path, timestamp, nonce, fingerprint)).encode()


class Identity:
    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        raw = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.public_key = base64.b64encode(raw).decode()
        self.fingerprint = hashlib.sha256(raw).hexdigest()

    def __repr__(self) -> str:
        return f"Identity(fingerprint={self.fingerprint[:16]}…)"

    @classmethod
    def create(cls, data_dir: Path) -> Identity:
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        write_private(data_dir / KEY_FILE, pem)
        return cls(key)

    @classmethod
    def load(cls, data_dir: Path) -> Identity:
        path = data_dir / KEY_FILE
        try:
            pem = path.read_bytes()
        except FileNotFoundError:
            raise IdentityError(
                f"no agent key in {data_dir}: register the agent first with 'ferry agent "
                "register --server URL --mover NAME --name AGENT'"
            ) from None
        if path.stat().st_mode & 0o077:
            raise IdentityError(f"{path} is readable by others; run 'chmod 600 {path}'")
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise IdentityError(f"{path} does not hold an Ed25519 key")
        return cls(key)

    def sign(self, method: str, path: str) -> dict[str, str]:
        """Headers proving this key signed a request for ``method path`` just now."""
        stamp = str(int(time.time()))
        nonce = secrets.token_hex(16)
        signature = self._key.sign(signed_message(method, path, stamp, nonce, self.fingerprint))
        return {
            KEY_HEADER: self.fingerprint,
            TIMESTAMP_HEADER: stamp,
            NONCE_HEADER: nonce,
            SIGNATURE_HEADER: base64.b64encode(signature).decode(),
        }


@dataclass
class AgentState:
    server: str
    subscription_id: str
    resource_group: str
    storage_mover: str
    agent_name: str
    registration_id: str
    approved: bool = False
    pinned_ca: bool = False  # the server's CA was given at registration and kept (PINNED_CA)

    def ca_file(self, data_dir: Path) -> Path | None:
        """The CA the server's certificate must come from; None: the system's CAs."""
        return data_dir / PINNED_CA if self.pinned_ca else None

    def save(self, data_dir: Path) -> None:
        write_private(data_dir / STATE_FILE, json.dumps(asdict(self), indent=2).encode())

    @classmethod
    def load(cls, data_dir: Path) -> AgentState:
        path = data_dir / STATE_FILE
        try:
            data = json.loads(path.read_text())
            return cls(**data)
        except FileNotFoundError:
            raise IdentityError(
                f"no agent registration in {data_dir}: run 'ferry agent register' first"
            ) from None
        except (ValueError, TypeError) as exc:
            raise IdentityError(f"{path} is damaged ({exc}); register the agent again") from exc
