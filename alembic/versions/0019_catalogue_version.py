"""The catalogue's version: one row that every change to the model catalogue or the exchange rates sets
to a fresh sequence value, so the API may cache the catalogue and still see a price change or a paused
model in the next transaction that starts after it commits.

catalogue version

Revision ID: 0019
Revises: 0018
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CATALOGUE = ("model_providers", "provider_configs", "fx_rates")


def upgrade() -> None:
    op.create_table(
        "catalogue_version",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_catalogue_version_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalogue_version")),
    )
    op.execute("CREATE SEQUENCE catalogue_version_seq")
    op.execute("INSERT INTO catalogue_version (id, version) VALUES (1, nextval('catalogue_version_seq'))")
    # SECURITY DEFINER: whoever may change the catalogue moves the version, without a grant on the row.
    op.execute(
        """
        CREATE FUNCTION bump_catalogue_version() RETURNS trigger
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
        BEGIN
            UPDATE catalogue_version SET version = nextval('catalogue_version_seq') WHERE id = 1;
            RETURN NULL;
        END $$
        """
    )
    for table in CATALOGUE:
        op.execute(
            f"CREATE TRIGGER {table}_bump_catalogue_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
            f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION bump_catalogue_version()"
        )


def downgrade() -> None:
    for table in CATALOGUE:
        op.execute(f"DROP TRIGGER {table}_bump_catalogue_version ON {table}")
    op.execute("DROP FUNCTION bump_catalogue_version()")
    op.execute("DROP SEQUENCE catalogue_version_seq")
    op.drop_table("catalogue_version")
