"""The worker settles a token-priced generation from the provider's bill: admitted at the most it can
cost, charged what the usage says (the rest of the hold released), and kept with the generation; a
provider that answers without usage is charged the hold, never nothing, and raises the alert."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from donatello.core.database import set_tenant, transaction
from donatello.generations import admission, processing
from donatello.generations.processing import Processor
from donatello.generations.schemas import GenerationCreate
from donatello.models import (
    AuditOutbox,
    CostEvent,
    DepartmentBudget,
    Generation,
    ModelProvider,
    ProviderConfig,
)
from donatello.providers import Candidate, ImageRequest, ImageResult, Outcome, TokenUsage, availability_for
from tests.support.azure_openai_stub import png
from tests.support.ledger import committed_tenant, principal_of

PROMPT, NEGATIVE = "A lighthouse at dawn, oil on canvas", "text, watermark"
#: per million tokens, in AUD: no exchange rate to commit beside the model
PRICES = {"token_price_input_text": Decimal("7.60"), "token_price_input_image": Decimal("12.16"),
          "token_price_output_image": Decimal("48.64")}  # fmt: skip


@pytest.fixture
async def token_model(engine: AsyncEngine, postgres_url: str) -> AsyncIterator[ModelProvider]:
    """A committed model billed by tokens (gpt-image family, rendered locally), removed afterwards."""
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with transaction(sessions, platform=True) as session:
        model = ModelProvider(
            provider_name="local",
            model_name=f"t-{uuid.uuid4().hex[:8]}",
            api_endpoint="local://pillow",
            pricing_unit="token",
            **PRICES,
        )
        session.add(model)
        await session.flush()
        session.add(ProviderConfig(provider_id=model.id, configuration={"family": "gpt-image"}))
    yield model
    owner = create_async_engine(postgres_url)
    async with owner.begin() as connection:
        await connection.execute(text("DELETE FROM model_providers WHERE id = :id"), {"id": model.id})
    await owner.dispose()


async def _admit(app: FastAPI, engine: AsyncEngine, member: Any, model: ModelProvider) -> Generation:
    body = GenerationCreate(
        prompt=PROMPT,
        negative_prompt=NEGATIVE,
        model=f"local/{model.model_name}",
        size="1024x1024",
        quality="hd",
        n=2,
    )
    state = app.state
    context = admission.Admission(state.settings, state.sealer, state.rate_limiter, availability_for(None))
    async with transaction(async_sessionmaker(engine, expire_on_commit=False)) as session:
        await set_tenant(session, member.organization_id)
        return await admission.request(session, principal_of(member), body, None, context)


async def _work(app: FastAPI, engine: AsyncEngine) -> None:
    state = app.state
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with httpx.AsyncClient(trust_env=False) as http:
        worker = Processor(
            sessions, state.settings, state.sealer, state.image_store, http, availability_for(None)
        )
        assert await worker.run_once()


async def _outcome_of(generation_id: uuid.UUID, engine: AsyncEngine) -> tuple[Generation, CostEvent, Any]:
    async with transaction(async_sessionmaker(engine, expire_on_commit=False), platform=True) as session:
        row = await session.get(Generation, generation_id, populate_existing=True)
        charge = await session.scalar(select(CostEvent).where(CostEvent.generation_id == generation_id))
        assert row is not None and charge is not None
        budget = await session.scalar(
            select(DepartmentBudget).where(DepartmentBudget.department_id == row.department_id)
        )
        alerts = (
            await session.execute(
                select(AuditOutbox).where(AuditOutbox.event_type == "generation.usage_missing")
            )
        ).scalars()
        missing = [a for a in alerts if a.payload["resource_id"] == str(generation_id)]
        return row, charge, (budget, missing)


async def test_the_worker_charges_the_bill_and_releases_the_rest_of_the_hold(
    app: FastAPI,
    engine: AsyncEngine,
    postgres_url: str,
    token_model: ModelProvider,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The provider call is the only stand-in: a gpt-image answer with its usage block (the Azure adapter
    reads it from the response); everything around it is the worker's own path."""
    raw = {"input_tokens": 60, "input_tokens_details": {"text_tokens": 60, "image_tokens": 0},
           "output_tokens": 7000, "total_tokens": 7060}  # fmt: skip
    asked: list[tuple[str, ImageRequest]] = []

    async def provider_answers(options: Sequence[Candidate], request: ImageRequest, **_: Any) -> Outcome:
        asked.append((options[0].name, request))
        usage = TokenUsage(input_text_tokens=60, input_image_tokens=0, output_image_tokens=7000, raw=raw)
        result = ImageResult([png(), png()], None, None, False, latency_ms=900, usage=usage)
        return Outcome(options[0], result, retries=0, fallback_from=None, failures=[])

    monkeypatch.setattr(processing, "generate_with_fallback", provider_answers)
    async with committed_tenant(engine, postgres_url, budget="5.00") as tenant:
        generation = await _admit(app, engine, tenant.members[0], token_model)
        # held at the most: AUD (2 x 4160 x 48.64 + 82 x 7.60) / 1e6 = 0.405308 -> 0.4054 (rounded up)
        assert generation.reservation_aud == Decimal("0.4054")

        await _work(app, engine)

        row, charge, (budget, missing) = await _outcome_of(generation.id, engine)
    assert asked[0][0] == f"local/{token_model.model_name}" and asked[0][1].n == 2
    # charged the bill: AUD (60 x 7.60 + 7000 x 48.64) / 1e6 = 0.340936 -> 0.3409
    assert (row.status, row.cost_aud, charge.actual_cost_aud) == (
        "completed",
        Decimal("0.3409"),
        Decimal("0.3409"),
    )
    assert charge.estimated_cost_aud == Decimal("0.4054") and charge.details["capped_at_hold"] is False
    assert (
        row.usage
        == charge.usage
        == {
            "input_text_tokens": 60,
            "input_image_tokens": 0,
            "output_image_tokens": 7000,
            "raw": raw,
        }
    )
    assert (budget.current_spend_aud, budget.reserved_aud) == (Decimal("0.3409"), Decimal(0))
    assert missing == []


async def test_a_token_priced_answer_without_usage_is_charged_the_hold_and_alerts(
    app: FastAPI, engine: AsyncEngine, postgres_url: str, token_model: ModelProvider
) -> None:
    """Through the real local renderer, which meters nothing: the bill cannot be read."""
    async with committed_tenant(engine, postgres_url, budget="5.00") as tenant:
        generation = await _admit(app, engine, tenant.members[0], token_model)

        await _work(app, engine)

        row, charge, (budget, missing) = await _outcome_of(generation.id, engine)
    assert (row.status, row.cost_aud, charge.actual_cost_aud) == (
        "completed",
        Decimal("0.4054"),
        Decimal("0.4054"),
    )
    assert row.usage is None and charge.usage is None and charge.details["usage_missing"] is True
    assert (budget.current_spend_aud, budget.reserved_aud) == (Decimal("0.4054"), Decimal(0))
    assert len(missing) == 1 and PROMPT not in str(missing[0].payload)
