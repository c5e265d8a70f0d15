"""The control plane's tables (SQLAlchemy 2, typed). Schema changes go through migrations/.

Subscriptions and resource groups are plain namespaces: columns of the storage mover, not
tables. Names are kept as first written (ids echo them) next to a lower-case ``key`` that
uniqueness and look-ups use, because ARM names are case-insensitive.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from ferry.protocol import AgentStatus

NAME_LENGTH = 90
ID_LENGTH = 1024
SECRET_NAME_LENGTH = 127


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UtcDateTime(TypeDecorator[dt.datetime]):
    """Aware UTC datetimes on every database (SQLite hands back naive ones otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.UTC)

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    type_annotation_map = {dt.datetime: UtcDateTime, dict[str, Any]: JSON}


class IntegerKeyed:
    """A table with an integer primary key (what keyset paging walks)."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True)


class ArmResource(IntegerKeyed):
    """Columns every ARM resource has: its name and the systemData/provisioningState fields."""

    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    key: Mapped[str] = mapped_column(String(NAME_LENGTH))
    provisioning_state: Mapped[str] = mapped_column(String(20), default="Succeeded")
    created_at: Mapped[dt.datetime]
    created_by: Mapped[str] = mapped_column(String(200))
    created_by_type: Mapped[str] = mapped_column(String(20))
    modified_at: Mapped[dt.datetime]
    modified_by: Mapped[str] = mapped_column(String(200))
    modified_by_type: Mapped[str] = mapped_column(String(20))


class StorageMover(ArmResource, Base):
    __tablename__ = "storage_movers"
    __table_args__ = (UniqueConstraint("subscription_key", "resource_group_key", "key"),)

    subscription_id: Mapped[str] = mapped_column(String(NAME_LENGTH))
    subscription_key: Mapped[str] = mapped_column(String(NAME_LENGTH), index=True)
    resource_group: Mapped[str] = mapped_column(String(NAME_LENGTH))
    resource_group_key: Mapped[str] = mapped_column(String(NAME_LENGTH))
    location: Mapped[str] = mapped_column(String(NAME_LENGTH))
    tags: Mapped[dict[str, Any]] = mapped_column(default=dict)
    description: Mapped[str | None] = mapped_column(Text)


class MoverChild(ArmResource):
    storage_mover_id: Mapped[int] = mapped_column(
        ForeignKey("storage_movers.id", ondelete="CASCADE"), index=True
    )


class Agent(MoverChild, Base):
    """Agents are created by registration (docs/design.md §8.2), never by the ARM API."""

    __tablename__ = "agents"
    __table_args__ = (UniqueConstraint("storage_mover_id", "key"),)

    description: Mapped[str | None] = mapped_column(Text)
    arc_resource_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    arc_vm_uuid: Mapped[str] = mapped_column(String(64))
    agent_status: Mapped[str] = mapped_column(String(20), default=AgentStatus.OFFLINE.value)
    # agent-reported telemetry and the upload-limit schedule, in wire (camelCase) form
    properties: Mapped[dict[str, Any]] = mapped_column(default=dict)
    storage_mover: Mapped[StorageMover] = relationship()


class AgentPool(MoverChild, Base):
    """Ferry extension: agents of one storage mover that share the work units of a run."""

    __tablename__ = "agent_pools"
    __table_args__ = (UniqueConstraint("storage_mover_id", "key"),)

    description: Mapped[str | None] = mapped_column(Text)
    storage_mover: Mapped[StorageMover] = relationship()
    members: Mapped[list[AgentPoolMember]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="AgentPoolMember.position"
    )


class AgentPoolMember(Base):
    """An agent in a pool (an unregistered agent leaves its pools)."""

    __tablename__ = "agent_pool_members"

    pool_id: Mapped[int] = mapped_column(
        ForeignKey("agent_pools.id", ondelete="CASCADE"), primary_key=True
    )
    agent_id: Mapped[int] = mapped_column(
        ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    position: Mapped[int] = mapped_column(Integer)

    agent: Mapped[Agent] = relationship()


class Endpoint(MoverChild, Base):
    __tablename__ = "endpoints"
    __table_args__ = (UniqueConstraint("storage_mover_id", "key"),)

    endpoint_type: Mapped[str] = mapped_column(String(40))
    endpoint_kind: Mapped[str | None] = mapped_column(String(10))
    description: Mapped[str | None] = mapped_column(Text)
    # the type-specific properties in wire (camelCase) form
    properties: Mapped[dict[str, Any]] = mapped_column(default=dict)
    storage_mover: Mapped[StorageMover] = relationship()
    # what the references in ``properties`` resolved to (kept in step by ferry.control.references)
    secret_links: Mapped[list[EndpointSecret]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True
    )
    account_link: Mapped[EndpointStorageAccount | None] = relationship(
        cascade="all, delete-orphan", passive_deletes=True
    )


class Project(MoverChild, Base):
    __tablename__ = "projects"
    __table_args__ = (UniqueConstraint("storage_mover_id", "key"),)

    description: Mapped[str | None] = mapped_column(Text)
    storage_mover: Mapped[StorageMover] = relationship()


class JobDefinition(ArmResource, Base):
    __tablename__ = "job_definitions"
    __table_args__ = (UniqueConstraint("project_id", "key"),)

    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    # no ON DELETE action: an endpoint or agent in use cannot go (the API answers 409 first)
    source_endpoint_id: Mapped[int] = mapped_column(ForeignKey("endpoints.id"), index=True)
    target_endpoint_id: Mapped[int] = mapped_column(ForeignKey("endpoints.id"), index=True)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"), index=True)
    # Ferry extension: the pool whose agents share the runs' work units (instead of an agent)
    agent_pool_id: Mapped[int | None] = mapped_column(ForeignKey("agent_pools.id"), index=True)
    description: Mapped[str | None] = mapped_column(Text)
    job_type: Mapped[str] = mapped_column(String(20))
    copy_mode: Mapped[str] = mapped_column(String(20))
    source_subpath: Mapped[str | None] = mapped_column(Text)
    target_subpath: Mapped[str | None] = mapped_column(Text)
    data_integrity_validation: Mapped[str] = mapped_column(String(20))
    preserve_permissions: Mapped[bool] = mapped_column(Boolean)
    connections: Mapped[list[str] | None] = mapped_column(JSON)
    schedule: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    project: Mapped[Project] = relationship()
    source: Mapped[Endpoint] = relationship(foreign_keys=[source_endpoint_id])
    target: Mapped[Endpoint] = relationship(foreign_keys=[target_endpoint_id])
    agent: Mapped[Agent | None] = relationship()
    agent_pool: Mapped[AgentPool | None] = relationship()


class JobRun(ArmResource, Base):
    __tablename__ = "job_runs"
    __table_args__ = (UniqueConstraint("job_definition_id", "key"),)

    job_definition_id: Mapped[int] = mapped_column(
        ForeignKey("job_definitions.id", ondelete="CASCADE"), index=True
    )
    # denormalized so that "active runs in this mover" is one indexed count
    storage_mover_id: Mapped[int] = mapped_column(
        ForeignKey("storage_movers.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(30), index=True)
    trigger_type: Mapped[str] = mapped_column(String(20))
    scheduled_execution_time: Mapped[dt.datetime | None]
    last_status_update: Mapped[dt.datetime | None]
    # snapshots taken at start, in wire form: sourceProperties, targetProperties, ...
    properties: Mapped[dict[str, Any]] = mapped_column(default=dict)

    job_definition: Mapped[JobDefinition] = relationship()


class Secret(IntegerKeyed, Base):
    """A secret of the secret store, AES-256-GCM encrypted (see ferry.control.secrets)."""

    __tablename__ = "secrets"

    name: Mapped[str] = mapped_column(String(SECRET_NAME_LENGTH))
    key: Mapped[str] = mapped_column(String(SECRET_NAME_LENGTH), unique=True)
    nonce: Mapped[bytes] = mapped_column(LargeBinary(12))
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime]
    created_by: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[dt.datetime]
    updated_by: Mapped[str] = mapped_column(String(200))


class EndpointSecret(Base):
    """An endpoint's ``credentials.<field>`` names this secret (which then cannot go)."""

    __tablename__ = "endpoint_secrets"

    endpoint_id: Mapped[int] = mapped_column(
        ForeignKey("endpoints.id", ondelete="CASCADE"), primary_key=True
    )
    field: Mapped[str] = mapped_column(String(40), primary_key=True)
    secret_id: Mapped[int] = mapped_column(ForeignKey("secrets.id"), index=True)

    secret: Mapped[Secret] = relationship()


class EndpointStorageAccount(Base):
    """The account an AzureStorageBlobContainer endpoint's storageAccountResourceId names."""

    __tablename__ = "endpoint_storage_accounts"

    endpoint_id: Mapped[int] = mapped_column(
        ForeignKey("endpoints.id", ondelete="CASCADE"), primary_key=True
    )
    storage_account_id: Mapped[int] = mapped_column(ForeignKey("storage_accounts.id"), index=True)

    storage_account: Mapped[StorageAccount] = relationship()


class MasterKeyCheck(Base):
    """A known text sealed with the master key: a replica started with another key notices."""

    __tablename__ = "master_key_check"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    nonce: Mapped[bytes] = mapped_column(LargeBinary(12))
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime]


class StorageAccount(ArmResource, Base):
    """Ferry's registry of ``Microsoft.Storage/storageAccounts``: where the blob service is
    and which secret holds the account key."""

    __tablename__ = "storage_accounts"
    __table_args__ = (UniqueConstraint("subscription_key", "resource_group_key", "key"),)

    subscription_id: Mapped[str] = mapped_column(String(NAME_LENGTH))
    subscription_key: Mapped[str] = mapped_column(String(NAME_LENGTH), index=True)
    resource_group: Mapped[str] = mapped_column(String(NAME_LENGTH))
    resource_group_key: Mapped[str] = mapped_column(String(NAME_LENGTH))
    location: Mapped[str] = mapped_column(String(NAME_LENGTH))
    tags: Mapped[dict[str, Any]] = mapped_column(default=dict)
    blob_endpoint: Mapped[str] = mapped_column(String(ID_LENGTH))
    # the reference as given (ferry:secrets/NAME or a Key Vault URI) and what it resolved to
    account_key_secret_uri: Mapped[str] = mapped_column(String(ID_LENGTH))
    account_key_secret_id: Mapped[int] = mapped_column(ForeignKey("secrets.id"), index=True)

    account_key_secret: Mapped[Secret] = relationship()


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # sha256 of the token: the token itself is never stored
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    # a resource id prefix the token is limited to; None = everything
    scope: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime]
    created_by: Mapped[str | None] = mapped_column(String(200))


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(index=True)
    principal: Mapped[str | None] = mapped_column(String(200))
    token_id: Mapped[int | None] = mapped_column(Integer)
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(ID_LENGTH))
    status_code: Mapped[int] = mapped_column(Integer)
    result: Mapped[str] = mapped_column(String(20))
    client_request_id: Mapped[str | None] = mapped_column(String(100))
    # what the response said in x-ms-request-id and x-ms-correlation-request-id
    request_id: Mapped[str | None] = mapped_column(String(36))
    correlation_request_id: Mapped[str | None] = mapped_column(String(100))


class AsyncOperation(Base):
    __tablename__ = "async_operations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    subscription_key: Mapped[str] = mapped_column(String(NAME_LENGTH))
    resource_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    action: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    start_time: Mapped[dt.datetime]
    end_time: Mapped[dt.datetime | None]
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON)


# --------------------------------------------------------------------------------------------
# The agent protocol (ferry.control.agent_auth, ferry.control.work_units)


class AgentRegistration(Base):
    """A registration an agent asked for; it grants nothing until an admin approves its code."""

    __tablename__ = "agent_registrations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    # sha256 of the normalized user code: the code itself is never stored
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    public_key: Mapped[str] = mapped_column(String(64))
    subscription_id: Mapped[str] = mapped_column(String(NAME_LENGTH))
    resource_group: Mapped[str] = mapped_column(String(NAME_LENGTH))
    storage_mover: Mapped[str] = mapped_column(String(NAME_LENGTH))
    agent_name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    facts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)
    approved_by: Mapped[str | None] = mapped_column(String(200))
    agent_id: Mapped[int | None] = mapped_column(
        ForeignKey("agents.id", ondelete="SET NULL"), index=True
    )


class AgentIdentity(Base):
    """An approved agent's public key; deleting the agent deletes it (and so revokes it)."""

    __tablename__ = "agent_identities"

    agent_id: Mapped[int] = mapped_column(
        ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True
    )
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    public_key: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime]
    last_seen_at: Mapped[dt.datetime | None] = mapped_column(index=True)

    agent: Mapped[Agent] = relationship()


class AgentToken(Base):
    """A short-lived agent token, stored only as its sha256 hash."""

    __tablename__ = "agent_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)


class AgentNonce(Base):
    """Nonces of signed agent requests seen within the timestamp window (replay guard)."""

    __tablename__ = "agent_nonces"

    agent_id: Mapped[int] = mapped_column(
        ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True
    )
    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    seen_at: Mapped[dt.datetime] = mapped_column(index=True)


class CopyLogChunk(Base):
    """A piece of a job run's copy log (JSON lines, whole lines only) as an agent shipped it.
    ``stream`` is the lease the agent wrote it under, ``start``/``end`` its byte range in that
    stream; the log of a run is its chunks in ``id`` order."""

    __tablename__ = "copy_log_chunks"
    __table_args__ = (UniqueConstraint("job_run_id", "stream", "start"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_run_id: Mapped[int] = mapped_column(
        ForeignKey("job_runs.id", ondelete="CASCADE"), index=True
    )
    stream: Mapped[str] = mapped_column(String(36))
    start: Mapped[int] = mapped_column(BigInteger)
    end: Mapped[int] = mapped_column(BigInteger)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime]


class WorkUnit(Base):
    """One directory of a job run (docs/design.md §5, ferry.control.work_units): the whole
    subtree (``recursive``, a run given to one agent) or one level of it (a unit of a pool
    run). Queued, leased by an agent until ``expires_at``, then done, failed or canceled.
    ``counters`` are the unit's own: live while leased, joined to the run's when it ends."""

    __tablename__ = "work_units"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_run_id: Mapped[int] = mapped_column(
        ForeignKey("job_runs.id", ondelete="CASCADE"), index=True
    )
    path: Mapped[str] = mapped_column(Text)
    recursive: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[str] = mapped_column(String(20), index=True)
    agent_id: Mapped[int | None] = mapped_column(
        ForeignKey("agents.id", ondelete="SET NULL"), index=True
    )
    lease_id: Mapped[str | None] = mapped_column(String(36), unique=True)
    expires_at: Mapped[dt.datetime | None] = mapped_column(index=True)
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    counters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[dt.datetime]
    finished_at: Mapped[dt.datetime | None]

    job_run: Mapped[JobRun] = relationship()
