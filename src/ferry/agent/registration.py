"""``ferry agent register``: make the key pair, ask the server for a registration, show the
user code, and wait until an admin approves it or it expires."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from ferry.agent.client import AgentClient
from ferry.agent.facts import facts
from ferry.agent.identity import AgentState, Identity
from ferry.protocol import REGISTRATIONS, Registration, RegistrationRequest


class RegistrationFailed(Exception):
    """The registration expired or was refused; the message says what to do."""


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
) -> AgentState:
    identity = Identity.create(data_dir)
    client = AgentClient(server)
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
