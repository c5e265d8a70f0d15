"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("scope", sa.String(length=1024), nullable=True),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    op.create_table(
        "async_operations",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("subscription_key", sa.String(length=90), nullable=False),
        sa.Column("resource_id", sa.String(length=1024), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("start_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_async_operations")),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("principal", sa.String(length=200), nullable=True),
        sa.Column("token_id", sa.Integer(), nullable=True),
        sa.Column("method", sa.String(length=10), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("result", sa.String(length=20), nullable=False),
        sa.Column("client_request_id", sa.String(length=100), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_log_at"), ["at"], unique=False)

    op.create_table(
        "storage_movers",
        sa.Column("subscription_id", sa.String(length=90), nullable=False),
        sa.Column("subscription_key", sa.String(length=90), nullable=False),
        sa.Column("resource_group", sa.String(length=90), nullable=False),
        sa.Column("resource_group_key", sa.String(length=90), nullable=False),
        sa.Column("location", sa.String(length=90), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=90), nullable=False),
        sa.Column("key", sa.String(length=90), nullable=False),
        sa.Column("provisioning_state", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_by_type", sa.String(length=20), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified_by", sa.String(length=200), nullable=False),
        sa.Column("modified_by_type", sa.String(length=20), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_storage_movers")),
        sa.UniqueConstraint(
            "subscription_key",
            "resource_group_key",
            "key",
            name=op.f("uq_storage_movers_subscription_key"),
        ),
    )
    with op.batch_alter_table("storage_movers", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_storage_movers_subscription_key"), ["subscription_key"], unique=False
        )

    op.create_table(
        "agents",
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("arc_resource_id", sa.String(length=1024), nullable=False),
        sa.Column("arc_vm_uuid", sa.String(length=64), nullable=False),
        sa.Column("agent_status", sa.String(length=20), nullable=False),
        sa.Column("properties", sa.JSON(), nullable=False),
        sa.Column("storage_mover_id", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=90), nullable=False),
        sa.Column("key", sa.String(length=90), nullable=False),
        sa.Column("provisioning_state", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_by_type", sa.String(length=20), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified_by", sa.String(length=200), nullable=False),
        sa.Column("modified_by_type", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(
            ["storage_mover_id"],
            ["storage_movers.id"],
            name=op.f("fk_agents_storage_mover_id_storage_movers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agents")),
        sa.UniqueConstraint("storage_mover_id", "key", name=op.f("uq_agents_storage_mover_id")),
    )
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_agents_storage_mover_id"), ["storage_mover_id"], unique=False
        )

    op.create_table(
        "endpoints",
        sa.Column("endpoint_type", sa.String(length=40), nullable=False),
        sa.Column("endpoint_kind", sa.String(length=10), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("properties", sa.JSON(), nullable=False),
        sa.Column("storage_mover_id", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=90), nullable=False),
        sa.Column("key", sa.String(length=90), nullable=False),
        sa.Column("provisioning_state", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_by_type", sa.String(length=20), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified_by", sa.String(length=200), nullable=False),
        sa.Column("modified_by_type", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(
            ["storage_mover_id"],
            ["storage_movers.id"],
            name=op.f("fk_endpoints_storage_mover_id_storage_movers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_endpoints")),
        sa.UniqueConstraint("storage_mover_id", "key", name=op.f("uq_endpoints_storage_mover_id")),
    )
    with op.batch_alter_table("endpoints", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_endpoints_storage_mover_id"), ["storage_mover_id"], unique=False
        )

    op.create_table(
        "projects",
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("storage_mover_id", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=90), nullable=False),
        sa.Column("key", sa.String(length=90), nullable=False),
        sa.Column("provisioning_state", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_by_type", sa.String(length=20), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified_by", sa.String(length=200), nullable=False),
        sa.Column("modified_by_type", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(
            ["storage_mover_id"],
            ["storage_movers.id"],
            name=op.f("fk_projects_storage_mover_id_storage_movers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_projects")),
        sa.UniqueConstraint("storage_mover_id", "key", name=op.f("uq_projects_storage_mover_id")),
    )
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_projects_storage_mover_id"), ["storage_mover_id"], unique=False
        )

    op.create_table(
        "job_definitions",
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("source_endpoint_id", sa.Integer(), nullable=False),
        sa.Column("target_endpoint_id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("job_type", sa.String(length=20), nullable=False),
        sa.Column("copy_mode", sa.String(length=20), nullable=False),
        sa.Column("source_subpath", sa.Text(), nullable=True),
        sa.Column("target_subpath", sa.Text(), nullable=True),
        sa.Column("data_integrity_validation", sa.String(length=20), nullable=False),
        sa.Column("preserve_permissions", sa.Boolean(), nullable=False),
        sa.Column("connections", sa.JSON(), nullable=True),
        sa.Column("schedule", sa.JSON(), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=90), nullable=False),
        sa.Column("key", sa.String(length=90), nullable=False),
        sa.Column("provisioning_state", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_by_type", sa.String(length=20), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified_by", sa.String(length=200), nullable=False),
        sa.Column("modified_by_type", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.id"], name=op.f("fk_job_definitions_agent_id_agents")
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_job_definitions_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["source_endpoint_id"],
            ["endpoints.id"],
            name=op.f("fk_job_definitions_source_endpoint_id_endpoints"),
        ),
        sa.ForeignKeyConstraint(
            ["target_endpoint_id"],
            ["endpoints.id"],
            name=op.f("fk_job_definitions_target_endpoint_id_endpoints"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_definitions")),
        sa.UniqueConstraint("project_id", "key", name=op.f("uq_job_definitions_project_id")),
    )
    with op.batch_alter_table("job_definitions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_job_definitions_agent_id"), ["agent_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_job_definitions_project_id"), ["project_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_job_definitions_source_endpoint_id"),
            ["source_endpoint_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_job_definitions_target_endpoint_id"),
            ["target_endpoint_id"],
            unique=False,
        )

    op.create_table(
        "job_runs",
        sa.Column("job_definition_id", sa.Integer(), nullable=False),
        sa.Column("storage_mover_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=30), nullable=False),
        sa.Column("trigger_type", sa.String(length=20), nullable=False),
        sa.Column("scheduled_execution_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_status_update", sa.DateTime(timezone=True), nullable=True),
        sa.Column("properties", sa.JSON(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=90), nullable=False),
        sa.Column("key", sa.String(length=90), nullable=False),
        sa.Column("provisioning_state", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_by_type", sa.String(length=20), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified_by", sa.String(length=200), nullable=False),
        sa.Column("modified_by_type", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_definition_id"],
            ["job_definitions.id"],
            name=op.f("fk_job_runs_job_definition_id_job_definitions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["storage_mover_id"],
            ["storage_movers.id"],
            name=op.f("fk_job_runs_storage_mover_id_storage_movers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_runs")),
        sa.UniqueConstraint("job_definition_id", "key", name=op.f("uq_job_runs_job_definition_id")),
    )
    with op.batch_alter_table("job_runs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_job_runs_job_definition_id"), ["job_definition_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_job_runs_status"), ["status"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_job_runs_storage_mover_id"), ["storage_mover_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("job_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_job_runs_storage_mover_id"))
        batch_op.drop_index(batch_op.f("ix_job_runs_status"))
        batch_op.drop_index(batch_op.f("ix_job_runs_job_definition_id"))

    op.drop_table("job_runs")
    with op.batch_alter_table("job_definitions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_job_definitions_target_endpoint_id"))
        batch_op.drop_index(batch_op.f("ix_job_definitions_source_endpoint_id"))
        batch_op.drop_index(batch_op.f("ix_job_definitions_project_id"))
        batch_op.drop_index(batch_op.f("ix_job_definitions_agent_id"))

    op.drop_table("job_definitions")
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_projects_storage_mover_id"))

    op.drop_table("projects")
    with op.batch_alter_table("endpoints", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_endpoints_storage_mover_id"))

    op.drop_table("endpoints")
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agents_storage_mover_id"))

    op.drop_table("agents")
    with op.batch_alter_table("storage_movers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_storage_movers_subscription_key"))

    op.drop_table("storage_movers")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_log_at"))

    op.drop_table("audit_log")
    op.drop_table("async_operations")
    op.drop_table("api_tokens")
