"""copy logs: chunks of each job run's copy log, shipped by agents

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-20
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "copy_log_chunks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_run_id", sa.Integer(), nullable=False),
        sa.Column("stream", sa.String(length=36), nullable=False),
        sa.Column("start", sa.BigInteger(), nullable=False),
        sa.Column("end", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_run_id"],
            ["job_runs.id"],
            name=op.f("fk_copy_log_chunks_job_run_id_job_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_copy_log_chunks")),
        sa.UniqueConstraint(
            "job_run_id", "stream", "start", name=op.f("uq_copy_log_chunks_job_run_id")
        ),
    )
    with op.batch_alter_table("copy_log_chunks", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_copy_log_chunks_job_run_id"), ["job_run_id"], unique=False
        )


def downgrade() -> None:
    op.drop_table("copy_log_chunks")
