"""A model's credential as one typed field (a Key Vault secret, the app's managed identity, or a secret
mounted as an environment variable), and a model that cannot run made unavailable with a reason.

``provider_configs.api_key_vault_ref`` is migrated in place: a reference becomes
``{"kind": "key-vault", "secret": <ref>}``. Downgrading keeps only Key Vault references (the other kinds
had no column before).

model credentials

Revision ID: 0022
Revises: 0021
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CREDENTIAL_COMMENT = (
    'How calls prove who they are, never the secret itself: {"kind": "key-vault", "secret": '
    '<secret URL>}, {"kind": "managed-identity", "scope", "client_id"} or {"kind": "environment", '
    '"variable": <name>}'
)
CREDENTIAL_KINDS = (
    "credential IS NULL OR credential->>'kind' IN ('key-vault', 'managed-identity', 'environment')"
)


def upgrade() -> None:
    op.add_column(
        "provider_configs",
        sa.Column("credential", postgresql.JSONB(), nullable=True, comment=CREDENTIAL_COMMENT),
    )
    op.execute(
        "UPDATE provider_configs SET credential = jsonb_build_object('kind', 'key-vault', 'secret', "
        "api_key_vault_ref) WHERE api_key_vault_ref IS NOT NULL"
    )
    op.create_check_constraint(
        op.f("ck_provider_configs_credential_kind"), "provider_configs", CREDENTIAL_KINDS
    )
    op.drop_column("provider_configs", "api_key_vault_ref")

    op.add_column(
        "model_providers",
        sa.Column(
            "unavailable_reason",
            sa.String(500),
            nullable=True,
            comment="Why no call to this model can succeed until an administrator changes it; NULL = none",
        ),
    )
    op.add_column(
        "model_providers",
        sa.Column(
            "unavailable_since",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When the model was made unavailable",
        ),
    )
    op.add_column(
        "model_providers",
        sa.Column(
            "last_error",
            sa.String(2000),
            nullable=True,
            comment="The provider's or the credential's last error (never a secret)",
        ),
    )
    op.create_check_constraint(
        op.f("ck_model_providers_unavailable_since_with_reason"),
        "model_providers",
        "(unavailable_reason IS NULL) = (unavailable_since IS NULL)",
    )


def downgrade() -> None:
    op.drop_constraint(
        op.f("ck_model_providers_unavailable_since_with_reason"), "model_providers", type_="check"
    )
    op.drop_column("model_providers", "last_error")
    op.drop_column("model_providers", "unavailable_since")
    op.drop_column("model_providers", "unavailable_reason")

    op.add_column(
        "provider_configs",
        sa.Column(
            "api_key_vault_ref",
            sa.String(255),
            nullable=True,
            comment="Azure Key Vault secret reference holding the provider API key",
        ),
    )
    op.execute(
        "UPDATE provider_configs SET api_key_vault_ref = left(credential->>'secret', 255) "
        "WHERE credential->>'kind' = 'key-vault'"
    )
    op.drop_constraint(op.f("ck_provider_configs_credential_kind"), "provider_configs", type_="check")
    op.drop_column("provider_configs", "credential")
