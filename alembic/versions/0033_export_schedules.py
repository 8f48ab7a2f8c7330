"""Scheduled cost exports: what finance asked to be dropped into storage, and each run's outcome.

* ``export_schedules``: a format (and FOCUS version), the local time of day it runs, whether it writes
  yesterday's file and/or the month to date, and whether it is on. Tenant table with RLS.
* ``export_schedule_runs``: one row per file a schedule owes (a day, a month to date, a closed month),
  unique per schedule, kind and range so a planner running in several workers plans each once; its
  status, attempts and next attempt (failures are retried with back-off), rows and where it was written;
  a month's file owed again by a later run (the next day's month to date) is ``superseded``, never
  written over the newer one.

export schedules

Revision ID: 0033
Revises: 0032
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0033"
down_revision: str | None = "0032"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = postgresql.TIMESTAMP(timezone=True)
VISIBLE = (
    "((SELECT current_setting('app.platform_scope', true)) = 'on' "
    "OR organization_id = (SELECT nullif(current_setting('app.organization_id', true), '')::uuid))"
)
TENANT = "Owning organization (tenant); row-level security and tenancy scoping filter on it"


def upgrade() -> None:
    op.create_table(
        "export_schedules",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("organization_id", sa.UUID(), nullable=False, comment=TENANT),
        sa.Column("created_by", sa.UUID(), nullable=True),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("format", sa.String(length=20), nullable=False),
        sa.Column("focus_version", sa.String(length=5), nullable=True),
        sa.Column("daily_at", sa.Time(), nullable=False, comment="Local time of day the schedule runs"),
        sa.Column("daily", sa.Boolean(), nullable=False, comment="Writes the previous day's file"),
        sa.Column("month_to_date", sa.Boolean(), nullable=False, comment="Writes the month so far"),
        sa.Column("enabled", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("created_at", TIMESTAMP, server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", TIMESTAMP, server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "format IN ('csv', 'parquet', 'focus', 'focus-csv')", name=op.f("ck_export_schedules_format")
        ),
        sa.CheckConstraint(
            "(focus_version IS NULL) = (format NOT IN ('focus', 'focus-csv'))"
            " AND (focus_version IS NULL OR focus_version IN ('1.2', '1.3'))",
            name=op.f("ck_export_schedules_focus_version"),
        ),
        sa.CheckConstraint("daily OR month_to_date", name=op.f("ck_export_schedules_writes_something")),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_export_schedules_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_export_schedules_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_export_schedules")),
        comment="Cost exports dropped into storage on a schedule (FinOps hubs layout)",
    )
    op.create_index(
        op.f("ix_export_schedules_organization_id"), "export_schedules", ["organization_id"], unique=False
    )
    op.create_table(
        "export_schedule_runs",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("organization_id", sa.UUID(), nullable=False, comment=TENANT),
        sa.Column("schedule_id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("range_from", TIMESTAMP, nullable=False),
        sa.Column("range_to", TIMESTAMP, nullable=False),
        sa.Column("status", sa.String(length=20), server_default=sa.text("'due'"), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("next_attempt_at", TIMESTAMP, nullable=False, comment="When it is (next) due"),
        sa.Column("path", sa.String(length=500), nullable=True, comment="Where the file was written"),
        sa.Column("rows_written", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("error", sa.String(length=1000), nullable=True),
        sa.Column("heartbeat_at", TIMESTAMP, nullable=True),
        sa.Column("finished_at", TIMESTAMP, nullable=True),
        sa.Column("created_at", TIMESTAMP, server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "kind IN ('daily', 'month-to-date', 'month-close')", name=op.f("ck_export_schedule_runs_kind")
        ),
        sa.CheckConstraint(
            "status IN ('due', 'running', 'done', 'failed', 'superseded')",
            name=op.f("ck_export_schedule_runs_status"),
        ),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_export_schedule_runs_attempts_nonneg")),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_export_schedule_runs_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["export_schedules.id"],
            name=op.f("fk_export_schedule_runs_schedule_id_export_schedules"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_export_schedule_runs")),
        sa.UniqueConstraint(
            "schedule_id",
            "kind",
            "range_from",
            "range_to",
            name=op.f("uq_export_schedule_runs_schedule_id_kind_range_from_range_to"),
        ),
        comment="Each file a schedule owes, and its outcome",
    )
    op.create_index(
        op.f("ix_export_schedule_runs_organization_id"),
        "export_schedule_runs",
        ["organization_id"],
        unique=False,
    )
    op.create_index(
        "ix_export_schedule_runs_due",
        "export_schedule_runs",
        ["next_attempt_at"],
        unique=False,
        postgresql_where=sa.text("status IN ('due', 'failed', 'running')"),
    )
    for table in ("export_schedules", "export_schedule_runs"):
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tenant_isolation ON {table} TO donatello_app USING {VISIBLE} WITH CHECK {VISIBLE}"
        )
    op.execute(
        "CREATE TRIGGER trg_export_schedules_updated_at BEFORE UPDATE ON export_schedules "
        "FOR EACH ROW EXECUTE FUNCTION set_updated_at()"
    )


def downgrade() -> None:
    op.drop_table("export_schedule_runs")
    op.drop_table("export_schedules")
