"""Bodies of the price history routes (``/v1/providers/{id}/prices``)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from donatello.core.clock import Instant
from donatello.core.money import Money
from donatello.providers.schemas import Price, PricingUnit, TokenPrices, TokenPricesRead

PRICE_FIELDS = ("cost_per_image_aud", "cost_per_image", "token_prices")


class PriceSchedule(BaseModel):
    """A new price from ``effective_from`` on: exactly one of ``cost_per_image_aud`` (a model priced per
    image in AUD), ``cost_per_image`` (per image, in the model's pricing currency) or ``token_prices``
    (per million tokens, in the model's pricing currency)."""

    model_config = ConfigDict(extra="forbid")

    cost_per_image_aud: Price | None = None
    cost_per_image: Price | None = None
    token_prices: TokenPrices | None = None
    effective_from: Instant

    @model_validator(mode="after")
    def one_price(self) -> Self:
        given = [name for name in PRICE_FIELDS if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of {', '.join(PRICE_FIELDS)}")
        return self


class PriceVersionRead(BaseModel):
    id: uuid.UUID
    effective_from: datetime
    effective_to: datetime | None = Field(description="When the next version takes over; null: open-ended")
    current: bool = Field(description="This version prices quotes now")
    pricing_unit: PricingUnit
    pricing_currency: str
    cost_per_image_aud: Money | None
    cost_per_image: Money | None
    token_prices: TokenPricesRead | None
    scheduled_by: uuid.UUID | None = Field(
        description="Who set the price; null when it came with the model or from outside the API"
    )
    created_at: datetime


class PriceHistory(BaseModel):
    provider_id: uuid.UUID
    items: list[PriceVersionRead] = Field(description="Every version, oldest first")
