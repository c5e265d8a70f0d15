"""``ferry agent register``: make the key pair, ask the server for a registration, show the
user code, and wait until an admin approves it or it expires."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from ferry.agent.client import AgentClient
from ferry.agent.facts import facts
from ferry.agent.identity import PINNED_CA, AgentState, Identity
from ferry.private_files import write_private
from ferry.protocol import REGISTRATIONS, Registration, RegistrationRequest


class RegistrationFailed(Exception):
    """The registration expired or was refused; the message says what to do."""


def read_ca(ca_file: Path) -> bytes:
    """The PEM certificates in ``ca_file``; RegistrationFailed when it holds none."""
    try:
        data = ca_file.read_bytes()
    except OSError as exc:
        raise RegistrationFailed(f"cannot read the CA file {ca_file}: {exc}") from None
    if b"-----BEGIN CERTIFICATE-----" not in data:
        raise RegistrationFailed(
            f"{ca_file} holds no PEM certificate; give the ca.pem the server printed"
        )
    return data


def register(
    *,
    server: str,
    subscription: str,
    resource_group: str,
    mover: str,
    agent_name: str,
    data_dir: Path,
    show_code: Callable[[str, str], None],
    poll_interval: float = 2.0,
    ca_file: Path | None = None,
) -> AgentState:
    """``ca_file``: the server's CA, kept in the data directory as the only one the agent
    trusts from then on; the user code shown then also proves which server it came from."""
    identity = Identity.create(data_dir)
    pinned = None
    if ca_file is not None:
        pinned = data_dir / PINNED_CA
        write_private(pinned, read_ca(ca_file))
    client = AgentClient(server, ca_file=pinned)
    request = RegistrationRequest(
        public_key=identity.public_key,
        subscription_id=subscription,
        resource_group=resource_group,
        storage_mover=mover,
        agent_name=agent_name,
        facts=facts(client.host),
    )
    answer = Registration.model_validate(client.call("POST", REGISTRATIONS, request.wire()))
    state = AgentState(
        server=client.server,
        subscription_id=subscription,
        resource_group=resource_group,
        storage_mover=mover,
        agent_name=agent_name,
        registration_id=answer.id,
        pinned_ca=pinned is not None,
    )
    state.save(data_dir)
    show_code(str(answer.user_code), answer.expires_at)
    while True:
        time.sleep(poll_interval)
        polled = client.call("GET", f"{REGISTRATIONS}/{state.registration_id}")
        status = Registration.model_validate(polled).status
        if status == "Approved":
            state.approved = True
            state.save(data_dir)
            return state
        if status == "Expired":
            raise RegistrationFailed(
                "the user code expired before an admin approved it (by default codes are "
                "valid for 15 minutes); run 'ferry agent register' again for a new code"
            )
