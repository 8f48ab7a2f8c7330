"""What finance reads in a FOCUS row: the catalogue's unit price beside the billed amount, who provided,
published and invoiced the charge, and, on a refund or correction, what it amends and why."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pyarrow.parquet as pq
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.budgets import settlement
from donatello.exports import files as exports
from tests.support import factories
from tests.support.ledger import admit, flat_quote, principal_of, usd_quote

AT = datetime(2026, 4, 14, 2, tzinfo=UTC)  # noon in Sydney


async def _exported(db: AsyncSession, fmt: str, rng: exports.ExportRange) -> list[dict[str, Any]]:
    data = b"".join([chunk async for chunk in exports.encode(db, replace(rng, format=fmt))])
    if fmt in ("focus", "parquet"):
        return pq.read_table(io.BytesIO(data)).to_pylist()
    return list(csv.DictReader(io.StringIO(data.decode(), newline="")))


async def test_focus_rows_carry_unit_prices_and_say_why_money_came_back(db: AsyncSession) -> None:
    org = await factories.organization(db)
    dept = await factories.department(db, org, code="MKTG")
    await factories.budget(db, dept, monthly_aud="100.00", period=(date(2026, 4, 1), date(2026, 4, 30)))
    admin = await factories.user(db, org, role="org_admin")
    member = await factories.user(db, org, role="power_user", department=dept)
    admission = await admit(db, member, "0.1200", at=AT)
    charge = await settlement.settle(
        db, admission.holds[0].generation_id, flat_quote("0.0400", images=3), at=AT + timedelta(seconds=5)
    )
    refund_at, correction_at = AT + timedelta(hours=1), AT + timedelta(hours=2)
    await settlement.amend(
        db, principal_of(admin), charge.id, Decimal("0.0400"), "refund", "one image was blank", at=refund_at
    )
    await settlement.amend(
        db,
        principal_of(admin),
        charge.id,
        Decimal("-0.0050"),
        "correction",
        "FX rate revised",
        at=correction_at,
    )
    rng = exports.ExportRange(
        org.id, org.name, "Australia/Sydney", datetime(2026, 4, 1, tzinfo=UTC), datetime(2026, 5, 1, tzinfo=UTC),
        None, "focus",
    )  # fmt: skip

    focus = await _exported(db, "focus", rng)
    by_kind = {row["x_Kind"]: row for row in focus}
    billed, refund, correction = by_kind["charge"], by_kind["refund"], by_kind["correction"]
    # The catalogue price of one image, and list = contracted = unit price x images = what was billed.
    assert billed["ListUnitPrice"] == billed["ContractedUnitPrice"] == Decimal("0.0400")
    assert billed["PricingQuantity"] == Decimal(3) and billed["PricingUnit"] == "Images"
    assert billed["ListCost"] == billed["ContractedCost"] == billed["BilledCost"] == Decimal("0.1200")
    assert billed["ChargeDescription"] == "Image generation: 3 x local/pillow-sketch 1024x1024 standard"
    # The platform provides the service and issues the chargeback; the model's maker publishes it.
    for row in focus:
        assert (row["ProviderName"], row["InvoiceIssuerName"]) == ("DonatelloAI", "DonatelloAI")
        assert row["PublisherName"] == "local" and row["InvoiceId"] is None  # no invoice for a chargeback
    # A refund prices nothing: it gives back what it says, names the charge, and says why.
    assert refund["ChargeDescription"] == (
        "Refund of image generation (local/pillow-sketch 1024x1024 standard): one image was blank"
    )
    assert (refund["x_Reason"], refund["x_CorrectsEventId"]) == ("one image was blank", str(charge.id))
    assert refund["ListUnitPrice"] is None and refund["ContractedUnitPrice"] is None
    assert refund["BilledCost"] == refund["ListCost"] == refund["ContractedCost"] == Decimal("-0.0400")
    assert correction["ChargeDescription"].startswith("Correction of image generation (local/pillow-sketch")
    assert correction["ChargeDescription"].endswith(": FX rate revised")
    assert correction["BilledCost"] == Decimal("-0.0050") and correction["x_Reason"] == "FX rate revised"

    focus_csv = {row["x_Kind"]: row for row in await _exported(db, "focus-csv", rng)}
    assert focus_csv["charge"]["ListUnitPrice"] == focus_csv["charge"]["ContractedUnitPrice"] == "0.0400"
    assert focus_csv["refund"]["ListUnitPrice"] == "" and focus_csv["charge"]["InvoiceId"] == ""
    assert focus_csv["refund"]["x_Reason"] == "one image was blank"

    for fmt in ("csv", "parquet"):  # the ledger layout carries the reason too
        ledger = {row["kind"]: row for row in await _exported(db, fmt, rng)}
        assert ledger["refund"]["reason"] == "one image was blank"
        assert ledger["correction"]["reason"] == "FX rate revised"
        assert ledger["charge"]["reason"] in ("", None)


async def test_a_model_priced_in_usd_shows_both_currencies_and_one_price_per_sku_price(
    db: AsyncSession,
) -> None:
    org = await factories.organization(db)
    dept = await factories.department(db, org)
    await factories.budget(db, dept, monthly_aud="100.00", period=(date(2026, 4, 1), date(2026, 4, 30)))
    admin = await factories.user(db, org, role="org_admin")
    member = await factories.user(db, org, role="power_user", department=dept)
    usd = usd_quote("0.0400", "1.5234", images=2)  # 0.0609 AUD per image (rounded once)
    admission = await admit(db, member, "0.1218", at=AT)
    charge = await settlement.settle(db, admission.holds[0].generation_id, usd, at=AT)
    await settlement.amend(db, principal_of(admin), charge.id, Decimal("0.0609"), "refund", "blank", at=AT)
    rng = exports.ExportRange(
        org.id, org.name, "Australia/Sydney", datetime(2026, 4, 1, tzinfo=UTC), datetime(2026, 5, 1, tzinfo=UTC),
        None, "focus",
    )  # fmt: skip
    rows = {row["x_Kind"]: row for row in await _exported(db, "focus", rng)}
    billed, refund = rows["charge"], rows["refund"]
    assert (billed["BillingCurrency"], billed["PricingCurrency"]) == ("AUD", "USD")
    assert billed["ListUnitPrice"] == Decimal("0.0609") and billed["BilledCost"] == Decimal("0.1218")
    assert (
        billed["PricingCurrencyListUnitPrice"]
        == billed["PricingCurrencyContractedUnitPrice"]
        == Decimal("0.0400")
    )
    assert billed["PricingCurrencyEffectiveCost"] == Decimal("0.0800")
    assert billed["SkuId"] == "local/pillow-sketch/1024x1024/standard"
    assert billed["SkuPriceId"] == "local/pillow-sketch/1024x1024/standard@0.0400 USD"
    assert billed["SkuMeter"] == refund["SkuMeter"] == "Images generated"
    # The refund gives back AUD 0.0609: USD 0.0400 at the charge's rate.
    assert refund["PricingCurrencyEffectiveCost"] == Decimal("-0.0400")
    assert refund["SkuPriceId"] is None and refund["PricingCurrencyListUnitPrice"] is None


async def test_a_charge_recorded_before_unit_prices_were_kept_is_priced_from_its_amount(
    db: AsyncSession,
) -> None:
    """Charges settled before the unit price was kept with them: the price is the charge over its images."""
    from sqlalchemy import text

    org = await factories.organization(db)
    dept = await factories.department(db, org)
    member = await factories.user(db, org, department=dept)
    params = {"o": org.id, "d": dept.id, "u": member.id}
    generation = (
        await db.execute(
            text(
                "INSERT INTO generations (organization_id, user_id, department_id, model_provider, model_name,"
                " prompt_encrypted) VALUES (:o, :u, :d, 'local', 'pillow-sketch', 'sealed') RETURNING id"
            ),
            params,
        )
    ).scalar_one()
    await db.execute(
        text(
            "INSERT INTO cost_events (organization_id, generation_id, department_id, user_id, model_provider,"
            " model_name, image_count, estimated_cost_aud, actual_cost_aud, department_code, department_name,"
            " user_email, created_at) VALUES (:o, :g, :d, :u, 'local', 'pillow-sketch', 2, 0.1700, 0.1700,"
            " 'X', 'X', 'x@example.com', timestamptz '2026-04-02 00:00+00')"
        ),
        {**params, "g": generation},
    )
    rng = exports.ExportRange(
        org.id, org.name, "Australia/Sydney", datetime(2026, 4, 1, tzinfo=UTC), datetime(2026, 5, 1, tzinfo=UTC),
        None, "focus",
    )  # fmt: skip
    (row,) = await _exported(db, "focus", rng)
    assert row["ListUnitPrice"] == row["ContractedUnitPrice"] == Decimal("0.0850")
    assert row["ListCost"] == row["ListUnitPrice"] * row["PricingQuantity"] == row["BilledCost"]
