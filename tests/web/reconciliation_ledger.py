"""What the reconciliation stories start from, committed in the live server's database: Acme's ledger for
three Sydney days on two Azure OpenAI models (charged through the real reservation and settlement), and
the provider's FOCUS 1.2 CSV of the same charges as Azure Cost Management would send it — one hourly line
per charge, billed in AUD — with one day x model billed differently when asked."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select

from donatello.budgets import settlement
from donatello.core.database import create_engine, create_sessionmaker, transaction
from donatello.demo import current_month
from donatello.models import User
from tests.support.ledger import admit_generation, flat_quote, pending_generation, principal_of
from tests.support.reconciliation_world import FOCUS_COLUMNS
from tests.web.world import _run

SYDNEY = ZoneInfo("Australia/Sydney")
MODELS = ("gpt-image-1-mini", "gpt-image-1.5")
UNIT = Decimal("0.5000")  # A$ per image, each day x model: two charges
RESOURCE = "acme-openai"


@dataclass(frozen=True)
class Charge:
    day: date
    model: str
    at: datetime
    aud: Decimal


def days(timezone: str) -> list[date]:
    """The current month's first three days (its budget covers them)."""
    first, _ = current_month(timezone)
    return [first + timedelta(days=i) for i in range(3)]


def charge_ledger(owner_url: str, app_role: str, timezone: str) -> list[Charge]:
    """Two charges a day x model, settled for the power user of Marketing at 10:00 and 15:00 local."""

    async def run() -> list[Charge]:
        engine = create_engine(owner_url, app_role=app_role, pool_size=1)
        charges: list[Charge] = []
        try:
            async with transaction(create_sessionmaker(engine), platform=True) as session:
                member = (
                    await session.execute(select(User).where(User.email == "power_user@acme.com.au"))
                ).scalar_one()
                for day in days(timezone):
                    for model in MODELS:
                        for hour in (10, 15):
                            at = datetime(day.year, day.month, day.day, hour, tzinfo=SYDNEY).astimezone(UTC)
                            quote = replace(flat_quote(str(UNIT)), provider="azure-openai", model=model)
                            generation = pending_generation(member)
                            generation.model_provider, generation.model_name = "azure-openai", model
                            generation = (
                                await admit_generation(
                                    session, principal_of(member), generation, quote.total_aud, at=at
                                )
                            ).generation
                            done = at + timedelta(seconds=2)
                            await settlement.settle(session, generation.id, quote, at=done)
                            # finished here, so the live server's worker has nothing to run
                            generation.status, generation.completed_at = "completed", done
                            generation.image_url = f"seeded/{generation.id}.png"
                            charges.append(Charge(day, model, at, UNIT))
        finally:
            await engine.dispose()
        return charges

    return _run(run)


def meter(model: str) -> str:
    return f"{model} Image Output"


def focus_csv(charges: list[Charge], path: Path, *, extra: dict[tuple[date, str], Decimal]) -> Path:
    """The provider's export: one line per charge (plus ``extra`` A$ on the first line of a day x model),
    and one line of a meter nobody mapped (fine-tuning hosting)."""
    seen: set[tuple[date, str]] = set()
    lines = []
    for charge in charges:
        billed = charge.aud
        if (charge.day, charge.model) not in seen:
            billed += extra.get((charge.day, charge.model), Decimal(0))
            seen.add((charge.day, charge.model))
        lines.append(_line(charge.at, meter(charge.model), billed, quantity=1))
    lines.append(_line(charges[0].at, "Fine-tuning Hosting Hours", Decimal("2.7500"), quantity=None))
    with path.open("w", newline="", encoding="utf-8-sig") as handle:  # Azure writes a BOM
        writer = csv.DictWriter(handle, FOCUS_COLUMNS)
        writer.writeheader()
        writer.writerows(lines)
    return path


def _line(at: datetime, sku_meter: str, billed: Decimal, *, quantity: int | None) -> dict[str, object]:
    hour = at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    iso = "%Y-%m-%dT%H:%M:%SZ"
    return {
        "BilledCost": billed,
        "BillingAccountId": "ba-aud",
        "BillingAccountName": "Acme (AUD)",
        "BillingCurrency": "AUD",
        "BillingPeriodEnd": "",
        "BillingPeriodStart": "",
        "ChargeCategory": "Usage",
        "ChargeClass": "",
        "ChargeDescription": sku_meter,
        "ChargeFrequency": "Usage-Based",
        "ChargePeriodEnd": (hour + timedelta(hours=1)).strftime(iso),
        "ChargePeriodStart": hour.strftime(iso),
        "ConsumedQuantity": "" if quantity is None else quantity,
        "ConsumedUnit": "Images" if quantity else "Hours",
        "ContractedCost": billed,
        "EffectiveCost": billed,
        "InvoiceIssuerName": "Microsoft",
        "ListCost": billed,
        "PricingCategory": "Standard",
        "PricingQuantity": quantity or 1,
        "PricingUnit": "Images" if quantity else "Hours",
        "ProviderName": "Microsoft",
        "PublisherName": "Microsoft",
        "RegionId": "australiaeast",
        "ResourceId": f"/subscriptions/0f1e2d3c/resourceGroups/ai/providers/Microsoft.CognitiveServices/accounts/{RESOURCE}",
        "ResourceName": RESOURCE,
        "ResourceType": "Azure OpenAI",
        "ServiceCategory": "AI and Machine Learning",
        "ServiceName": "Azure OpenAI Service",
        "SkuId": "DZH318Z0BQ4L",
        "SkuMeter": sku_meter,
        "SubAccountId": "/subscriptions/0f1e2d3c",
        "SubAccountName": "Acme AI",
        "Tags": json.dumps({"env": "prod"}),
        "x_SkuMeterName": sku_meter,
    }
