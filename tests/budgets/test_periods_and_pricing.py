"""Periods follow the organization's clock (DST included); quotes are exact and explainable."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.budgets.periods import organization_timezone, period_at
from donatello.models import FxRate, ModelProvider
from donatello.pricing import service as pricing
from donatello.pricing.errors import NoExchangeRate, UnknownModel


def test_october_in_sydney_starts_on_aest_and_ends_on_aedt() -> None:
    october = period_at(datetime(2026, 10, 15, tzinfo=UTC), "Australia/Sydney")
    # DST begins on 4 October 2026: the month starts at UTC+10 and ends at UTC+11 (one hour short)
    assert october.starts_at == datetime(2026, 9, 30, 14, 0, tzinfo=UTC)
    assert october.ends_at == datetime(2026, 10, 31, 13, 0, tzinfo=UTC)
    assert (october.ends_at - october.starts_at).total_seconds() == 31 * 86400 - 3600
    assert period_at(datetime(2026, 9, 30, 13, 59, tzinfo=UTC), "Australia/Sydney").start == date(2026, 9, 1)
    assert period_at(datetime(2026, 9, 30, 14, 0, tzinfo=UTC), "Australia/Sydney").start == date(2026, 10, 1)


def test_april_in_sydney_is_one_hour_long_at_dst_end() -> None:
    april = period_at(datetime(2027, 4, 10, tzinfo=UTC), "Australia/Sydney")
    assert april.starts_at == datetime(2027, 3, 31, 13, 0, tzinfo=UTC)  # AEDT
    assert april.ends_at == datetime(2027, 4, 30, 14, 0, tzinfo=UTC)  # AEST
    assert (april.ends_at - april.starts_at).total_seconds() == 30 * 86400 + 3600


def test_an_organization_in_another_zone_has_its_own_month() -> None:
    instant = datetime(2026, 11, 30, 20, 0, tzinfo=UTC)
    assert period_at(instant, "Australia/Sydney").start == date(2026, 12, 1)
    assert period_at(instant, "Australia/Perth").start == date(2026, 12, 1)
    assert period_at(instant, "America/Los_Angeles").start == date(2026, 11, 1)
    assert organization_timezone({"timezone": "Mars/Olympus"}) == "Australia/Sydney"
    assert organization_timezone({}) == "Australia/Sydney"


async def _model(db: AsyncSession, **columns: object) -> ModelProvider:
    model = ModelProvider(
        provider_name="test-provider",
        model_name=f"m-{id(columns)}",
        api_endpoint="https://example.test",
        **columns,
    )
    db.add(model)
    await db.flush()
    return model


async def test_a_quote_applies_size_and_quality_multipliers_per_image(db: AsyncSession) -> None:
    model = await _model(
        db,
        cost_per_image_aud=Decimal("0.0800"),
        quality_multipliers={"hd": "2"},
        size_multipliers={"1792x1024": "1.5"},
    )
    quote = await pricing.quote(db, "test-provider", model.model_name, "1792x1024", "hd", 3)
    assert (quote.unit_price_aud, quote.total_aud) == (Decimal("0.2400"), Decimal("0.7200"))
    plain = await pricing.quote(db, "test-provider", model.model_name, "1024x1024", "standard", 1)
    assert plain.total_aud == Decimal("0.0800")


async def test_a_usd_price_is_converted_at_the_newest_rate_and_rounded_once_per_image(
    db: AsyncSession,
) -> None:
    model = await _model(
        db, cost_per_image_aud=Decimal("0.06"), pricing_currency="USD", cost_per_image=Decimal("0.04")
    )
    db.add_all(
        [
            FxRate(
                base_currency="USD",
                rate=Decimal("1.50000000"),
                source="RBA",
                effective_date=date(2026, 11, 1),
            ),
            FxRate(
                base_currency="USD",
                rate=Decimal("1.53217000"),
                source="RBA",
                effective_date=date(2026, 11, 20),
            ),
            FxRate(base_currency="USD", rate=Decimal("9.99"), source="RBA", effective_date=date(2026, 12, 1)),
        ]
    )
    await db.flush()

    quote = await pricing.quote(
        db, "test-provider", model.model_name, "1024x1024", "standard", 4, on=date(2026, 11, 22)
    )

    assert quote.fx_rate == Decimal("1.53217000") and quote.fx_rate_date == date(2026, 11, 20)
    assert quote.unit_price_aud == Decimal("0.0613")  # 0.04 * 1.53217 = 0.0612868 -> 0.0613
    assert quote.total_aud == Decimal("0.2452")
    assert quote.pricing_currency == "USD" and quote.fx_rate_source == "RBA"


async def test_pricing_refuses_unknown_models_and_missing_rates(db: AsyncSession) -> None:
    model = await _model(
        db, cost_per_image_aud=Decimal("0.06"), pricing_currency="EUR", cost_per_image=Decimal("0.04")
    )
    with pytest.raises(NoExchangeRate):
        await pricing.quote(db, "test-provider", model.model_name, "1024x1024", "standard", 1)
    with pytest.raises(UnknownModel):
        await pricing.quote(db, "test-provider", "no-such-model", "1024x1024", "standard", 1)
