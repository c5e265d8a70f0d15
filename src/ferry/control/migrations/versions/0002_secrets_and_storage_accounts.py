"""secret store and storage-account registry

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "secrets",
        sa.Column("name", sa.String(length=127), nullable=False),
        sa.Column("key", sa.String(length=127), nullable=False),
        sa.Column("nonce", sa.LargeBinary(length=12), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_secrets")),
        sa.UniqueConstraint("key", name=op.f("uq_secrets_key")),
    )
    op.create_table(
        "master_key_check",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("nonce", sa.LargeBinary(length=12), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_master_key_check")),
    )
    op.create_table(
        "storage_accounts",
        sa.Column("subscription_id", sa.String(length=90), nullable=False),
        sa.Column("subscription_key", sa.String(length=90), nullable=False),
        sa.Column("resource_group", sa.String(length=90), nullable=False),
        sa.Column("resource_group_key", sa.String(length=90), nullable=False),
        sa.Column("location", sa.String(length=90), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("blob_endpoint", sa.String(length=1024), nullable=False),
        sa.Column("account_key_secret_uri", sa.String(length=1024), nullable=False),
        sa.Column("account_key_secret_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=90), nullable=False),
        sa.Column("key", sa.String(length=90), nullable=False),
        sa.Column("provisioning_state", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_by_type", sa.String(length=20), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified_by", sa.String(length=200), nullable=False),
        sa.Column("modified_by_type", sa.String(length=20), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_key_secret_id"],
            ["secrets.id"],
            name=op.f("fk_storage_accounts_account_key_secret_id_secrets"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_storage_accounts")),
        sa.UniqueConstraint(
            "subscription_key",
            "resource_group_key",
            "key",
            name=op.f("uq_storage_accounts_subscription_key"),
        ),
    )
    with op.batch_alter_table("storage_accounts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_storage_accounts_account_key_secret_id"),
            ["account_key_secret_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_storage_accounts_subscription_key"), ["subscription_key"], unique=False
        )

    op.create_table(
        "endpoint_secrets",
        sa.Column("endpoint_id", sa.Integer(), nullable=False),
        sa.Column("field", sa.String(length=40), nullable=False),
        sa.Column("secret_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["endpoints.id"],
            name=op.f("fk_endpoint_secrets_endpoint_id_endpoints"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["secret_id"], ["secrets.id"], name=op.f("fk_endpoint_secrets_secret_id_secrets")
        ),
        sa.PrimaryKeyConstraint("endpoint_id", "field", name=op.f("pk_endpoint_secrets")),
    )
    with op.batch_alter_table("endpoint_secrets", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_endpoint_secrets_secret_id"), ["secret_id"], unique=False
        )

    op.create_table(
        "endpoint_storage_accounts",
        sa.Column("endpoint_id", sa.Integer(), nullable=False),
        sa.Column("storage_account_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["endpoints.id"],
            name=op.f("fk_endpoint_storage_accounts_endpoint_id_endpoints"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["storage_account_id"],
            ["storage_accounts.id"],
            name=op.f("fk_endpoint_storage_accounts_storage_account_id_storage_accounts"),
        ),
        sa.PrimaryKeyConstraint("endpoint_id", name=op.f("pk_endpoint_storage_accounts")),
    )
    with op.batch_alter_table("endpoint_storage_accounts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_endpoint_storage_accounts_storage_account_id"),
            ["storage_account_id"],
            unique=False,
        )


def downgrade() -> None:
    for index, table in (
        ("ix_endpoint_storage_accounts_storage_account_id", "endpoint_storage_accounts"),
        ("ix_endpoint_secrets_secret_id", "endpoint_secrets"),
        ("ix_storage_accounts_subscription_key", "storage_accounts"),
        ("ix_storage_accounts_account_key_secret_id", "storage_accounts"),
    ):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(batch_op.f(index))
    for table in (
        "endpoint_storage_accounts",
        "endpoint_secrets",
        "storage_accounts",
        "master_key_check",
        "secrets",
    ):
        op.drop_table(table)
