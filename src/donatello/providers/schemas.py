from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from donatello.core.json_values import Settings as JsonSettings
from donatello.core.money import Money

SizeKey = Annotated[str, StringConstraints(pattern=r"^[1-9][0-9]{1,4}x[1-9][0-9]{1,4}$")]
QualityKey = Annotated[str, StringConstraints(min_length=1, max_length=20)]
Multiplier = Annotated[Decimal, Field(gt=0, le=100, decimal_places=4)]
Price = Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=4)]
TokenPriceValue = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=6)]
PricingUnit = Literal["image", "token"]
Endpoint = Annotated[str, StringConstraints(min_length=1, max_length=500, pattern=r"^(https?|local)://\S+$")]


class ProviderConfigWrite(BaseModel):
    """The whole runtime configuration of a model (PUT replaces it). Secrets go to Key Vault: only the
    reference is stored, and it is never returned."""

    model_config = ConfigDict(extra="forbid")

    max_retries: int = Field(default=3, ge=0, le=10)
    rate_limit_per_minute: int | None = Field(default=None, gt=0, le=100_000)
    configuration: JsonSettings = Field(default_factory=dict)
    api_key_vault_ref: str | None = Field(default=None, min_length=1, max_length=255)


class TokenPrices(BaseModel):
    """Prices per MILLION tokens, in the model's ``pricing_currency`` (decimal strings)."""

    model_config = ConfigDict(extra="forbid")

    input_text: TokenPriceValue
    input_image: TokenPriceValue
    output_image: TokenPriceValue


class TokenPricesRead(BaseModel):
    input_text: Money
    input_image: Money
    output_image: Money


class ProviderCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider_name: str = Field(min_length=1, max_length=50, pattern=r"^[a-z0-9][a-z0-9-]*$")
    model_name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    api_endpoint: Endpoint
    cost_per_image_aud: Price | None = Field(
        default=None, description="Required when pricing_unit is image (the default)"
    )
    pricing_currency: str = Field(default="AUD", pattern=r"^[A-Z]{3}$")
    cost_per_image: Price | None = None
    pricing_unit: PricingUnit = Field(
        default="image",
        description='"image": charged cost_per_image_aud per image; "token": held at the most the '
        "request's tokens can cost and charged from the provider's metered usage at token_prices",
    )
    token_prices: TokenPrices | None = Field(default=None, description="Required when pricing_unit is token")
    priority: int = Field(default=100, ge=0, le=10_000)
    size_multipliers: dict[SizeKey, Multiplier] = Field(default_factory=dict)
    quality_multipliers: dict[QualityKey, Multiplier] = Field(default_factory=dict)
    sla_percentage: float | None = Field(default=None, ge=0, le=100)
    timeout_seconds: int = Field(default=60, gt=0, le=600)
    is_active: bool = True
    config: ProviderConfigWrite | None = None

    @model_validator(mode="after")
    def _foreign_price_given(self) -> Self:
        if self.pricing_unit == "image" and self.pricing_currency != "AUD" and self.cost_per_image is None:
            raise ValueError("cost_per_image is required when pricing_currency is not AUD")
        return self


class ProviderUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    is_active: bool | None = None
    api_endpoint: Endpoint | None = None
    cost_per_image_aud: Price | None = None
    pricing_currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    cost_per_image: Price | None = None
    pricing_unit: PricingUnit | None = None
    token_prices: TokenPrices | None = None
    priority: int | None = Field(default=None, ge=0, le=10_000)
    size_multipliers: dict[SizeKey, Multiplier] | None = None
    quality_multipliers: dict[QualityKey, Multiplier] | None = None
    sla_percentage: float | None = Field(default=None, ge=0, le=100)
    timeout_seconds: int | None = Field(default=None, gt=0, le=600)


class ProviderConfigRead(BaseModel):
    provider_id: uuid.UUID
    max_retries: int
    rate_limit_per_minute: int | None
    configuration: dict[str, Any]
    has_credential: bool = Field(description="Whether a Key Vault reference is set (never the secret)")


class ProviderRead(BaseModel):
    id: uuid.UUID
    provider_name: str
    model_name: str
    is_active: bool
    available: bool = Field(
        description=(
            "False when the model cannot serve a request now: inactive, missing the credentials its "
            'provider needs, or paused after repeated failures. model "auto" never chooses it.'
        )
    )
    api_endpoint: str
    cost_per_image_aud: Money | None = Field(description="AUD per image; null for a token-priced model")
    pricing_currency: str
    cost_per_image: Money | None
    pricing_unit: PricingUnit
    token_prices: TokenPricesRead | None = Field(
        description="Per million tokens in pricing_currency (token-priced models)"
    )
    priority: int
    size_multipliers: dict[str, Any]
    quality_multipliers: dict[str, Any]
    sla_percentage: float | None
    timeout_seconds: int
    created_at: datetime
    updated_at: datetime
    config: ProviderConfigRead | None = Field(
        default=None, description="Runtime configuration (administrators only)"
    )
