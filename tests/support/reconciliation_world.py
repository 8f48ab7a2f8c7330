"""A tenant billed by "Azure": charges settled through the real ledger for two Azure OpenAI models — one
priced in USD (converted at the day's rate), one in AUD — over six Sydney days around the end of DST
(6 April 2031), with refunds; and the provider's FOCUS 1.2 export built from that ledger, as Azure Cost
Management would send it (one line per charge or credit, hourly charge periods in UTC)."""

from __future__ import annotations

import csv
import json
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.budgets import settlement
from donatello.models import CostEvent, ModelProvider, Organization, User
from donatello.pricing.service import Quote
from tests.support import factories
from tests.support.ledger import admit_generation, pending_generation, principal_of

SYDNEY = ZoneInfo("Australia/Sydney")
DAYS = [date(2031, 4, 3) + timedelta(days=i) for i in range(6)]  # DST ends on the 6th
RESOURCE = "acme-openai"
RESOURCE_ID = (
    "/subscriptions/0f1e2d3c-0000-4000-8000-000000000001/resourceGroups/ai/providers/"
    f"Microsoft.CognitiveServices/accounts/{RESOURCE}"
)


def usd_rate(day: date) -> Decimal:
    return Decimal("1.50") + Decimal("0.01") * (day - DAYS[0]).days


@dataclass
class Billed:
    org: Organization
    finance: User
    admin: User
    usd_model: ModelProvider  # billed in USD, meter "DALL-E-3 Standard 1024*1024 Images"
    aud_model: ModelProvider  # billed in AUD, deployment "acme-openai/gpt-image-1 Image Output"
    events: list[CostEvent] = field(default_factory=list)

    @property
    def meters(self) -> dict[str, str]:
        return {
            self.usd_model.model_name: f"DALL-E-3 Standard 1024*1024 Images {self.usd_model.model_name[-6:]}",
            self.aud_model.model_name: "gpt-image-1 Image Output",
        }


async def _model(db: AsyncSession, name: str, currency: str) -> ModelProvider:
    row = ModelProvider(
        provider_name="azure-openai",
        model_name=f"{name}-{uuid.uuid4().hex[:6]}",
        api_endpoint="https://acme-openai.openai.azure.com",
        cost_per_image_aud=Decimal("0.0600"),
        pricing_currency=currency,
        cost_per_image=Decimal("0.0400") if currency == "USD" else None,
    )
    db.add(row)
    await db.flush()
    return row


async def build(db: AsyncSession, *, seed: int = 19) -> Billed:
    rng = random.Random(seed)
    org = await factories.organization(db)
    dept = await factories.department(db, org)
    await factories.budget(db, dept, monthly_aud="5000.00", period=(date(2031, 4, 1), date(2031, 4, 30)))
    people = [await factories.user(db, org, role="power_user", department=dept) for _ in range(2)]
    admin = await factories.user(db, org, role="org_admin")
    finance = await factories.user(db, org, role="finance", department=dept)
    usd_model, aud_model = await _model(db, "dall-e-3", "USD"), await _model(db, "gpt-image-1", "AUD")
    for day in DAYS:
        await db.execute(
            text(
                "INSERT INTO fx_rates (base_currency, quote_currency, rate, source, effective_date)"
                " VALUES ('USD', 'AUD', :r, 'RBA 4pm', :d) ON CONFLICT DO NOTHING"
            ),
            {"r": usd_rate(day), "d": day},
        )
    world = Billed(org, finance, admin, usd_model, aud_model)
    org.settings = {
        "timezone": "Australia/Sydney",
        "reconciliation": {
            "mappings": {
                world.meters[usd_model.model_name]: f"azure-openai/{usd_model.model_name}",
                f"{RESOURCE}/gpt-image-1 Image Output": f"azure-openai/{aud_model.model_name}",
            },
            "tolerance_aud": "0.05",
            "tolerance_percent": "1",
        },
    }
    for day in DAYS:
        midnight = datetime(day.year, day.month, day.day, tzinfo=SYDNEY)
        # through the day, and just either side of its local midnight (the DST day is 25 hours long)
        offsets = sorted(
            [timedelta(minutes=1), timedelta(hours=23, minutes=58)]
            + [timedelta(minutes=rng.randrange(60, 23 * 60)) for _ in range(8)]
        )
        for offset in offsets:
            at = (midnight + offset).astimezone(UTC)
            member = rng.choice(people)
            if rng.random() < 0.5:
                usd = rng.choice((Decimal("0.04"), Decimal("0.08")))
                quote = _quote(usd_model, usd, usd_rate(day), "USD", day, images=rng.choice((1, 2)))
            else:
                quote = _quote(
                    aud_model, rng.choice((Decimal("0.17"), Decimal("0.25"))), Decimal(1), "AUD", day
                )
            world.events.append(await _charge(db, member, quote, at))
    charges = [event for event in world.events if event.kind == "charge"]
    for charge in rng.sample(charges, 5):  # refunds the same local day (the USD ones in full)
        amount = charge.actual_cost_aud if charge.pricing_currency == "USD" else Decimal("0.0500")
        at = min(charge.created_at + timedelta(minutes=30), _last_minute(charge.created_at))
        world.events.append(
            await settlement.amend(db, principal_of(admin), charge.id, amount, "refund", "blank image", at=at)
        )
    await db.flush()
    return world


def _last_minute(instant: datetime) -> datetime:
    local = instant.astimezone(SYDNEY)
    return datetime(local.year, local.month, local.day, 23, 59, tzinfo=SYDNEY).astimezone(UTC)


def _quote(
    model: ModelProvider, unit: Decimal, rate: Decimal, currency: str, day: date, images: int = 1
) -> Quote:
    return Quote(
        provider=model.provider_name,
        model=model.model_name,
        size="1024x1024",
        quality="standard",
        images=images,
        unit_price_aud=unit * rate,
        total_aud=unit * rate * images,
        pricing_currency=currency,
        unit_price_in_pricing_currency=unit,
        fx_rate=rate,
        fx_rate_source="RBA 4pm" if currency != "AUD" else None,
        fx_rate_date=day if currency != "AUD" else None,
    )


async def _charge(db: AsyncSession, member: User, quote: Quote, at: datetime) -> CostEvent:
    generation = pending_generation(member)
    generation.model_provider, generation.model_name = quote.provider, quote.model
    await admit_generation(db, principal_of(member), generation, quote.total_aud, at=at)
    return await settlement.settle(db, generation.id, quote, at=at + timedelta(seconds=2))


# --- the provider's export -----------------------------------------------------------------------------

FOCUS_COLUMNS = (
    "BilledCost", "BillingAccountId", "BillingAccountName", "BillingCurrency", "BillingPeriodEnd",
    "BillingPeriodStart", "ChargeCategory", "ChargeClass", "ChargeDescription", "ChargeFrequency",
    "ChargePeriodEnd", "ChargePeriodStart", "ConsumedQuantity", "ConsumedUnit", "ContractedCost",
    "EffectiveCost", "InvoiceIssuerName", "ListCost", "PricingCategory", "PricingQuantity", "PricingUnit",
    "ProviderName", "PublisherName", "RegionId", "ResourceId", "ResourceName", "ResourceType",
    "ServiceCategory", "ServiceName", "SkuId", "SkuMeter", "SubAccountId", "SubAccountName", "Tags",
    "x_SkuMeterName",
)  # fmt: skip


def _iso(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def focus_lines(world: Billed) -> list[dict[str, Any]]:
    """One FOCUS 1.2 line per cost event, in the currency Azure bills that model in."""
    lines = []
    for event in world.events:
        usd = event.model_name == world.usd_model.model_name
        rate = usd_rate(event.created_at.astimezone(SYDNEY).date()) if usd else Decimal(1)
        billed = event.actual_cost_aud / rate
        assert billed == billed.quantize(Decimal("0.0001")), "the world's prices convert exactly"
        hour = event.created_at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        meter = world.meters[event.model_name]
        charge = event.kind == "charge"
        lines.append(
            {
                "BilledCost": billed.normalize(),
                "BillingAccountId": "ba-usd" if usd else "ba-aud",
                "BillingAccountName": "Acme (USD)" if usd else "Acme (AUD)",
                "BillingCurrency": "USD" if usd else "AUD",
                "BillingPeriodEnd": "2031-05-01T00:00:00Z",
                "BillingPeriodStart": "2031-04-01T00:00:00Z",
                "ChargeCategory": "Usage" if charge else "Credit",
                "ChargeClass": "" if charge else "Correction",
                "ChargeDescription": meter,
                "ChargeFrequency": "Usage-Based",
                "ChargePeriodEnd": _iso(hour + timedelta(hours=1)),
                "ChargePeriodStart": _iso(hour),
                "ConsumedQuantity": event.image_count if charge else "",
                "ConsumedUnit": "Images" if charge else "",
                "ContractedCost": billed.normalize(),
                "EffectiveCost": billed.normalize(),
                "InvoiceIssuerName": "Microsoft",
                "ListCost": billed.normalize(),
                "PricingCategory": "Standard",
                "PricingQuantity": event.image_count,
                "PricingUnit": "Images",
                "ProviderName": "Microsoft",
                "PublisherName": "Microsoft",
                "RegionId": "australiaeast",
                "ResourceId": RESOURCE_ID,
                "ResourceName": RESOURCE,
                "ResourceType": "Azure OpenAI",
                "ServiceCategory": "AI and Machine Learning",
                "ServiceName": "Azure OpenAI Service",
                "SkuId": "DZH318Z0BQ4L",
                "SkuMeter": meter,
                "SubAccountId": "/subscriptions/0f1e2d3c-0000-4000-8000-000000000001",
                "SubAccountName": "Acme AI",
                "Tags": json.dumps({"env": "prod", "costcenter": "AI"}),
                "x_SkuMeterName": meter,
            }
        )
    return lines


def write_csv(lines: list[dict[str, Any]], path: Path) -> Path:
    with path.open("w", newline="", encoding="utf-8-sig") as handle:  # Azure writes a BOM
        writer = csv.DictWriter(handle, FOCUS_COLUMNS)
        writer.writeheader()
        writer.writerows(lines)
    return path


def write_parquet(lines: list[dict[str, Any]], path: Path) -> Path:
    """Costs as doubles, as Azure's Parquet exports carry them."""
    columns: dict[str, list[Any]] = {name: [line[name] for line in lines] for name in FOCUS_COLUMNS}
    columns["BilledCost"] = [float(value) for value in columns["BilledCost"]]
    columns["ConsumedQuantity"] = [float(v) if v != "" else None for v in columns["ConsumedQuantity"]]
    columns["PricingQuantity"] = [float(v) for v in columns["PricingQuantity"]]
    columns["ChargePeriodStart"] = [datetime.fromisoformat(v) for v in columns["ChargePeriodStart"]]
    table = pa.table({name: pa.array(values) for name, values in columns.items()})
    pq.write_table(table, path, row_group_size=50)
    return path


async def ledger_by_day_and_model(db: AsyncSession, world: Billed) -> dict[tuple[date, str], Decimal]:
    rows = await db.execute(
        text(
            "SELECT (created_at AT TIME ZONE 'Australia/Sydney')::date, model_name, sum(actual_cost_aud)"
            " FROM cost_events WHERE organization_id = :o GROUP BY 1, 2"
        ),
        {"o": world.org.id},
    )
    return {(day, model): Decimal(total) for day, model, total in rows}
