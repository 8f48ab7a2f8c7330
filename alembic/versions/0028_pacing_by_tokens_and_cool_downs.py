"""Pacing by tokens, cool-downs after a provider's 429, and the queue as every request sees it.

* ``provider_configs.token_limit_per_minute``: a token-priced deployment's tokens-per-minute quota;
  ``model_calls.tokens`` counts each call's tokens against it (its bound while in flight, what the
  provider reported once answered).
* ``model_pacing``: per deployment, when claims may resume after a 429 (shared by every worker process)
  and how long its calls take lately (for estimated starts).
* ``generation_queue()``: the waiting and running jobs of every organization, read by a request that
  estimates its place in line; a tenant's transaction cannot see other tenants' rows, and the function
  returns only what ordering needs (no prompts, no money); ``model_queue_length()`` counts a model's
  waiting and running jobs for admission's bound on the wait.

pacing by tokens and cool-downs

Revision ID: 0028
Revises: 0027
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "provider_configs",
        sa.Column(
            "token_limit_per_minute",
            sa.Integer(),
            nullable=True,
            comment="Tokens per minute allowed by the provider (token-priced models); NULL = unlimited",
        ),
    )
    op.create_check_constraint(
        op.f("ck_provider_configs_token_limit_positive"), "provider_configs", "token_limit_per_minute > 0"
    )
    op.add_column(
        "model_calls",
        sa.Column(
            "tokens",
            sa.Integer(),
            nullable=True,
            comment="Tokens the call counts against a token quota: its bound while in flight, then what "
            "the provider reported",
        ),
    )
    op.create_table(
        "model_pacing",
        sa.Column("provider_id", sa.UUID(), nullable=False, comment="The model deployment"),
        sa.Column(
            "cool_down_until",
            sa.TIMESTAMP(timezone=True),
            nullable=True,
            comment="No call is claimed before this: the provider answered 429 and said when to return",
        ),
        sa.Column(
            "seconds_per_call",
            sa.Float(),
            nullable=True,
            comment="How long its calls take lately (a moving average), for estimated starts",
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["model_providers.id"],
            name=op.f("fk_model_pacing_provider_id_model_providers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("provider_id", name=op.f("pk_model_pacing")),
        comment="Shared pacing state of each model deployment: cool-downs and recent call times",
    )
    # SECURITY DEFINER: row-level security limits a request to its organization, but a place in line
    # depends on everyone's jobs. Only what the fair-share order needs leaves the function.
    op.execute(
        """
        CREATE FUNCTION generation_queue()
        RETURNS TABLE (
            id uuid, status varchar, priority smallint, department_id uuid, user_id uuid,
            created_at timestamptz, next_attempt_at timestamptz, model_provider varchar,
            model_name varchar, lease_owner varchar, department_served_at timestamptz,
            user_served_at timestamptz
        )
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
            SELECT g.id, g.status, g.priority, g.department_id, g.user_id, g.created_at,
                   g.next_attempt_at, g.model_provider, g.model_name, g.lease_owner,
                   d.served_at, u.served_at
            FROM generations g
            LEFT JOIN queue_turns d ON d.subject_id = g.department_id
            LEFT JOIN queue_turns u ON u.subject_id = g.user_id
            WHERE g.status IN ('pending', 'processing')
        $$
        """
    )
    # Admission's queue bound: the calls a model still owes, everyone's (one count, no joins).
    op.execute(
        """
        CREATE FUNCTION model_queue_length(provider varchar, model varchar) RETURNS bigint
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
            SELECT count(*) FROM generations
            WHERE model_provider = provider AND model_name = model
              AND status IN ('pending', 'processing')
        $$
        """
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION model_queue_length(varchar, varchar)")
    op.execute("DROP FUNCTION generation_queue()")
    op.drop_table("model_pacing")
    op.drop_column("model_calls", "tokens")
    op.drop_constraint(op.f("ck_provider_configs_token_limit_positive"), "provider_configs", type_="check")
    op.drop_column("provider_configs", "token_limit_per_minute")
