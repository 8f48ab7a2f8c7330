"""Reconciliations: provider cost files compared with the ledger per local day and model.

* ``reconciliations``: one imported file (content and configuration fingerprints make it idempotent),
  its status (background jobs) and summary;
* ``reconciliation_lines``: the file's daily totals per mapping key and currency, with the FX rate used;
* ``reconciliation_rows``: per local day x model, provider cost against our net charge, and the flag;
* all three are tenant tables with the once-per-query row-level-security policy.

reconciliations

Revision ID: 0018
Revises: 0017
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ORG_COMMENT = "Owning organization (tenant); row-level security and tenancy scoping filter on it"
TABLES = ("reconciliations", "reconciliation_lines", "reconciliation_rows")


def _organization() -> sa.Column[sa.UUID]:
    return sa.Column("organization_id", sa.UUID(), nullable=False, comment=ORG_COMMENT)


def _org_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["organization_id"],
        ["organizations.id"],
        name=op.f(f"fk_{table}_organization_id_organizations"),
        ondelete="CASCADE",
    )


def _parent_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["reconciliation_id"],
        ["reconciliations.id"],
        name=op.f(f"fk_{table}_reconciliation_id_reconciliations"),
        ondelete="CASCADE",
    )


def _id() -> sa.Column[sa.UUID]:
    return sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False)


def upgrade() -> None:
    amount = sa.Numeric(precision=18, scale=4)
    op.create_table(
        "reconciliations",
        _id(),
        _organization(),
        sa.Column("requested_by", sa.UUID(), nullable=True),
        sa.Column(
            "provider",
            sa.String(length=100),
            nullable=False,
            comment="Provider whose bill this is, e.g. azure-openai",
        ),
        sa.Column(
            "format",
            sa.String(length=20),
            nullable=False,
            comment="focus (FOCUS 1.x CSV or Parquet) or generic CSV",
        ),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("file_bytes", sa.BigInteger(), nullable=False),
        sa.Column(
            "content_sha256", sa.String(length=64), nullable=False, comment="SHA-256 of the uploaded file"
        ),
        sa.Column(
            "config_sha256",
            sa.String(length=64),
            nullable=False,
            comment="SHA-256 of config (canonical JSON)",
        ),
        sa.Column(
            "config",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
            comment="Mapping, tolerances and period used",
        ),
        sa.Column("status", sa.String(length=20), server_default=sa.text("'queued'"), nullable=False),
        sa.Column("period_from", sa.Date(), nullable=True, comment="First local day compared"),
        sa.Column("period_to", sa.Date(), nullable=True, comment="Last local day compared (inclusive)"),
        sa.Column("rows_read", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("provider_total_aud", amount, nullable=True),
        sa.Column("charged_total_aud", amount, nullable=True),
        sa.Column("drift_total_aud", amount, nullable=True),
        sa.Column("compared_rows", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("flagged_rows", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("unmapped_lines", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("storage_name", sa.String(length=500), nullable=True, comment="Upload staged for the job"),
        sa.Column("error", sa.String(length=1000), nullable=True),
        sa.Column(
            "created_at", postgresql.TIMESTAMP(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("finished_at", postgresql.TIMESTAMP(timezone=True), nullable=True),
        sa.Column(
            "heartbeat_at",
            postgresql.TIMESTAMP(timezone=True),
            nullable=True,
            comment="Last sign of life of the worker running it; a running job silent too long is taken over",
        ),
        sa.CheckConstraint("format IN ('focus', 'generic')", name=op.f("ck_reconciliations_format")),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'done', 'failed')", name=op.f("ck_reconciliations_status")
        ),
        _org_fk("reconciliations"),
        sa.ForeignKeyConstraint(
            ["requested_by"],
            ["users.id"],
            name=op.f("fk_reconciliations_requested_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconciliations")),
        sa.UniqueConstraint(
            "organization_id", "content_sha256", "config_sha256", name="uq_reconciliations_fingerprint"
        ),
        comment="Provider cost files compared with the ledger",
    )
    op.create_index(
        "ix_reconciliations_org_created", "reconciliations", ["organization_id", "created_at", "id"]
    )
    op.create_index(
        "ix_reconciliations_queued",
        "reconciliations",
        ["created_at"],
        postgresql_where=sa.text("status = 'queued'"),
    )
    op.create_table(
        "reconciliation_lines",
        _id(),
        _organization(),
        sa.Column("reconciliation_id", sa.UUID(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False, comment="Local day in the organization's time zone"),
        sa.Column(
            "source_key",
            sa.String(length=500),
            nullable=False,
            comment="Deployment, meter or model as in the file",
        ),
        sa.Column("provider_name", sa.String(length=100), nullable=True, comment="Mapped model's provider"),
        sa.Column(
            "model_name", sa.String(length=100), nullable=True, comment="Mapped model (none: unmapped)"
        ),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column(
            "cost", sa.Numeric(precision=24, scale=8), nullable=False, comment="Provider cost in currency"
        ),
        sa.Column(
            "quantity",
            sa.Numeric(precision=20, scale=4),
            nullable=True,
            comment="Consumed quantity, when given",
        ),
        sa.Column("line_count", sa.BigInteger(), nullable=False),
        sa.Column(
            "fx_rate",
            sa.Numeric(precision=18, scale=8),
            nullable=True,
            comment="AUD per unit of currency used",
        ),
        sa.Column("fx_rate_date", sa.Date(), nullable=True),
        sa.Column("fx_rate_source", sa.String(length=100), nullable=True),
        sa.Column("cost_aud", amount, nullable=True),
        sa.CheckConstraint(
            "status IN ('mapped', 'unmapped', 'no-rate', 'outside-period')",
            name=op.f("ck_reconciliation_lines_status"),
        ),
        _org_fk("reconciliation_lines"),
        _parent_fk("reconciliation_lines"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconciliation_lines")),
        comment="A provider cost file's daily totals per mapping key and currency",
    )
    op.create_index(
        "ix_reconciliation_lines_reconciliation",
        "reconciliation_lines",
        ["reconciliation_id", "status", "day", "source_key"],
    )
    op.create_table(
        "reconciliation_rows",
        _id(),
        _organization(),
        sa.Column("reconciliation_id", sa.UUID(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("provider_name", sa.String(length=100), nullable=False),
        sa.Column("model_name", sa.String(length=100), nullable=False),
        sa.Column("provider_aud", amount, nullable=False),
        sa.Column("charged_aud", amount, nullable=False, comment="Our ledger, net of refunds/corrections"),
        sa.Column("provider_quantity", sa.Numeric(precision=20, scale=4), nullable=True),
        sa.Column("charged_images", sa.BigInteger(), nullable=False),
        sa.Column("drift_aud", amount, nullable=False, comment="provider_aud - charged_aud"),
        sa.Column(
            "drift_percent",
            sa.Numeric(precision=12, scale=2),
            nullable=True,
            comment="drift_aud / charged_aud x 100; none when we charged nothing",
        ),
        sa.Column("flagged", sa.Boolean(), nullable=False),
        _org_fk("reconciliation_rows"),
        _parent_fk("reconciliation_rows"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconciliation_rows")),
        sa.UniqueConstraint(
            "reconciliation_id", "day", "provider_name", "model_name", name="uq_reconciliation_rows_key"
        ),
        comment="Per day and model: provider cost against our charged cost",
    )
    op.create_index(
        "ix_reconciliation_rows_flagged",
        "reconciliation_rows",
        ["reconciliation_id", "day", "provider_name", "model_name"],
        postgresql_where=sa.text("flagged"),
    )
    visible = (
        "((SELECT current_setting('app.platform_scope', true)) = 'on' "
        "OR organization_id = (SELECT nullif(current_setting('app.organization_id', true), '')::uuid))"
    )
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tenant_isolation ON {table} TO donatello_app USING {visible} WITH CHECK {visible}"
        )


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_table(table)
