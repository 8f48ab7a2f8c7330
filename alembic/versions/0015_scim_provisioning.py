"""SCIM provisioning: tokens, groups and memberships; users created before their first sign-in, deleted
users kept for the ledger (unique e-mail and Entra object id among live accounts only).

scim provisioning

Revision ID: 0015
Revises: 0012
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0015"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NEW_TENANT_TABLES = ("provisioning_tokens", "scim_groups", "scim_group_members")
VISIBLE = (
    "((SELECT current_setting('app.platform_scope', true)) = 'on' "
    "OR organization_id = (SELECT nullif(current_setting('app.organization_id', true), '')::uuid))"
)
ORG_COMMENT = "Owning organization (tenant); row-level security and tenancy scoping filter on it"


def _org_column() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column("organization_id", sa.UUID(), nullable=False, comment=ORG_COMMENT)


def upgrade() -> None:
    op.alter_column(
        "users",
        "azure_ad_id",
        existing_type=sa.String(length=255),
        nullable=True,
        comment="Azure AD Object ID for SSO integration (NULL until the first sign-in)",
        existing_comment="Azure AD Object ID for SSO integration",
    )
    op.alter_column(
        "users", "email", existing_type=sa.String(length=255), comment="Sign-in e-mail (SCIM userName)"
    )
    op.add_column(
        "users",
        sa.Column(
            "scim_profile",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
            comment="SCIM attributes kept as sent: {name, emails, department}",
        ),
    )
    op.add_column(
        "users",
        sa.Column(
            "deleted_at",
            postgresql.TIMESTAMP(timezone=True),
            nullable=True,
            comment="Deleted by provisioning: kept for the ledger, invisible everywhere else",
        ),
    )
    op.create_check_constraint(
        op.f("ck_users_deleted_inactive"), "users", "deleted_at IS NULL OR is_active = false"
    )
    op.drop_constraint(op.f("uq_users_email"), "users", type_="unique")
    op.drop_constraint(op.f("uq_users_azure_ad_id"), "users", type_="unique")
    op.create_index(
        "uq_users_email_live", "users", ["email"], unique=True, postgresql_where=sa.text("deleted_at IS NULL")
    )
    op.create_index(
        "ix_users_lower_email",
        "users",
        [sa.text("lower((email)::text)")],
        unique=False,
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.create_index(
        "uq_users_azure_ad_id_live",
        "users",
        ["azure_ad_id"],
        unique=True,
        postgresql_where=sa.text("deleted_at IS NULL"),
    )

    op.create_table(
        "provisioning_tokens",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        _org_column(),
        sa.Column("token_hash", sa.String(length=64), nullable=False, comment="SHA-256 hex of the token"),
        sa.Column(
            "token_prefix", sa.String(length=16), nullable=False, comment="First characters, to recognise it"
        ),
        sa.Column("issued_by", sa.UUID(), nullable=True, comment="Org admin who issued it (None: operator)"),
        sa.Column(
            "created_at", postgresql.TIMESTAMP(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("last_used_at", postgresql.TIMESTAMP(timezone=True), nullable=True),
        sa.Column("revoked_at", postgresql.TIMESTAMP(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_provisioning_tokens_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["issued_by"],
            ["users.id"],
            name=op.f("fk_provisioning_tokens_issued_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provisioning_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_provisioning_tokens_token_hash")),
        comment="SCIM provisioning bearer tokens (hashed), one live per organization",
    )
    op.create_index(
        op.f("ix_provisioning_tokens_organization_id"),
        "provisioning_tokens",
        ["organization_id"],
        unique=False,
    )
    op.create_table(
        "scim_groups",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        _org_column(),
        sa.Column("display_name", sa.String(length=255), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=True, comment="Entra group object id"),
        sa.Column(
            "created_at", postgresql.TIMESTAMP(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column(
            "updated_at", postgresql.TIMESTAMP(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_scim_groups_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scim_groups")),
        comment="Groups provisioned over SCIM (membership maps to roles and departments)",
    )
    op.create_index(op.f("ix_scim_groups_organization_id"), "scim_groups", ["organization_id"], unique=False)
    op.create_index(
        "ix_scim_groups_org_display_name", "scim_groups", ["organization_id", "display_name"], unique=False
    )
    op.create_table(
        "scim_group_members",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("group_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        _org_column(),
        sa.Column(
            "created_at", postgresql.TIMESTAMP(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["scim_groups.id"],
            name=op.f("fk_scim_group_members_group_id_scim_groups"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_scim_group_members_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_scim_group_members_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scim_group_members")),
        sa.UniqueConstraint("group_id", "user_id", name=op.f("uq_scim_group_members_group_id_user_id")),
        comment="Memberships of provisioned groups",
    )
    op.create_index(
        op.f("ix_scim_group_members_organization_id"), "scim_group_members", ["organization_id"], unique=False
    )
    op.create_index(op.f("ix_scim_group_members_user_id"), "scim_group_members", ["user_id"], unique=False)
    for table in NEW_TENANT_TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tenant_isolation ON {table} TO donatello_app USING {VISIBLE} WITH CHECK {VISIBLE}"
        )
    op.execute(
        "CREATE TRIGGER trg_scim_groups_updated_at BEFORE UPDATE ON scim_groups "
        "FOR EACH ROW EXECUTE FUNCTION set_updated_at()"
    )


def downgrade() -> None:
    op.drop_table("scim_group_members")
    op.drop_table("scim_groups")
    op.drop_table("provisioning_tokens")
    # Deleted accounts would break the plain unique constraints: they go with the feature.
    op.execute("DELETE FROM users WHERE deleted_at IS NOT NULL")
    op.drop_index("uq_users_azure_ad_id_live", table_name="users")
    op.drop_index("ix_users_lower_email", table_name="users")
    op.drop_index("uq_users_email_live", table_name="users")
    op.create_unique_constraint(op.f("uq_users_azure_ad_id"), "users", ["azure_ad_id"])
    op.create_unique_constraint(op.f("uq_users_email"), "users", ["email"])
    op.drop_constraint(op.f("ck_users_deleted_inactive"), "users", type_="check")
    op.drop_column("users", "deleted_at")
    op.drop_column("users", "scim_profile")
    op.execute("UPDATE users SET azure_ad_id = 'unclaimed-' || id WHERE azure_ad_id IS NULL")
    op.alter_column(
        "users",
        "email",
        existing_type=sa.String(length=255),
        comment=None,
        existing_comment="Sign-in e-mail (SCIM userName)",
    )
    op.alter_column(
        "users",
        "azure_ad_id",
        existing_type=sa.String(length=255),
        nullable=False,
        comment="Azure AD Object ID for SSO integration",
        existing_comment="Azure AD Object ID for SSO integration (NULL until the first sign-in)",
    )
