"""The generation queue's shared state.

* ``model_calls``: provider calls per model deployment, counted across every worker process, so claims
  pace a model to its ``rate_limit_per_minute`` instead of admission refusing people for it.
* ``queue_turns``: when each department and person last had a job claimed, so they take turns.

queue pacing and turns

Revision ID: 0027
Revises: 0024
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "model_calls",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("provider_id", sa.UUID(), nullable=False, comment="The model deployment called"),
        sa.Column("generation_id", sa.UUID(), nullable=False, comment="The generation job making the call"),
        sa.Column(
            "called_at",
            sa.TIMESTAMP(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the call was made: its claim, stamped again just before the request is sent",
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["model_providers.id"],
            name=op.f("fk_model_calls_provider_id_model_providers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_calls")),
        comment="Provider calls in the current quota window of each model deployment",
    )
    op.create_index("idx_model_calls_provider_called_at", "model_calls", ["provider_id", "called_at"])
    op.create_table(
        "queue_turns",
        sa.Column(
            "subject_id",
            sa.UUID(),
            nullable=False,
            comment="A department's or a user's id (random UUIDs: they never collide)",
        ),
        sa.Column(
            "served_at",
            sa.TIMESTAMP(timezone=True),
            nullable=False,
            comment="When its latest job was claimed",
        ),
        sa.PrimaryKeyConstraint("subject_id", name=op.f("pk_queue_turns")),
        comment="Round-robin turns of departments and people in the generation queue",
    )


def downgrade() -> None:
    op.drop_table("queue_turns")
    op.drop_index("idx_model_calls_provider_called_at", table_name="model_calls")
    op.drop_table("model_calls")
