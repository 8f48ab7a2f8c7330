"""Every provider call a generation job makes, for the reconciliation of the provider's invoice.

* ``provider_calls``: one row written (and committed) before the request is sent — its start, the model
  called and the job's attempt — and its outcome once it is known. A call whose answer was never
  recorded (the worker process died, or lost its lease mid-call) is marked ``possibly_billed``: the
  provider may have charged for it though no image was kept. Tenant table with RLS.

provider calls

Revision ID: 0037
Revises: 0036
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0037"
down_revision: str | None = "0036"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = postgresql.TIMESTAMP(timezone=True)
VISIBLE = (
    "((SELECT current_setting('app.platform_scope', true)) = 'on' "
    "OR organization_id = (SELECT nullif(current_setting('app.organization_id', true), '')::uuid))"
)
OUTCOMES = "'answered', 'refused', 'failed', 'lost', 'abandoned'"


def upgrade() -> None:
    op.create_table(
        "provider_calls",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column(
            "organization_id",
            sa.UUID(),
            nullable=False,
            comment="Owning organization (tenant); row-level security and tenancy scoping filter on it",
        ),
        sa.Column("generation_id", sa.UUID(), nullable=False, comment="The generation job making the call"),
        sa.Column("attempt", sa.Integer(), nullable=False, comment="The job's attempt that made the call"),
        sa.Column("model", sa.String(length=151), nullable=False, comment="provider/model called"),
        sa.Column(
            "started_at",
            TIMESTAMP,
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the call was sent (recorded before it)",
        ),
        sa.Column(
            "outcome",
            sa.String(length=20),
            nullable=True,
            comment="answered, refused, failed; lost (no answer recorded: the worker died) or abandoned "
            "(the lease was lost mid-call); NULL while in flight",
        ),
        sa.Column("finished_at", TIMESTAMP, nullable=True, comment="When the outcome was recorded"),
        sa.Column(
            "possibly_billed",
            sa.Boolean(),
            server_default=sa.text("false"),
            nullable=False,
            comment="Sent, and no answer recorded: the provider may have billed it without an image kept",
        ),
        sa.CheckConstraint(f"outcome IN ({OUTCOMES})", name=op.f("ck_provider_calls_outcome")),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_provider_calls_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["generation_id"],
            ["generations.id"],
            name=op.f("fk_provider_calls_generation_id_generations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provider_calls")),
        comment="Provider calls of generation jobs, each recorded before it is sent, with its outcome",
    )
    op.create_index(
        op.f("ix_provider_calls_organization_id"), "provider_calls", ["organization_id"], unique=False
    )
    op.create_index(
        "ix_provider_calls_generation_started",
        "provider_calls",
        ["generation_id", "started_at"],
        unique=False,
    )
    op.execute("ALTER TABLE provider_calls ENABLE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON provider_calls TO donatello_app USING {VISIBLE} WITH CHECK {VISIBLE}"
    )


def downgrade() -> None:
    op.drop_table("provider_calls")
