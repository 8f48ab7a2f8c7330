"""Organizations own their e-mail domains, platform administrators live outside tenants, and a sign-in
remembers whether it proved MFA.

* ``organizations.email_domains``: the domains an organization owns besides its primary ``domain`` (people
  are created only at those); ``organizations.is_platform``: the one organization holding the platform's
  administrators.
* ``users`` e-mail and Entra object id are unique within an organization (they were unique across all
  tenants, so one tenant could take another's address and learn which addresses exist).
* ``user_sessions.mfa_satisfied``: whether the Entra sign-in behind a session met its organization's MFA
  rule (NULL when the sign-in says nothing about MFA).

tenants own their domains

Revision ID: 0024
Revises: 0021
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE = sa.text("deleted_at IS NULL")


def upgrade() -> None:
    op.add_column(
        "organizations",
        sa.Column(
            "email_domains",
            postgresql.ARRAY(sa.String(length=255)),
            server_default=sa.text("'{}'::varchar[]"),
            nullable=False,
            comment="E-mail domains owned besides the primary one (lower case), as Entra's verified domains",
        ),
    )
    op.add_column(
        "organizations",
        sa.Column(
            "is_platform",
            sa.Boolean(),
            server_default=sa.text("false"),
            nullable=False,
            comment="Holds the platform administrators (super_admin), outside every tenant",
        ),
    )
    op.create_index(
        "uq_organizations_platform",
        "organizations",
        ["is_platform"],
        unique=True,
        postgresql_where=sa.text("is_platform"),
    )
    op.drop_index("uq_users_email_live", table_name="users")
    op.create_index(
        "uq_users_email_live", "users", ["organization_id", "email"], unique=True, postgresql_where=LIVE
    )
    op.drop_index("uq_users_azure_ad_id_live", table_name="users")
    op.create_index(
        "uq_users_azure_ad_id_live",
        "users",
        ["organization_id", "azure_ad_id"],
        unique=True,
        postgresql_where=LIVE,
    )
    op.add_column(
        "user_sessions",
        sa.Column(
            "mfa_satisfied",
            sa.Boolean(),
            nullable=True,
            comment="Whether the Entra sign-in behind this session met its organization's MFA rule "
            "(NULL: a sign-in that says nothing about MFA — local sign-in, an operator token)",
        ),
    )


def downgrade() -> None:
    op.drop_column("user_sessions", "mfa_satisfied")
    op.drop_index("uq_users_azure_ad_id_live", table_name="users")
    op.create_index("uq_users_azure_ad_id_live", "users", ["azure_ad_id"], unique=True, postgresql_where=LIVE)
    op.drop_index("uq_users_email_live", table_name="users")
    op.create_index("uq_users_email_live", "users", ["email"], unique=True, postgresql_where=LIVE)
    op.drop_index("uq_organizations_platform", table_name="organizations")
    op.drop_column("organizations", "is_platform")
    op.drop_column("organizations", "email_domains")
