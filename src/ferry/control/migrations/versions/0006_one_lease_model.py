"""one lease model: a whole job run is the recursive root unit of its run

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-08
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_AT = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("work_units", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("recursive", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    # Runs leased whole under the old protocol: their agents speak a version the server now
    # refuses, so the run goes back to the queue (or ends, when a stop was asked for) and is
    # redone as a root unit by an agent of this version; the redo skips what was copied.
    op.execute(
        "UPDATE job_runs SET status = 'Canceled' WHERE id IN "
        "(SELECT job_run_id FROM job_run_leases) AND status IN ('CancelRequested', 'Canceling')"
    )
    op.execute(
        "UPDATE job_runs SET status = 'Queued' WHERE id IN "
        "(SELECT job_run_id FROM job_run_leases) "
        "AND status NOT IN ('Succeeded', 'Failed', 'Canceled')"
    )
    op.drop_table("job_run_leases")


def downgrade() -> None:
    op.create_table(
        "job_run_leases",
        sa.Column("job_run_id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("lease_id", sa.String(length=36), nullable=False),
        sa.Column("acquired_at", _AT, nullable=False),
        sa.Column("expires_at", _AT, nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_job_run_leases_agent_id_agents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["job_run_id"],
            ["job_runs.id"],
            name=op.f("fk_job_run_leases_job_run_id_job_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("job_run_id", name=op.f("pk_job_run_leases")),
        sa.UniqueConstraint("lease_id", name=op.f("uq_job_run_leases_lease_id")),
    )
    with op.batch_alter_table("job_run_leases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_job_run_leases_agent_id"), ["agent_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_job_run_leases_expires_at"), ["expires_at"], unique=False
        )
    # the old protocol has no root units of whole runs: their runs go back to the queue
    op.execute(
        "UPDATE job_runs SET status = 'Queued' WHERE id IN "
        "(SELECT job_run_id FROM work_units WHERE recursive AND state IN ('queued', 'leased'))"
    )
    op.execute("DELETE FROM work_units WHERE recursive")
    with op.batch_alter_table("work_units", schema=None) as batch_op:
        batch_op.drop_column("recursive")
