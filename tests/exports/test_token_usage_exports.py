"""What finance reads of a charge billed by tokens: the provider's usage in every export layout — tokens
consumed in FOCUS, how the amount was worked out, and the usage block as the provider sent it."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pyarrow.parquet as pq
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.budgets import settlement
from donatello.exports import files as exports
from donatello.pricing import service as pricing
from donatello.providers import TokenUsage, candidates
from tests.pricing.token_world import NEGATIVE, PROMPT, token_priced_model
from tests.support import factories
from tests.support.ledger import admit

AT = datetime(2026, 4, 14, 2, tzinfo=UTC)
RAW = {
    "input_tokens": 60,
    "input_tokens_details": {"image_tokens": 0, "text_tokens": 60},
    "output_tokens": 11800,
    "total_tokens": 11860,
}


async def _exported(db: AsyncSession, rng: exports.ExportRange, fmt: str) -> list[dict[str, Any]]:
    data = b"".join([chunk async for chunk in exports.encode(db, replace(rng, format=fmt))])
    if fmt in ("focus", "parquet"):
        return pq.read_table(io.BytesIO(data)).to_pylist()
    return list(csv.DictReader(io.StringIO(data.decode(), newline="")))


async def test_a_charge_billed_by_tokens_carries_its_usage_into_every_layout(db: AsyncSession) -> None:
    model = await token_priced_model(db)
    [first, *_] = await candidates(
        db, None, f"azure-openai/{model.model_name}", "1536x1024", "hd", 2,
        input_bound=pricing.input_text_bound(PROMPT, NEGATIVE),
    )  # fmt: skip
    quote = first.quote  # held at AUD 0.6046 (see tests/pricing)
    org = await factories.organization(db)
    dept = await factories.department(db, org, code="DSGN")
    await factories.budget(db, dept, monthly_aud="100.00", period=(date(2026, 4, 1), date(2026, 4, 30)))
    member = await factories.user(db, org, role="power_user", department=dept)
    usages = {
        "billed": TokenUsage(60, 0, 11800, RAW),
        "capped": TokenUsage(60, 0, 13000, {**RAW, "output_tokens": 13000}),
        "missing": None,
    }
    charges = {}
    for offset, (story, usage) in enumerate(usages.items()):
        held = await admit(db, member, str(quote.total_aud), at=AT + timedelta(minutes=offset))
        charges[story] = await settlement.settle(
            db, held.holds[0].generation_id, quote, usage=usage, at=AT + timedelta(minutes=offset, seconds=9)
        )
    rng = exports.ExportRange(
        org.id, org.name, "Australia/Sydney", datetime(2026, 4, 1, tzinfo=UTC), datetime(2026, 5, 1, tzinfo=UTC),
        None, "csv",
    )  # fmt: skip

    ledger = {row["cost_event_id"]: row for row in await _exported(db, rng, "csv")}
    billed, capped, missing = (ledger[str(charges[s].id)] for s in ("billed", "capped", "missing"))
    assert (billed["actual_cost_aud"], billed["estimated_cost_aud"]) == ("0.5744", "0.6046")
    assert (billed["input_text_tokens"], billed["input_image_tokens"], billed["output_image_tokens"]) == (
        "60",
        "0",
        "11800",
    )
    assert json.loads(billed["provider_usage"]) == RAW and billed["charge_basis"] == "usage"
    assert (capped["actual_cost_aud"], capped["charge_basis"]) == ("0.6046", "usage (capped at the hold)")
    assert (missing["actual_cost_aud"], missing["charge_basis"]) == ("0.6046", "hold (usage missing)")
    assert missing["output_image_tokens"] == "" and missing["provider_usage"] == ""

    parquet = {row["cost_event_id"]: row for row in await _exported(db, rng, "parquet")}
    assert parquet[str(charges["billed"].id)]["output_image_tokens"] == 11800
    assert parquet[str(charges["missing"].id)]["output_image_tokens"] is None

    for fmt in ("focus", "focus-csv"):
        focus = {row["x_CostEventId"]: row for row in await _exported(db, rng, fmt)}
        row = focus[str(charges["billed"].id)]
        as_text = fmt == "focus-csv"
        assert (row["ConsumedQuantity"], row["ConsumedUnit"]) == (
            "11860.0000" if as_text else Decimal(11860),
            "Tokens",
        )
        assert row["x_OutputImageTokens"] == ("11800" if as_text else 11800)
        assert row["x_ChargeBasis"] == "usage"
        # billed what the provider metered (USD 0.3779); listed at the quoted maximum ("up to")
        assert str(row["BilledCost"]) == str(row["EffectiveCost"]) == "0.5744"
        assert str(row["PricingCurrencyEffectiveCost"]) == "0.3779"
        assert str(row["ListUnitPrice"]) == "0.3023" and str(row["ListCost"]) == "0.6046"
        # no usage: the images are what was consumed
        unmetered = focus[str(charges["missing"].id)]
        assert (str(unmetered["ConsumedQuantity"]), unmetered["ConsumedUnit"]) == ("2.0000", "Images")
