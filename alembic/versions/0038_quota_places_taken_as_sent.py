"""A quota's place is taken as the request is sent, and estimates count tokens.

* ``model_calls.sent_at``: when the worker took the call's place, right before its request was sent (the
  earliest the provider can have received it); NULL while a claimed job has not sent it yet. Its
  ``called_at`` becomes the latest the provider can have received it: far ahead while that is not known
  yet (claimed, or in flight before the request was written), then the moment the request was written
  plus a small arrival allowance. Rows already there were sent when they were stamped.
* ``generation_queue()`` also returns each job's token bound, so an estimated start can replay a
  token quota; ``model_queue_owed()`` (the calls and tokens a model's waiting jobs still owe, everyone's)
  replaces ``model_queue_length()`` for admission's bound on the wait.

quota places taken as sent

Revision ID: 0038
Revises: 0037
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0038"
down_revision: str | None = "0037"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CALLED_AT = (
    "The latest the provider can have received the call: far ahead while that is not known (claimed, or "
    "not yet written), then when its request was written plus the arrival allowance"
)
OLD_CALLED_AT = "When the call was made: its claim, stamped again just before the request is sent"

QUEUE_COLUMNS = """
    id uuid, status varchar, priority smallint, department_id uuid, user_id uuid,
    created_at timestamptz, next_attempt_at timestamptz, model_provider varchar,
    model_name varchar, lease_owner varchar, department_served_at timestamptz,
    user_served_at timestamptz"""
QUEUE_SELECT = """
    SELECT g.id, g.status, g.priority, g.department_id, g.user_id, g.created_at,
           g.next_attempt_at, g.model_provider, g.model_name, g.lease_owner,
           d.served_at, u.served_at"""
QUEUE_FROM = """
    FROM generations g
    LEFT JOIN queue_turns d ON d.subject_id = g.department_id
    LEFT JOIN queue_turns u ON u.subject_id = g.user_id
    WHERE g.status IN ('pending', 'processing')"""


def _queue_function(columns: str, selected: str) -> str:
    # SECURITY DEFINER: row-level security limits a request to its organization, but a place in line
    # depends on everyone's jobs. Only what the fair-share order and the quota's replay need leaves it.
    return f"""
        CREATE FUNCTION generation_queue()
        RETURNS TABLE ({columns})
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
            {selected}
            {QUEUE_FROM}
        $$
        """


def upgrade() -> None:
    op.add_column(
        "model_calls",
        sa.Column(
            "sent_at",
            sa.TIMESTAMP(timezone=True),
            nullable=True,
            comment="When its place was taken, right before the request was sent (the earliest the "
            "provider can have received it); NULL while the job that claimed it has not sent it",
        ),
    )
    op.execute("UPDATE model_calls SET sent_at = called_at")
    op.alter_column("model_calls", "called_at", comment=CALLED_AT, existing_type=sa.TIMESTAMP(timezone=True))
    op.execute("DROP FUNCTION generation_queue()")
    op.execute(
        _queue_function(
            QUEUE_COLUMNS + ", token_bound integer",
            QUEUE_SELECT + ", (g.metadata ->> 'token_bound')::integer",
        )
    )
    op.execute("DROP FUNCTION model_queue_length(varchar, varchar)")
    # Admission's queue bound: the calls (one per generation) and tokens a model's waiting jobs still owe,
    # everyone's; jobs already claimed hold their place in ``model_calls``.
    op.execute(
        """
        CREATE FUNCTION model_queue_owed(provider varchar, model varchar, OUT calls bigint, OUT tokens bigint)
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
            SELECT count(*), coalesce(sum((metadata ->> 'token_bound')::bigint), 0) FROM generations
            WHERE model_provider = provider AND model_name = model AND status = 'pending'
        $$
        """
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION model_queue_owed(varchar, varchar)")
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
    op.execute("DROP FUNCTION generation_queue()")
    op.execute(_queue_function(QUEUE_COLUMNS, QUEUE_SELECT))
    op.alter_column(
        "model_calls", "called_at", comment=OLD_CALLED_AT, existing_type=sa.TIMESTAMP(timezone=True)
    )
    op.drop_column("model_calls", "sent_at")
