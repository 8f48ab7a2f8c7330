"""Audit relay: the chain position of each delivered event, and indexes for the chain and the query API.

* ``chain_seq``: the event's position in its organization's hash chain, written by the relay in the same
  single update that records delivery (the append-only trigger from 0002 refuses every update of a
  delivered row, so the position, like the hashes, can be written once and never changed);
* ``idx_audit_outbox_chain``: one event per chain position (the platform chain, NULL organization, too),
  and the chain head lookup;
* ``idx_audit_outbox_org_created``: the query API's newest-first listing per organization.

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "audit_outbox",
        sa.Column(
            "chain_seq",
            sa.BigInteger(),
            nullable=True,
            comment="Position in its organization's chain (1-based), set with delivery",
        ),
    )
    op.create_index(
        "idx_audit_outbox_chain",
        "audit_outbox",
        ["organization_id", "chain_seq"],
        unique=True,
        postgresql_nulls_not_distinct=True,
        postgresql_where=sa.text("chain_seq IS NOT NULL"),
    )
    op.create_index("idx_audit_outbox_org_created", "audit_outbox", ["organization_id", "created_at", "id"])


def downgrade() -> None:
    op.drop_index("idx_audit_outbox_org_created", table_name="audit_outbox")
    op.drop_index("idx_audit_outbox_chain", table_name="audit_outbox")
    op.drop_column("audit_outbox", "chain_seq")
