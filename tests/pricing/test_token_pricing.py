"""A model billed by tokens: the hold is the most the request can cost, the charge is the provider's bill
(never more than the hold), and a bill that never came is charged at the hold and raised as an alert."""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.budgets import settlement
from donatello.core import metrics
from donatello.models import AuditOutbox, BudgetReservation, DepartmentBudget
from donatello.pricing import service as pricing
from donatello.pricing.errors import NoTokenAllowance
from donatello.providers import TokenUsage, candidates, priced_offers
from donatello.providers.families import GPT_IMAGE
from tests.pricing.token_world import NEGATIVE, PROMPT, RATE, spender, token_priced_model
from tests.support.ledger import admit, flat_quote

RAW = {
    "input_tokens": 60,
    "input_tokens_details": {"text_tokens": 60, "image_tokens": 0},
    "output_tokens": 11800,
    "total_tokens": 11860,
}


def _usage(text: int = 60, output: int = 11800) -> TokenUsage:
    return TokenUsage(input_text_tokens=text, input_image_tokens=0, output_image_tokens=output, raw=RAW)


async def _quote_two_high_landscapes(db: AsyncSession) -> pricing.Quote:
    model = await token_priced_model(db)
    [first, *_] = await candidates(
        db, None, f"azure-openai/{model.model_name}", "1536x1024", "hd", 2,
        input_bound=pricing.input_text_bound(PROMPT, NEGATIVE),
    )  # fmt: skip
    return first.quote


async def test_two_high_landscape_images_are_held_at_their_documented_tokens_and_the_prompt_bound(
    db: AsyncSession,
) -> None:
    quote = await _quote_two_high_landscapes(db)

    # OpenAI documents 6208 output tokens for one 1536x1024 image at high ("hd" on the public API).
    assert GPT_IMAGE.output_tokens[("1536x1024", "high")] == quote.output_tokens_per_image == 6208
    # The prompt's bound: 35 + 15 UTF-8 bytes, plus 32 framing tokens.
    assert quote.input_text_tokens_bound == 82
    # USD (2 x 6208 x 32 + 82 x 5) / 1e6 = 0.397722; x 1.52 = 0.60453744 AUD, rounded UP once: 0.6046
    # (half-even would hold 0.6045, less than the most the request can cost).
    assert quote.total_aud == Decimal("0.6046")
    assert (quote.pricing_unit, quote.is_maximum, quote.fx_rate) == ("token", True, RATE)
    assert quote.unit_price_aud * 2 == quote.total_aud  # the maximum's share of one image


async def test_medium_quality_holds_a_quarter_of_high_and_a_longer_prompt_holds_more(
    db: AsyncSession,
) -> None:
    model = await token_priced_model(db)
    name = f"azure-openai/{model.model_name}"

    async def held(quality: str, prompt: str) -> Decimal:
        [first, *_] = await candidates(
            db, None, name, "1024x1024", quality, 1, input_bound=pricing.input_text_bound(prompt)
        )
        return first.quote.total_aud

    # 1056 tokens at medium, 4160 at high: USD (1056 x 32 + 36 x 5) / 1e6 x 1.52 = 0.05163744 -> 0.0517
    assert await held("standard", "ship") == Decimal("0.0517")
    assert await held("hd", "ship") == Decimal("0.2027")  # (4160 x 32 + 36 x 5) / 1e6 x 1.52 = 0.20261...
    assert await held("hd", "ship" * 500) > await held("hd", "ship")


async def test_a_token_priced_model_without_documented_tokens_is_neither_quoted_nor_offered(
    db: AsyncSession,
) -> None:
    model = await token_priced_model(db, configuration={"family": "gpt-image", "sizes": ["1792x1024"]})

    with pytest.raises(NoTokenAllowance):  # nothing bounds what it could cost
        await pricing.quote(db, "azure-openai", model.model_name, "1024x1024", "high", 1)
    assert await priced_offers(db, "1792x1024", "hd", 1) == []


async def _spent_and_held(db: AsyncSession, budget: DepartmentBudget) -> tuple[Decimal, Decimal]:
    await db.refresh(budget)
    return budget.current_spend_aud, budget.reserved_aud


async def test_the_charge_is_the_usage_at_the_token_prices_and_the_rest_of_the_hold_is_released(
    db: AsyncSession,
) -> None:
    quote = await _quote_two_high_landscapes(db)
    payer = await spender(db)
    held = await admit(db, payer.member, str(quote.total_aud))
    assert await _spent_and_held(db, payer.budget) == (Decimal(0), Decimal("0.6046"))

    charge = await settlement.settle(db, held.holds[0].generation_id, quote, usage=_usage())

    # USD (60 x 5 + 11800 x 32) / 1e6 = 0.3779 x 1.52 = 0.574408 AUD -> 0.5744 (half-even, once)
    assert charge.actual_cost_aud == Decimal("0.5744") and charge.estimated_cost_aud == Decimal("0.6046")
    assert charge.pricing_amount == Decimal("0.3779") and charge.fx_rate == RATE
    assert charge.usage == {
        "input_text_tokens": 60,
        "input_image_tokens": 0,
        "output_image_tokens": 11800,
        "raw": RAW,
    }
    assert (charge.details["capped_at_hold"], charge.details["usage_missing"]) == (False, False)
    # spent + held adds up: the charge is spent, and nothing of the 0.6046 hold is held any more
    assert await _spent_and_held(db, payer.budget) == (Decimal("0.5744"), Decimal(0))
    hold = await db.scalar(
        select(BudgetReservation).where(BudgetReservation.generation_id == held.holds[0].generation_id)
    )
    assert hold is not None and hold.status == "settled"


async def test_usage_above_the_hold_is_charged_the_hold_and_says_it_was_capped(db: AsyncSession) -> None:
    quote = await _quote_two_high_landscapes(db)
    payer = await spender(db)
    held = await admit(db, payer.member, str(quote.total_aud))

    # 13000 output tokens: more than the 2 x 6208 documented — USD 0.4163 x 1.52 = 0.6328 AUD
    charge = await settlement.settle(db, held.holds[0].generation_id, quote, usage=_usage(output=13000))

    assert charge.actual_cost_aud == Decimal("0.6046")
    assert (charge.details["capped_at_hold"], charge.details["billed_aud"]) == (True, "0.6328")
    assert charge.usage is not None and charge.usage["output_image_tokens"] == 13000
    assert await _spent_and_held(db, payer.budget) == (Decimal("0.6046"), Decimal(0))


async def test_missing_usage_is_charged_the_hold_never_zero_and_raises_an_alert(
    db: AsyncSession, caplog: pytest.LogCaptureFixture
) -> None:
    quote = await _quote_two_high_landscapes(db)
    payer = await spender(db)
    held = await admit(db, payer.member, str(quote.total_aud))
    generation_id = held.holds[0].generation_id
    labels = {"provider": "azure-openai", "model": quote.model}
    before = metrics.REGISTRY.get_sample_value("donatello_usage_missing_total", labels) or 0.0

    with caplog.at_level(logging.WARNING, logger="donatello.budgets.settlement"):
        charge = await settlement.settle(db, generation_id, quote, usage=None)

    assert charge.actual_cost_aud == Decimal("0.6046") and charge.usage is None
    assert charge.details["usage_missing"] is True
    assert await _spent_and_held(db, payer.budget) == (Decimal("0.6046"), Decimal(0))
    assert metrics.REGISTRY.get_sample_value("donatello_usage_missing_total", labels) == before + 1
    [event] = [
        row
        for row in (
            await db.execute(select(AuditOutbox).where(AuditOutbox.event_type == "generation.usage_missing"))
        ).scalars()
        if row.payload["resource_id"] == str(generation_id)
    ]
    assert event.payload["metadata"]["cost_event_id"] == str(charge.id)
    [warning] = [r for r in caplog.records if r.name == "donatello.budgets.settlement"]
    assert warning.levelno == logging.WARNING and "usage" in warning.getMessage()
    assert PROMPT not in warning.getMessage() and PROMPT not in str(warning.__dict__)


async def test_settling_twice_charges_once(db: AsyncSession) -> None:
    quote = await _quote_two_high_landscapes(db)
    payer = await spender(db)
    held = await admit(db, payer.member, str(quote.total_aud))
    generation_id = held.holds[0].generation_id

    first = await settlement.settle(db, generation_id, quote, usage=_usage())
    again = await settlement.settle(db, generation_id, quote, usage=_usage(output=1))

    assert again.id == first.id and again.actual_cost_aud == Decimal("0.5744")
    assert await _spent_and_held(db, payer.budget) == (Decimal("0.5744"), Decimal(0))


async def test_a_model_priced_per_image_is_charged_its_quote_whatever_usage_it_reports(
    db: AsyncSession,
) -> None:
    payer = await spender(db)
    held = await admit(db, payer.member, "0.1600")

    charge = await settlement.settle(db, held.holds[0].generation_id, flat_quote("0.0800", 2), usage=_usage())

    assert (charge.actual_cost_aud, charge.usage, charge.pricing_amount) == (
        Decimal("0.1600"),
        None,
        Decimal("0.1600"),
    )
    assert "pricing_unit" not in charge.details and "capped_at_hold" not in charge.details
    assert await _spent_and_held(db, payer.budget) == (Decimal("0.1600"), Decimal(0))
