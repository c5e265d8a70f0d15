"""agent pools, jobDefinitions.agent_pool_id, work units

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-16
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_AT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "agent_pools",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=90), nullable=False),
        sa.Column("key", sa.String(length=90), nullable=False),
        sa.Column("provisioning_state", sa.String(length=20), nullable=False),
        sa.Column("created_at", _AT, nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_by_type", sa.String(length=20), nullable=False),
        sa.Column("modified_at", _AT, nullable=False),
        sa.Column("modified_by", sa.String(length=200), nullable=False),
        sa.Column("modified_by_type", sa.String(length=20), nullable=False),
        sa.Column("storage_mover_id", sa.Integer(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["storage_mover_id"],
            ["storage_movers.id"],
            name=op.f("fk_agent_pools_storage_mover_id_storage_movers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_pools")),
        sa.UniqueConstraint(
            "storage_mover_id", "key", name=op.f("uq_agent_pools_storage_mover_id")
        ),
    )
    with op.batch_alter_table("agent_pools", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_agent_pools_storage_mover_id"), ["storage_mover_id"], unique=False
        )

    op.create_table(
        "agent_pool_members",
        sa.Column("pool_id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_agent_pool_members_agent_id_agents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["pool_id"],
            ["agent_pools.id"],
            name=op.f("fk_agent_pool_members_pool_id_agent_pools"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pool_id", "agent_id", name=op.f("pk_agent_pool_members")),
    )
    with op.batch_alter_table("agent_pool_members", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_agent_pool_members_agent_id"), ["agent_id"], unique=False
        )

    with op.batch_alter_table("job_definitions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("agent_pool_id", sa.Integer(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_job_definitions_agent_pool_id"), ["agent_pool_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_job_definitions_agent_pool_id_agent_pools"),
            "agent_pools",
            ["agent_pool_id"],
            ["id"],
        )

    op.create_table(
        "work_units",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_run_id", sa.Integer(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column("lease_id", sa.String(length=36), nullable=True),
        sa.Column("expires_at", _AT, nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("counters", sa.JSON(), nullable=False),
        sa.Column("error", sa.JSON(), nullable=True),
        sa.Column("created_at", _AT, nullable=False),
        sa.Column("finished_at", _AT, nullable=True),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_work_units_agent_id_agents"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["job_run_id"],
            ["job_runs.id"],
            name=op.f("fk_work_units_job_run_id_job_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_units")),
        sa.UniqueConstraint("lease_id", name=op.f("uq_work_units_lease_id")),
    )
    with op.batch_alter_table("work_units", schema=None) as batch_op:
        for column in ("agent_id", "expires_at", "job_run_id", "state"):
            batch_op.create_index(batch_op.f(f"ix_work_units_{column}"), [column], unique=False)


def downgrade() -> None:
    op.drop_table("work_units")
    with op.batch_alter_table("job_definitions", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_job_definitions_agent_pool_id_agent_pools"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_job_definitions_agent_pool_id"))
        batch_op.drop_column("agent_pool_id")
    op.drop_table("agent_pool_members")
    op.drop_table("agent_pools")
