"""Models priced per token: prices per million input text, input image and output image tokens, and the
metered usage a charge was computed from, kept on the generation and its cost event.

token pricing

Revision ID: 0023
Revises: 0021
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TOKEN_PRICE = sa.Numeric(precision=14, scale=6)
TOKEN_PRICES = ("token_price_input_text", "token_price_input_image", "token_price_output_image")
TOKEN_PRICE_COMMENTS = {
    "token_price_input_text": "Price per million input text tokens in pricing_currency (token-priced models)",
    "token_price_input_image": "Price per million input image tokens in pricing_currency (token-priced models)",
    "token_price_output_image": "Price per million output image tokens in pricing_currency (token-priced models)",
}
ALL_SET = " AND ".join(f"{column} IS NOT NULL" for column in TOKEN_PRICES)
ALL_NULL = " AND ".join(f"{column} IS NULL" for column in TOKEN_PRICES)
USAGE_COMMENT = (
    "Metered usage the charge was computed from (token-priced models): "
    "{input_text_tokens, input_image_tokens, output_image_tokens, raw}; NULL when priced per image"
)


def upgrade() -> None:
    op.add_column(
        "model_providers",
        sa.Column(
            "pricing_unit",
            sa.String(length=10),
            server_default=sa.text("'image'"),
            nullable=False,
            comment="image: cost_per_image_aud per image; token: token prices per million tokens",
        ),
    )
    for column in TOKEN_PRICES:
        op.add_column(
            "model_providers",
            sa.Column(column, TOKEN_PRICE, nullable=True, comment=TOKEN_PRICE_COMMENTS[column]),
        )
    op.alter_column(
        "model_providers",
        "cost_per_image_aud",
        existing_type=sa.Numeric(precision=14, scale=4),
        nullable=True,
        comment="AUD price per image (required unless the model is priced per token)",
    )
    op.create_check_constraint(
        op.f("ck_model_providers_pricing_unit"), "model_providers", "pricing_unit IN ('image', 'token')"
    )
    op.create_check_constraint(
        op.f("ck_model_providers_token_prices_given"),
        "model_providers",
        f"(pricing_unit = 'token' AND {ALL_SET}) OR (pricing_unit = 'image' AND {ALL_NULL})",
    )
    op.create_check_constraint(
        op.f("ck_model_providers_token_prices_nonneg"),
        "model_providers",
        " AND ".join(f"{column} >= 0" for column in TOKEN_PRICES),
    )
    op.create_check_constraint(
        op.f("ck_model_providers_image_price_given"),
        "model_providers",
        "pricing_unit = 'token' OR cost_per_image_aud IS NOT NULL",
    )
    op.drop_constraint(op.f("ck_model_providers_foreign_price_given"), "model_providers", type_="check")
    op.create_check_constraint(
        op.f("ck_model_providers_foreign_price_given"),
        "model_providers",
        "pricing_unit = 'token' OR pricing_currency = 'AUD' OR cost_per_image IS NOT NULL",
    )
    for table in ("cost_events", "generations"):
        op.add_column(
            table,
            sa.Column("usage", postgresql.JSONB(astext_type=sa.Text()), nullable=True, comment=USAGE_COMMENT),
        )


def downgrade() -> None:
    for table in ("cost_events", "generations"):
        op.drop_column(table, "usage")
    # the schema before has no way to price them: token-priced models go with it
    op.execute("DELETE FROM model_providers WHERE pricing_unit = 'token'")
    op.drop_constraint(op.f("ck_model_providers_foreign_price_given"), "model_providers", type_="check")
    op.create_check_constraint(
        op.f("ck_model_providers_foreign_price_given"),
        "model_providers",
        "pricing_currency = 'AUD' OR cost_per_image IS NOT NULL",
    )
    for name in ("image_price_given", "token_prices_nonneg", "token_prices_given", "pricing_unit"):
        op.drop_constraint(op.f(f"ck_model_providers_{name}"), "model_providers", type_="check")
    op.alter_column(
        "model_providers",
        "cost_per_image_aud",
        existing_type=sa.Numeric(precision=14, scale=4),
        nullable=False,
        comment=None,
    )
    for column in reversed(TOKEN_PRICES):
        op.drop_column("model_providers", column)
    op.drop_column("model_providers", "pricing_unit")
