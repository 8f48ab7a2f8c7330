"""A model priced per token (a gpt-image deployment billed in USD), its rate, and a department to charge."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from donatello.models import DepartmentBudget, FxRate, ModelProvider, User
from tests.support import factories, provider_rows

#: gpt-image-1.5's list prices per million tokens (USD): input text, input image, output image
PRICES = {"input_text": Decimal("5.00"), "input_image": Decimal("8.00"), "output_image": Decimal("32.00")}
RATE = Decimal("1.52000000")  # AUD per USD
RATE_DATE = date(2026, 11, 2)
PROMPT, NEGATIVE = "A lighthouse at dawn, oil on canvas", "text, watermark"  # 35 + 15 UTF-8 bytes
AT = datetime(2026, 12, 3, 1, tzinfo=UTC)


async def token_priced_model(
    db: AsyncSession,
    provider: str = "azure-openai",
    *,
    configuration: dict[str, Any] | None = None,
    endpoint: str | None = None,
) -> ModelProvider:
    """A gpt-image model billed by tokens in USD (no per-image price), able to run (at ``endpoint``: the
    loopback Azure OpenAI stub's deployment, say)."""
    await provider_rows.only_these_models(db)
    model = await provider_rows.model(
        db,
        provider,
        endpoint=endpoint or ("https://acme.openai.azure.com" if provider != "local" else "local://pillow"),
        configuration=configuration
        or {"family": "gpt-image", "sizes": ["1024x1024", "1536x1024", "1024x1536"]},
    )
    model.pricing_unit, model.pricing_currency, model.cost_per_image_aud = "token", "USD", None
    model.token_price_input_text = PRICES["input_text"]
    model.token_price_input_image = PRICES["input_image"]
    model.token_price_output_image = PRICES["output_image"]
    db.add(FxRate(base_currency="USD", rate=RATE, source="RBA", effective_date=RATE_DATE))
    await db.flush()
    return model


@dataclass
class Spender:
    member: User
    budget: DepartmentBudget


async def spender(db: AsyncSession, monthly_aud: str = "10.00") -> Spender:
    org = await factories.organization(db)
    dept = await factories.department(db, org)
    budget = await factories.budget(db, dept, monthly_aud=monthly_aud)
    return Spender(await factories.user(db, org, role="power_user", department=dept), budget)
