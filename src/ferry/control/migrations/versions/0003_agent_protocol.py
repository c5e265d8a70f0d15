"""agent protocol: registrations, identities, tokens, nonces, job-run leases

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-15
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_AT = sa.DateTime(timezone=True)


def _agent_fk(table: str, ondelete: str = "CASCADE") -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["agent_id"], ["agents.id"], name=op.f(f"fk_{table}_agent_id_agents"), ondelete=ondelete
    )


def _indexes(table: str, *columns: str) -> None:
    with op.batch_alter_table(table, schema=None) as batch_op:
        for column in columns:
            batch_op.create_index(batch_op.f(f"ix_{table}_{column}"), [column], unique=False)


def upgrade() -> None:
    op.create_table(
        "agent_registrations",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("subscription_id", sa.String(length=90), nullable=False),
        sa.Column("resource_group", sa.String(length=90), nullable=False),
        sa.Column("storage_mover", sa.String(length=90), nullable=False),
        sa.Column("agent_name", sa.String(length=90), nullable=False),
        sa.Column("facts", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", _AT, nullable=False),
        sa.Column("expires_at", _AT, nullable=False),
        sa.Column("approved_by", sa.String(length=200), nullable=True),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        _agent_fk("agent_registrations", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_registrations")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_agent_registrations_code_hash")),
    )
    _indexes("agent_registrations", "agent_id", "expires_at")

    op.create_table(
        "agent_identities",
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("created_at", _AT, nullable=False),
        sa.Column("last_seen_at", _AT, nullable=True),
        _agent_fk("agent_identities"),
        sa.PrimaryKeyConstraint("agent_id", name=op.f("pk_agent_identities")),
        sa.UniqueConstraint("fingerprint", name=op.f("uq_agent_identities_fingerprint")),
    )
    _indexes("agent_identities", "last_seen_at")

    op.create_table(
        "agent_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", _AT, nullable=False),
        sa.Column("expires_at", _AT, nullable=False),
        _agent_fk("agent_tokens"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_agent_tokens_token_hash")),
    )
    _indexes("agent_tokens", "agent_id", "expires_at")

    op.create_table(
        "agent_nonces",
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("seen_at", _AT, nullable=False),
        _agent_fk("agent_nonces"),
        sa.PrimaryKeyConstraint("agent_id", "nonce", name=op.f("pk_agent_nonces")),
    )
    _indexes("agent_nonces", "seen_at")

    op.create_table(
        "job_run_leases",
        sa.Column("job_run_id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("lease_id", sa.String(length=36), nullable=False),
        sa.Column("acquired_at", _AT, nullable=False),
        sa.Column("expires_at", _AT, nullable=False),
        _agent_fk("job_run_leases"),
        sa.ForeignKeyConstraint(
            ["job_run_id"],
            ["job_runs.id"],
            name=op.f("fk_job_run_leases_job_run_id_job_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("job_run_id", name=op.f("pk_job_run_leases")),
        sa.UniqueConstraint("lease_id", name=op.f("uq_job_run_leases_lease_id")),
    )
    _indexes("job_run_leases", "agent_id", "expires_at")


def downgrade() -> None:
    for table in (
        "job_run_leases",
        "agent_nonces",
        "agent_tokens",
        "agent_identities",
        "agent_registrations",
    ):
        op.drop_table(table)
