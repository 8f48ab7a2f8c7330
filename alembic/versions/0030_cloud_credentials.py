"""Model credentials for the other clouds: an AWS access key pair (``aws-keys``, for Amazon Bedrock), a
Google service-account key (``google-service-account``) and Google's application default credentials
(``google-default``: workload identity or the environment's key file, for Vertex AI). No row changes; the
kinds a row may hold widen, and narrow again on downgrade (rows of the new kinds lose their credential).

cloud credentials

Revision ID: 0030
Revises: 0029
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0030"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_KINDS = "credential IS NULL OR credential->>'kind' IN ('key-vault', 'managed-identity', 'environment')"
NEW_KINDS = (
    "credential IS NULL OR credential->>'kind' IN ('key-vault', 'managed-identity', 'environment', "
    "'aws-keys', 'google-service-account', 'google-default')"
)
OLD_COMMENT = (
    'How calls prove who they are, never the secret itself: {"kind": "key-vault", "secret": '
    '<secret URL>}, {"kind": "managed-identity", "scope", "client_id"} or {"kind": "environment", '
    '"variable": <name>}'
)
NEW_COMMENT = (
    'How calls prove who they are, never the secret itself: {"kind": "key-vault", "secret": '
    '<secret URL>}, {"kind": "managed-identity", "scope", "client_id"}, {"kind": "environment", '
    '"variable": <name>}, {"kind": "aws-keys", variables or "secret"}, {"kind": '
    '"google-service-account", "variable" or "secret"} or {"kind": "google-default"}'
)
CONSTRAINT = "ck_provider_configs_credential_kind"


def upgrade() -> None:
    op.drop_constraint(op.f(CONSTRAINT), "provider_configs", type_="check")
    op.create_check_constraint(op.f(CONSTRAINT), "provider_configs", NEW_KINDS)
    op.alter_column(
        "provider_configs",
        "credential",
        existing_type=postgresql.JSONB(),
        existing_nullable=True,
        comment=NEW_COMMENT,
        existing_comment=OLD_COMMENT,
    )


def downgrade() -> None:
    op.execute(
        sa.text(
            "UPDATE provider_configs SET credential = NULL "
            "WHERE credential->>'kind' IN ('aws-keys', 'google-service-account', 'google-default')"
        )
    )
    op.drop_constraint(op.f(CONSTRAINT), "provider_configs", type_="check")
    op.create_check_constraint(op.f(CONSTRAINT), "provider_configs", OLD_KINDS)
    op.alter_column(
        "provider_configs",
        "credential",
        existing_type=postgresql.JSONB(),
        existing_nullable=True,
        comment=OLD_COMMENT,
        existing_comment=NEW_COMMENT,
    )
