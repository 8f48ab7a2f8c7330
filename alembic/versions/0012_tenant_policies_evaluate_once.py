"""Tenant policies read the session's tenant once per query, not once per row.

``current_setting`` in a policy is evaluated for every row a query touches (it is only STABLE); wrapped in a
scalar subquery it becomes an InitPlan computed once, and the policy is a plain comparison with a constant.
Same rows visible, same checks — a report over a year of rollups reads them in about half the time.

tenant policies evaluate once

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ONCE = (
    "((SELECT current_setting('app.platform_scope', true)) = 'on' "
    "OR {column} = (SELECT nullif(current_setting('app.organization_id', true), '')::uuid))"
)
PER_ROW = (
    "(current_setting('app.platform_scope', true) = 'on' "
    "OR {column} = nullif(current_setting('app.organization_id', true), '')::uuid)"
)


def _tables() -> list[str]:
    rows = op.get_bind().execute(
        sa.text(
            "SELECT tablename FROM pg_policies WHERE schemaname = 'public' AND policyname = 'tenant_isolation'"
            " ORDER BY tablename"
        )
    )
    return [row[0] for row in rows]


def _apply(template: str) -> None:
    for table in _tables():
        visible = template.format(column="id" if table == "organizations" else "organization_id")
        op.execute(f"ALTER POLICY tenant_isolation ON {table} USING {visible} WITH CHECK {visible}")


def upgrade() -> None:
    _apply(ONCE)


def downgrade() -> None:
    _apply(PER_ROW)
