"""Platform-wide model catalogue: providers/models, their runtime configuration, and FX rates.

These tables are not tenant-owned: every organization uses the same catalogue and rates.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Numeric,
    SmallInteger,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from donatello.models.base import Base, Money4, Rate, created_at, jsonb_object, updated_at, uuid_pk

TokenPrice = Numeric(14, 6)  # per million tokens: providers quote cents and fractions of them
TOKEN_PRICE_COLUMNS = ("token_price_input_text", "token_price_input_image", "token_price_output_image")
_TOKEN_PRICES_SET = " AND ".join(f"{column} IS NOT NULL" for column in TOKEN_PRICE_COLUMNS)
_TOKEN_PRICES_NULL = " AND ".join(f"{column} IS NULL" for column in TOKEN_PRICE_COLUMNS)


class ModelProvider(Base):
    """One model offered by one provider (platform-wide).

    Deviations from the seed:

    * the seed declares ``provider_name`` UNIQUE *and* UNIQUE (provider_name, model_name); the first
      allows a single model per provider (no dall-e-3 and gpt-image-1 both on azure-openai), which
      contradicts the second. Only ``uq_provider_model`` is kept.
    * added ``pricing_currency`` / ``cost_per_image``: the provider's own price when it is not quoted in
      AUD (``cost_per_image_aud`` is then the AUD equivalent at the current rate; cost events record the
      rate used). A CHECK requires ``cost_per_image`` when the currency is not AUD.
    * added ``priority`` (fallback order, lower first) and ``size_multipliers`` /
      ``quality_multipliers`` (price factors by requested size and quality).
    * ``is_active`` / ``timeout_seconds`` NOT NULL (seed: nullable with defaults).
    * ``pricing_unit``: ``image`` (the per-image price above) or ``token`` — then the three
      ``token_price_*`` columns (per million tokens, in ``pricing_currency``) are required, the per-image
      prices are not (``cost_per_image_aud`` may be NULL), and a request is held at the most its tokens
      can cost and charged from the provider's metered usage (``pricing.service``).
    * added ``unavailable_reason`` / ``unavailable_since`` / ``last_error``: a model whose credential
      cannot be obtained, or whose provider answered 401/403/404, is not chosen again until an
      administrator changes it (a CHECK keeps the reason and its time together).
    * added ``processing_country`` (where inference runs; NULL: anywhere) and ``retires_on`` with
      ``retirement_warned_days`` (the retirement warnings already sent).
    """

    __tablename__ = "model_providers"

    id: Mapped[uuid.UUID] = uuid_pk()
    provider_name: Mapped[str] = mapped_column(String(100))
    model_name: Mapped[str] = mapped_column(String(100))
    is_active: Mapped[bool] = mapped_column(server_default=text("true"))
    api_endpoint: Mapped[str] = mapped_column(String(500))
    cost_per_image_aud: Mapped[Decimal | None] = mapped_column(
        Money4, comment="AUD price per image (required unless the model is priced per token)"
    )
    pricing_currency: Mapped[str] = mapped_column(
        String(3), server_default=text("'AUD'"), comment="ISO 4217 currency the provider prices in"
    )
    cost_per_image: Mapped[Decimal | None] = mapped_column(
        Money4, comment="Price per image in pricing_currency (required when it is not AUD)"
    )
    pricing_unit: Mapped[str] = mapped_column(
        String(10),
        server_default=text("'image'"),
        comment="image: cost_per_image_aud per image; token: token prices per million tokens",
    )
    token_price_input_text: Mapped[Decimal | None] = mapped_column(
        TokenPrice,
        comment="Price per million input text tokens in pricing_currency (token-priced models)",
    )
    token_price_input_image: Mapped[Decimal | None] = mapped_column(
        TokenPrice,
        comment="Price per million input image tokens in pricing_currency (token-priced models)",
    )
    token_price_output_image: Mapped[Decimal | None] = mapped_column(
        TokenPrice,
        comment="Price per million output image tokens in pricing_currency (token-priced models)",
    )
    priority: Mapped[int] = mapped_column(
        server_default=text("100"), comment="Fallback order among eligible models, lower first"
    )
    size_multipliers: Mapped[dict[str, Any]] = jsonb_object(
        'Price multiplier by size, e.g. {"1792x1024": 2}; missing sizes are 1'
    )
    quality_multipliers: Mapped[dict[str, Any]] = jsonb_object(
        'Price multiplier by quality, e.g. {"hd": 2}; missing qualities are 1'
    )
    sla_percentage: Mapped[float | None] = mapped_column(Float)
    timeout_seconds: Mapped[int] = mapped_column(server_default=text("60"))
    # Unavailable with a reason (credential or configuration), until an administrator changes the model.
    unavailable_reason: Mapped[str | None] = mapped_column(
        String(500),
        comment="Why no call to this model can succeed until an administrator changes it; NULL = none",
    )
    unavailable_since: Mapped[datetime | None] = mapped_column(comment="When the model was made unavailable")
    last_error: Mapped[str | None] = mapped_column(
        String(2000), comment="The provider's or the credential's last error (never a secret)"
    )
    processing_country: Mapped[str | None] = mapped_column(
        String(2),
        comment="ISO 3166-1 alpha-2 country where inference runs; NULL = anywhere (e.g. a Global deployment)",
    )
    retires_on: Mapped[date | None] = mapped_column(comment="The day the model is retired; NULL = none")
    retirement_warned_days: Mapped[int | None] = mapped_column(
        SmallInteger, comment="Days before retires_on of the last retirement warning sent (30, then 7)"
    )
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()

    __table_args__ = (
        UniqueConstraint("provider_name", "model_name", name="uq_provider_model"),
        CheckConstraint("processing_country ~ '^[A-Z]{2}$'", name="processing_country"),
        CheckConstraint(
            "(unavailable_reason IS NULL) = (unavailable_since IS NULL)", name="unavailable_since_with_reason"
        ),
        CheckConstraint("sla_percentage BETWEEN 0 AND 100", name="sla_percentage"),
        CheckConstraint("cost_per_image_aud >= 0", name="cost_per_image_aud_nonneg"),
        CheckConstraint("cost_per_image >= 0", name="cost_per_image_nonneg"),
        CheckConstraint("timeout_seconds > 0", name="timeout_positive"),
        CheckConstraint("pricing_currency ~ '^[A-Z]{3}$'", name="pricing_currency"),
        CheckConstraint(
            "pricing_unit = 'token' OR pricing_currency = 'AUD' OR cost_per_image IS NOT NULL",
            name="foreign_price_given",
        ),
        CheckConstraint("pricing_unit IN ('image', 'token')", name="pricing_unit"),
        CheckConstraint(
            f"(pricing_unit = 'token' AND {_TOKEN_PRICES_SET})"
            f" OR (pricing_unit = 'image' AND {_TOKEN_PRICES_NULL})",
            name="token_prices_given",
        ),
        CheckConstraint(
            " AND ".join(f"{column} >= 0" for column in TOKEN_PRICE_COLUMNS), name="token_prices_nonneg"
        ),
        CheckConstraint("pricing_unit = 'token' OR cost_per_image_aud IS NOT NULL", name="image_price_given"),
        Index("idx_model_providers_is_active", "is_active", postgresql_where=text("is_active = true")),
        Index("idx_model_providers_cost", "cost_per_image_aud"),
        {"comment": "AI model provider configurations"},
    )


class ProviderConfig(Base):
    """Runtime configuration of one model provider row (seed: ERD only).

    ``provider_id`` is UNIQUE (the ERD's one-to-one). A secret itself is never stored: ``credential``
    (replacing the seed's ``api_key_vault_ref``) says where it comes from — a Key Vault secret URL, the
    app's managed identity, or an environment variable the platform mounts. ``configuration`` is NOT NULL
    default ``{}``.
    """

    __tablename__ = "provider_configs"

    id: Mapped[uuid.UUID] = uuid_pk()
    provider_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("model_providers.id", ondelete="CASCADE"),
        unique=True,
        comment="The model_providers row configured",
    )
    credential: Mapped[dict[str, Any] | None] = mapped_column(
        JSONB,
        comment=(
            'How calls prove who they are, never the secret itself: {"kind": "key-vault", "secret": '
            '<secret URL>}, {"kind": "managed-identity", "scope", "client_id"}, {"kind": "environment", '
            '"variable": <name>}, {"kind": "aws-keys", variables or "secret"}, {"kind": '
            '"google-service-account", "variable" or "secret"} or {"kind": "google-default"}'
        ),
    )
    max_retries: Mapped[int] = mapped_column(
        server_default=text("3"), comment="Retries per request before falling back"
    )
    rate_limit_per_minute: Mapped[int | None] = mapped_column(
        comment="Requests per minute allowed by the provider; NULL = unlimited"
    )
    token_limit_per_minute: Mapped[int | None] = mapped_column(
        comment="Tokens per minute allowed by the provider (token-priced models); NULL = unlimited"
    )
    configuration: Mapped[dict[str, Any]] = jsonb_object("Provider-specific settings (JSON)")
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()

    __table_args__ = (
        CheckConstraint("max_retries >= 0", name="max_retries_nonneg"),
        CheckConstraint(
            "credential IS NULL OR credential->>'kind' IN ('key-vault', 'managed-identity', 'environment', "
            "'aws-keys', 'google-service-account', 'google-default')",
            name="credential_kind",
        ),
        CheckConstraint("rate_limit_per_minute > 0", name="rate_limit_positive"),
        CheckConstraint("token_limit_per_minute > 0", name="token_limit_positive"),
        {"comment": "Runtime configuration of model providers"},
    )


class FxRate(Base):
    """Exchange rate of one currency into another on a date (new, platform-wide).

    Providers price in USD; budgets are AUD. Cost events record the rate they used; this table is where
    that rate comes from, so conversions are reproducible.
    """

    __tablename__ = "fx_rates"

    id: Mapped[uuid.UUID] = uuid_pk()
    base_currency: Mapped[str] = mapped_column(String(3), comment="ISO 4217 currency converted from")
    quote_currency: Mapped[str] = mapped_column(
        String(3), server_default=text("'AUD'"), comment="ISO 4217 currency converted to"
    )
    rate: Mapped[Decimal] = mapped_column(Rate, comment="Units of quote_currency per base_currency")
    source: Mapped[str] = mapped_column(String(100), comment="Where the rate came from, e.g. RBA")
    effective_date: Mapped[date] = mapped_column(comment="Date the rate applies to")
    created_at: Mapped[datetime] = created_at()

    __table_args__ = (
        UniqueConstraint("base_currency", "quote_currency", "effective_date", name="uq_fx_rates_pair_date"),
        CheckConstraint("rate > 0", name="rate_positive"),
        CheckConstraint("base_currency ~ '^[A-Z]{3}$'", name="base_currency"),
        CheckConstraint("quote_currency ~ '^[A-Z]{3}$'", name="quote_currency"),
        {"comment": "Currency exchange rates by effective date"},
    )


__all__ = ["CatalogueVersion", "FxRate", "ModelPrice", "ModelProvider", "ProviderConfig"]


class CatalogueVersion(Base):
    """The catalogue's version (new table, one row): every change to ``model_providers``,
    ``provider_configs`` or ``fx_rates`` sets it to a fresh ``catalogue_version_seq`` value (statement
    triggers, migration 0019), so a process may keep what it read of the catalogue for as long as the
    version it reads with each tenant transaction is unchanged (``core.catalogue``). Sequence values are
    never reused, even by a change that rolls back."""

    __tablename__ = "catalogue_version"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(BigInteger)


class ModelPrice(Base):
    """One version of a model's price (new table, platform-wide): the price from ``effective_from`` until
    the next version's ``effective_from``. A version is self-contained (unit, currency and prices), so a
    quote needs nothing else of the price. Every model has one from its creation: a trigger adds a
    version effective from the moment of the write whenever a model is inserted or its price columns
    change (so a ``PATCH`` is "a new version effective now"; the transaction's
    ``donatello.price_set_by`` setting names who set it); ``POST /prices`` schedules one ahead. A
    version that has taken effect is never changed (the application refuses; see ``providers.prices``).
    """

    __tablename__ = "model_prices"

    id: Mapped[uuid.UUID] = uuid_pk()
    provider_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("model_providers.id", ondelete="CASCADE"), comment="The model_providers row priced"
    )
    effective_from: Mapped[datetime] = mapped_column(comment="The instant this price takes effect")
    pricing_unit: Mapped[str] = mapped_column(String(10), comment="image or token, as on model_providers")
    pricing_currency: Mapped[str] = mapped_column(String(3), comment="ISO 4217 currency of the prices")
    cost_per_image_aud: Mapped[Decimal | None] = mapped_column(Money4, comment="AUD per image (AUD models)")
    cost_per_image: Mapped[Decimal | None] = mapped_column(
        Money4, comment="Price per image in pricing_currency (image-priced models)"
    )
    token_price_input_text: Mapped[Decimal | None] = mapped_column(TokenPrice)
    token_price_input_image: Mapped[Decimal | None] = mapped_column(TokenPrice)
    token_price_output_image: Mapped[Decimal | None] = mapped_column(TokenPrice)
    scheduled_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"),
        comment="Who set this price (NULL: created with the model, or written outside the API)",
    )
    created_at: Mapped[datetime] = created_at()

    __table_args__ = (
        UniqueConstraint("provider_id", "effective_from", name="uq_model_prices_provider_from"),
        CheckConstraint("pricing_unit IN ('image', 'token')", name="pricing_unit"),
        CheckConstraint("pricing_currency ~ '^[A-Z]{3}$'", name="pricing_currency"),
        CheckConstraint(
            f"(pricing_unit = 'token' AND {_TOKEN_PRICES_SET}) OR (pricing_unit = 'image'"
            f" AND {_TOKEN_PRICES_NULL} AND (cost_per_image_aud IS NOT NULL OR cost_per_image IS NOT NULL))",
            name="prices_given",
        ),
        CheckConstraint(
            "cost_per_image_aud >= 0 AND cost_per_image >= 0 AND "
            + " AND ".join(f"{column} >= 0" for column in TOKEN_PRICE_COLUMNS),
            name="prices_nonneg",
        ),
        {"comment": "Versions of each model's price, by the instant they take effect"},
    )
