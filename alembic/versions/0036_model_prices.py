"""Prices with a history: every model's price as versions, by the instant each takes effect.

* ``model_prices``: one row per price version (unit, currency, per-image or per-token prices, who set it),
  unique per model and instant; the price in effect at an instant is the newest version from before it.
* A row trigger on ``model_providers`` adds a version effective from the moment of the write whenever a
  model is inserted or its price columns change (an administrator's price change is a new version
  effective now), naming the user the transaction set in ``donatello.price_set_by`` (if any).
* Each existing model gets its current price as its first version, effective from its creation.
* A version that has taken effect keeps its price and instant (a trigger refuses the update).
* ``model_prices`` moves the catalogue's version like the other catalogue tables.

model prices

Revision ID: 0036
Revises: 0033
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0036"
down_revision: str | None = "0033"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = postgresql.TIMESTAMP(timezone=True)
TOKEN_PRICE = sa.Numeric(14, 6)
PRICE_COLUMNS = (
    "pricing_unit",
    "pricing_currency",
    "cost_per_image_aud",
    "cost_per_image",
    "token_price_input_text",
    "token_price_input_image",
    "token_price_output_image",
)
TOKEN_SET = " AND ".join(f"{c} IS NOT NULL" for c in PRICE_COLUMNS[4:])
TOKEN_NULL = " AND ".join(f"{c} IS NULL" for c in PRICE_COLUMNS[4:])


def upgrade() -> None:
    op.create_table(
        "model_prices",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("provider_id", sa.UUID(), nullable=False, comment="The model_providers row priced"),
        sa.Column("effective_from", TIMESTAMP, nullable=False, comment="The instant this price takes effect"),
        sa.Column(
            "pricing_unit",
            sa.String(length=10),
            nullable=False,
            comment="image or token, as on model_providers",
        ),
        sa.Column(
            "pricing_currency", sa.String(length=3), nullable=False, comment="ISO 4217 currency of the prices"
        ),
        sa.Column(
            "cost_per_image_aud", sa.Numeric(14, 4), nullable=True, comment="AUD per image (AUD models)"
        ),
        sa.Column(
            "cost_per_image",
            sa.Numeric(14, 4),
            nullable=True,
            comment="Price per image in pricing_currency (image-priced models)",
        ),
        sa.Column("token_price_input_text", TOKEN_PRICE, nullable=True),
        sa.Column("token_price_input_image", TOKEN_PRICE, nullable=True),
        sa.Column("token_price_output_image", TOKEN_PRICE, nullable=True),
        sa.Column(
            "scheduled_by",
            sa.UUID(),
            nullable=True,
            comment="Who set this price (NULL: created with the model, or written outside the API)",
        ),
        sa.Column("created_at", TIMESTAMP, server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("pricing_unit IN ('image', 'token')", name=op.f("ck_model_prices_pricing_unit")),
        sa.CheckConstraint("pricing_currency ~ '^[A-Z]{3}$'", name=op.f("ck_model_prices_pricing_currency")),
        sa.CheckConstraint(
            f"(pricing_unit = 'token' AND {TOKEN_SET}) OR (pricing_unit = 'image'"
            f" AND {TOKEN_NULL} AND (cost_per_image_aud IS NOT NULL OR cost_per_image IS NOT NULL))",
            name=op.f("ck_model_prices_prices_given"),
        ),
        sa.CheckConstraint(
            "cost_per_image_aud >= 0 AND cost_per_image >= 0 AND "
            + " AND ".join(f"{c} >= 0" for c in PRICE_COLUMNS[4:]),
            name=op.f("ck_model_prices_prices_nonneg"),
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["model_providers.id"],
            name=op.f("fk_model_prices_provider_id_model_providers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["scheduled_by"],
            ["users.id"],
            name=op.f("fk_model_prices_scheduled_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_prices")),
        sa.UniqueConstraint("provider_id", "effective_from", name="uq_model_prices_provider_from"),
        comment="Versions of each model's price, by the instant they take effect",
    )
    columns = ", ".join(PRICE_COLUMNS)
    backfill = f"INSERT INTO model_prices (provider_id, effective_from, {columns}) SELECT id, created_at, "
    op.execute(backfill + f"{columns} FROM model_providers")
    new_values = ", ".join(f"NEW.{c}" for c in PRICE_COLUMNS)
    old_values = ", ".join(f"OLD.{c}" for c in PRICE_COLUMNS)
    replaced = ", ".join(f"{c} = excluded.{c}" for c in PRICE_COLUMNS)
    # SECURITY DEFINER: whoever may change a model's price records its version, whatever their grants.
    op.execute(
        f"""
        CREATE FUNCTION record_model_price() RETURNS trigger
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
        BEGIN
            IF TG_OP = 'UPDATE' AND ({old_values}) IS NOT DISTINCT FROM ({new_values}) THEN
                RETURN NULL;
            END IF;
            INSERT INTO model_prices (provider_id, effective_from, {columns}, scheduled_by)
            VALUES (NEW.id, clock_timestamp(), {new_values},
                    nullif(current_setting('donatello.price_set_by', true), '')::uuid)
            ON CONFLICT (provider_id, effective_from) DO UPDATE SET {replaced};
            RETURN NULL;
        END $$
        """  # noqa: S608 (our column names)
    )
    op.execute(
        f"CREATE TRIGGER model_providers_record_price AFTER INSERT OR UPDATE OF {columns} "
        "ON model_providers FOR EACH ROW EXECUTE FUNCTION record_model_price()"
    )
    # The database keeps the past too: a version that has taken effect keeps its price and instant (only
    # who set it may be forgotten, when that user is deleted).
    kept = ", ".join(("provider_id", "effective_from", *PRICE_COLUMNS))
    old_kept = ", ".join(f"OLD.{c}" for c in kept.split(", "))
    new_kept = ", ".join(f"NEW.{c}" for c in kept.split(", "))
    op.execute(
        f"""
        CREATE FUNCTION keep_past_model_prices() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF OLD.effective_from <= clock_timestamp()
               AND ({old_kept}) IS DISTINCT FROM ({new_kept}) THEN
                RAISE EXCEPTION 'a price that has taken effect is never changed'
                    USING ERRCODE = 'check_violation';
            END IF;
            RETURN NEW;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER model_prices_keep_the_past BEFORE UPDATE ON model_prices "
        "FOR EACH ROW EXECUTE FUNCTION keep_past_model_prices()"
    )
    op.execute(
        "CREATE TRIGGER model_prices_bump_catalogue_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
        "ON model_prices FOR EACH STATEMENT EXECUTE FUNCTION bump_catalogue_version()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER model_prices_keep_the_past ON model_prices")
    op.execute("DROP FUNCTION keep_past_model_prices()")
    op.execute("DROP TRIGGER model_prices_bump_catalogue_version ON model_prices")
    op.execute("DROP TRIGGER model_providers_record_price ON model_providers")
    op.execute("DROP FUNCTION record_model_price()")
    op.drop_table("model_prices")
