"""A browser session's one-time notice: a new secret (API key, webhook signing secret) travels from the
form's POST to the page it redirects to, sealed in the session's row and cleared when first shown.

session notices

Revision ID: 0021
Revises: 0020
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COMMENT = (
    "Sealed one-time notice for the browser (a new secret to show once after a redirect); cleared when shown"
)


def upgrade() -> None:
    op.add_column("user_sessions", sa.Column("one_time_notice", sa.Text(), nullable=True, comment=COMMENT))


def downgrade() -> None:
    op.drop_column("user_sessions", "one_time_notice")
