"""Agent registration (docs/design.md §8.2): the agent asks with its public key and gets a short user
code; an admin approves the code within ``Settings.registration_ttl_seconds``, which creates
the agent resource (agentStatus Registering) and binds the key to it. Until then the request
grants nothing. Codes are stored only as sha256 hashes."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ferry.control import access_policies, work_units
from ferry.control.agent_auth import decode_public_key, fingerprint_of
from ferry.control.arm import ArmError, bad_request, conflict, parent_not_found, provider_prefix
from ferry.control.auth import Principal, forbidden
from ferry.control.models import (
    Agent,
    AgentIdentity,
    AgentRegistration,
    JobDefinition,
    JobRun,
    utcnow,
)
from ferry.control.resources import find_agent, find_mover
from ferry.protocol import ACTIVE_RUN_STATUSES, AgentStatus

# no 0/O, 1/I/L, U: codes are read off a screen and typed
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ23456789"
CODE_LENGTH = 8
PENDING, APPROVED, EXPIRED = "Pending", "Approved", "Expired"
# what an agent reports about itself at registration and in heartbeats
FACT_FIELDS = (
    "agentVersion",
    "localIPAddress",
    "memoryInMB",
    "numberOfCores",
    "uptimeInSeconds",
    "timeZone",
)


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalize_code(code: str) -> str:
    return "".join(ch for ch in code.upper() if ch.isalnum())


def shown_code(code: str) -> str:
    return f"{code[:4]}-{code[4:]}"


def hash_code(code: str) -> str:
    return hashlib.sha256(normalize_code(code).encode()).hexdigest()


def facts_of(given: dict[str, Any]) -> dict[str, Any]:
    return {name: given[name] for name in FACT_FIELDS if given.get(name) is not None}


def current_status(registration: AgentRegistration) -> str:
    if registration.status == PENDING and registration.expires_at <= utcnow():
        return EXPIRED
    return registration.status


def create(
    session: Session,
    *,
    public_key: str,
    subscription: str,
    resource_group: str,
    mover: str,
    agent_name: str,
    facts: dict[str, Any],
    ttl_seconds: float,
    max_pending: int,
) -> tuple[AgentRegistration, str]:
    """A pending registration (committed) and its user code in clear."""
    try:
        decode_public_key(public_key)
    except ValueError as exc:
        raise bad_request("InvalidPublicKey", f"publicKey: {exc}.", target="publicKey") from None
    now = utcnow()
    pending = session.scalar(
        select(func.count())
        .select_from(AgentRegistration)
        .where(AgentRegistration.status == PENDING, AgentRegistration.expires_at > now)
    )
    if (pending or 0) >= max_pending:
        raise ArmError(
            429,
            "TooManyPendingRegistrations",
            f"{pending} agent registrations already wait for approval; approve them or let "
            "them expire, then try again.",
            headers={"Retry-After": "60"},
        )
    for _attempt in range(5):
        code = new_code()
        registration = AgentRegistration(
            id=str(uuid.uuid4()),
            code_hash=hash_code(code),
            public_key=public_key,
            subscription_id=subscription,
            resource_group=resource_group,
            storage_mover=mover,
            agent_name=agent_name,
            facts=facts_of(facts),
            status=PENDING,
            created_at=now,
            expires_at=now + dt.timedelta(seconds=ttl_seconds),
        )
        session.add(registration)
        try:
            session.commit()
        except IntegrityError:  # the same code as another registration: draw again
            session.rollback()
            continue
        return registration, code
    raise conflict("RegistrationConflict", "Could not draw a unique user code; try again.")


def approve(session: Session, code: str, principal: Principal) -> Agent:
    """Approve the pending registration of ``code``: create the agent and bind its key."""
    registration = session.scalar(
        select(AgentRegistration).where(AgentRegistration.code_hash == hash_code(code))
    )
    if registration is None or len(normalize_code(code)) != CODE_LENGTH:
        raise ArmError(
            404,
            "RegistrationNotFound",
            f"No agent registration has the user code '{code}'. Check the code the agent "
            "printed ('ferry agent register' shows it, e.g. ABCD-2345).",
            target="userCode",
        )
    status = current_status(registration)
    if status == APPROVED:
        raise conflict(
            "RegistrationAlreadyApproved",
            f"The registration of agent '{registration.agent_name}' was already approved.",
            target="userCode",
        )
    if status == EXPIRED:
        registration.status = EXPIRED
        session.commit()
        raise bad_request(
            "RegistrationExpired",
            f"The user code '{code}' expired at {registration.expires_at.isoformat()} before "
            "it was approved. Run 'ferry agent register' on the agent again for a new code.",
            target="userCode",
        )
    resource_id = (
        f"{provider_prefix(registration.subscription_id, registration.resource_group)}"
        f"/storageMovers/{registration.storage_mover}/agents/{registration.agent_name}"
    )
    if not principal.can_write or not principal.covers(resource_id):
        raise forbidden(f"The token '{principal.name}' cannot create the agent '{resource_id}'.")
    mover = find_mover(
        session,
        registration.subscription_id,
        registration.resource_group,
        registration.storage_mover,
    )
    if mover is None:
        raise parent_not_found("storage mover", registration.storage_mover)
    if find_agent(session, mover, registration.agent_name) is not None:
        raise conflict(
            "AgentAlreadyRegistered",
            f"Storage mover '{mover.name}' already has an agent named "
            f"'{registration.agent_name}'; unregister it first, or register under another name.",
            target=registration.agent_name,
        )
    raw_key = decode_public_key(registration.public_key)
    now = utcnow()
    name = registration.agent_name
    agent = Agent(
        storage_mover_id=mover.id,
        storage_mover=mover,
        name=name,
        key=name.lower(),
        provisioning_state="Succeeded",
        created_at=now,
        created_by=principal.name,
        created_by_type="User",
        modified_at=now,
        modified_by=principal.name,
        modified_by_type="User",
        arc_resource_id=f"/subscriptions/{mover.subscription_id}/resourceGroups/"
        f"{mover.resource_group}/providers/Microsoft.HybridCompute/machines/{name}",
        arc_vm_uuid=str(uuid.uuid4()),
        agent_status=AgentStatus.REGISTERING,
        properties={**registration.facts, "lastStatusUpdate": now.isoformat()},
    )
    session.add(agent)
    session.flush()
    session.add(
        AgentIdentity(
            agent_id=agent.id,
            fingerprint=fingerprint_of(raw_key),
            public_key=registration.public_key,
            created_at=now,
            last_seen_at=now,
        )
    )
    registration.status = APPROVED
    registration.approved_by = principal.name
    registration.agent_id = agent.id
    try:
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        raise conflict(
            "AgentAlreadyRegistered",
            f"The agent '{name}' or its key was registered by another request meanwhile.",
            target=name,
        ) from exc
    return agent


def unregister(session: Session, agent: Agent) -> None:
    """Delete ``agent`` with its identity and tokens. Its units of pool runs go back to the
    queue and a run given to it alone fails (work_units.release); every stored access policy
    behind its SAS is removed, so its grants end at once. Definitions that name it keep going
    without an agent."""
    work_units.release(session, agent)
    runs = session.scalars(
        select(JobRun).where(
            JobRun.storage_mover_id == agent.storage_mover_id,
            JobRun.status.in_(ACTIVE_RUN_STATUSES),
        )
    )
    for run in runs:
        access_policies.revoke(session, run, agent_id=agent.id)
    session.execute(
        update(JobDefinition).where(JobDefinition.agent_id == agent.id).values(agent_id=None)
    )
    session.delete(agent)
