"""Quotes: what a generation will cost, in AUD, before it runs.

Rule: the per-image price is the model's base price * the size multiplier * the quality multiplier
(missing entries are 1); for a model priced in another currency that price is converted at the newest
configured rate effective on the quote date. The per-image AUD price is rounded once, to ledger precision
(4 dp, half-even), and the quote is that price * the number of images, so what a user sees per image is
exactly what the ledger charges.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from donatello.core.clock import utcnow
from donatello.core.money import to_ledger_precision
from donatello.models import ModelProvider
from donatello.pricing import repository
from donatello.pricing.errors import NoExchangeRate, UnknownModel

AUD = "AUD"


@dataclass(frozen=True)
class Quote:
    provider: str
    model: str
    size: str
    quality: str
    images: int
    unit_price_aud: Decimal
    total_aud: Decimal
    pricing_currency: str
    unit_price_in_pricing_currency: Decimal
    fx_rate: Decimal
    fx_rate_source: str | None
    fx_rate_date: date | None


async def quote(
    session: AsyncSession,
    provider: str,
    model: str,
    size: str,
    quality: str,
    images: int,
    *,
    on: date | None = None,
) -> Quote:
    offered = await repository.active_model(session, provider, model)
    if offered is None:
        raise UnknownModel(provider, model)
    factor = _multiplier(offered.size_multipliers, size) * _multiplier(offered.quality_multipliers, quality)
    if offered.pricing_currency == AUD:
        foreign_unit = offered.cost_per_image_aud * factor
        rate, source, rate_date = Decimal(1), None, None
    else:
        rate_row = await repository.latest_rate(session, offered.pricing_currency, on or utcnow().date())
        if rate_row is None:
            raise NoExchangeRate(offered.pricing_currency)
        foreign_unit = _foreign_price(offered) * factor
        rate, source, rate_date = rate_row.rate, rate_row.source, rate_row.effective_date
    unit_aud = to_ledger_precision(foreign_unit * rate)
    return Quote(
        provider=provider,
        model=model,
        size=size,
        quality=quality,
        images=images,
        unit_price_aud=unit_aud,
        total_aud=unit_aud * images,
        pricing_currency=offered.pricing_currency,
        unit_price_in_pricing_currency=to_ledger_precision(foreign_unit),
        fx_rate=rate,
        fx_rate_source=source,
        fx_rate_date=rate_date,
    )


def _foreign_price(offered: ModelProvider) -> Decimal:
    assert offered.cost_per_image is not None  # guaranteed by ck_model_providers_foreign_price_given
    return offered.cost_per_image


def _multiplier(table: dict[str, object], key: str) -> Decimal:
    value = table.get(key, 1)
    return Decimal(str(value))
