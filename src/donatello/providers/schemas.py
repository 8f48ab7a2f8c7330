from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from donatello.core.json_values import Settings as JsonSettings
from donatello.core.money import Money
from donatello.providers.credential_schemas import (
    Credential,
    CredentialKind,
)

SizeKey = Annotated[str, StringConstraints(pattern=r"^[1-9][0-9]{1,4}x[1-9][0-9]{1,4}$")]
QualityKey = Annotated[str, StringConstraints(min_length=1, max_length=20)]
Multiplier = Annotated[Decimal, Field(gt=0, le=100, decimal_places=4)]
Price = Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=4)]
TokenPriceValue = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=6)]
PricingUnit = Literal["image", "token"]
Endpoint = Annotated[str, StringConstraints(min_length=1, max_length=500, pattern=r"^(https?|local)://\S+$")]
Country = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
PROCESSING_COUNTRY = (
    "ISO 3166-1 alpha-2 country where the deployment processes prompts (e.g. AU for an Azure Standard "
    "deployment in australiaeast); null: anywhere (Global and Data Zone deployments). The configuration "
    "records the region and deployment type (configuration.region, configuration.deployment_type)"
)
RETIRES_ON = (
    "The day the model is retired: from then on model auto never chooses it and naming it is refused (422) "
    "suggesting configuration.replaced_by; platform administrators are warned 30 and 7 days before"
)


class ProviderConfigWrite(BaseModel):
    """The whole runtime configuration of a model (PUT replaces it). The credential says where the key
    or token comes from; no secret is ever stored or returned."""

    model_config = ConfigDict(extra="forbid")

    max_retries: int = Field(default=3, ge=0, le=10)
    rate_limit_per_minute: int | None = Field(default=None, gt=0, le=100_000)
    token_limit_per_minute: int | None = Field(
        default=None,
        gt=0,
        le=1_000_000_000,
        description="Token-priced models: the deployment's tokens a minute",
    )
    configuration: JsonSettings = Field(default_factory=dict)
    credential: Credential | None = None


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
    processing_country: Country | None = Field(default=None, description=PROCESSING_COUNTRY)
    retires_on: date | None = Field(default=None, description=RETIRES_ON)
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
    processing_country: Country | None = Field(default=None, description=PROCESSING_COUNTRY)
    retires_on: date | None = Field(default=None, description=RETIRES_ON)


class CircuitRead(BaseModel):
    state: Literal["closed", "open", "half_open"] = Field(
        description="closed: calls flow; open: no call is made until a trial is due (after 5 failed calls in "
        "a row); half_open: one trial call is under way — its success closes the circuit"
    )
    consecutive_failures: int
    opened_at: datetime | None
    trial_after: datetime | None = Field(description="When an open circuit lets one trial call through")


class HealthRead(BaseModel):
    """The model's calls over the last hour (a call is one request to it, its retries included)."""

    calls: int
    success_rate: float | None = Field(description="Percent of the calls that succeeded; null without calls")
    latency_p50_ms: int | None = Field(description="Median latency of the successful calls")
    latency_p95_ms: int | None = Field(description="95th percentile latency of the successful calls")
    sla_breached: bool = Field(
        description="The success rate over at least 10 calls is below sla_percentage: model auto tries the "
        "model after those that are not in breach"
    )
    circuit: CircuitRead


class ProviderConfigRead(BaseModel):
    provider_id: uuid.UUID
    max_retries: int
    rate_limit_per_minute: int | None
    token_limit_per_minute: int | None = None
    configuration: dict[str, Any]
    has_credential: bool = Field(description="Whether a credential is configured (never the secret)")
    credential_kind: CredentialKind | None = Field(
        description="Where the credential comes from; its details are never returned"
    )


class ProviderRead(BaseModel):
    id: uuid.UUID
    provider_name: str
    model_name: str
    is_active: bool
    available: bool = Field(
        description=(
            "False when the model cannot serve a request now: inactive, missing the credential its "
            "provider needs, made unavailable (its credential could not be obtained, or the provider "
            "answered 401/403/404), paused, its circuit open after repeated failures, or retired. "
            'model "auto" never chooses it.'
        )
    )
    unavailable_reason: str | None = Field(
        default=None, description="Why it is not available, in plain words (administrators only)"
    )
    unavailable_since: datetime | None = Field(
        default=None,
        description="When it was made unavailable; it stays so until an administrator changes it "
        "(administrators only)",
    )
    last_error: str | None = Field(
        default=None, description="The provider's or the credential's last error (administrators only)"
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
    processing_country: str | None = Field(description=PROCESSING_COUNTRY)
    region: str | None = Field(description="The deployment's region (configuration.region)")
    deployment_type: str | None = Field(
        description="The deployment type (configuration.deployment_type), e.g. Standard, DataZoneStandard, "
        "GlobalStandard"
    )
    retires_on: date | None = Field(description=RETIRES_ON)
    replaced_by: str | None = Field(
        description="The model to use once it is retired (configuration.replaced_by)"
    )
    health: HealthRead
    created_at: datetime
    updated_at: datetime
    config: ProviderConfigRead | None = Field(
        default=None, description="Runtime configuration (administrators only)"
    )
