"""Cost centres from the directory, frozen on each cost event; the FOCUS version of a queued export.

* ``users.cost_center``: the person's cost centre as the identity provider says (SCIM enterprise
  extension ``costCenter``), or as an administrator sets it.
* ``cost_events.cost_center``: the cost centre at spend time (frozen attribution, like the department's
  code and the person's e-mail), so a later move does not rewrite history.
* ``export_jobs.focus_version``: which FOCUS version a queued FOCUS export writes (NULL for the ledger).

cost centres and focus versions

Revision ID: 0032
Revises: 0030
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0032"
down_revision: str | None = "0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "users",
        sa.Column("cost_center", sa.String(length=100), nullable=True, comment="Cost centre (directory)"),
    )
    op.add_column(
        "cost_events",
        sa.Column(
            "cost_center",
            sa.String(length=100),
            nullable=True,
            comment="The person's cost centre at spend time (frozen attribution)",
        ),
    )
    op.add_column(
        "export_jobs",
        sa.Column(
            "focus_version", sa.String(length=5), nullable=True, comment="FOCUS version of a FOCUS export"
        ),
    )
    op.execute("UPDATE export_jobs SET focus_version = '1.2' WHERE format IN ('focus', 'focus-csv')")
    op.create_check_constraint(
        op.f("ck_export_jobs_focus_version"),
        "export_jobs",
        "(focus_version IS NULL) = (format NOT IN ('focus', 'focus-csv'))"
        " AND (focus_version IS NULL OR focus_version IN ('1.2', '1.3'))",
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_export_jobs_focus_version"), "export_jobs", type_="check")
    op.drop_column("export_jobs", "focus_version")
    op.drop_column("cost_events", "cost_center")
    op.drop_column("users", "cost_center")
