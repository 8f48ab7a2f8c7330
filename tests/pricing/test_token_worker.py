"""The worker settles a token-priced generation from the provider's bill: admitted at the most it can
cost, charged what the usage says (the rest of the hold released), and kept with the generation; a
provider that answers without usage is charged the hold, never nothing, and raises the alert.

The bill comes from the real Azure OpenAI adapter talking to the strict loopback stub, which accepts only
what the service accepts and bills as it does (``usage``)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from donatello.auth.tokens import TokenSigner
from donatello.core.database import set_tenant, transaction
from donatello.generations import admission
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
from donatello.providers import availability_for
from tests.pricing import token_world
from tests.support import azure_openai_stub as replies
from tests.support import generation_world as gw
from tests.support.azure_openai_stub import STUB_API_KEY, AzureOpenAIStub, Call
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


async def test_two_wide_high_images_are_one_call_charged_from_its_usage_and_the_rest_of_the_hold_released(
    client: httpx.AsyncClient,
    db: AsyncSession,
    app: FastAPI,
    http: httpx.AsyncClient,
    tokens: TokenSigner,
    azure_stub: AzureOpenAIStub,
) -> None:
    """gpt-image-1.5 on Azure, priced per million tokens in USD, its key in an environment variable: the
    worker sends one call the strict stub accepts and settles from the usage the stub bills."""
    world = await gw.world(db, tokens)
    model = await token_world.token_priced_model(db, endpoint=azure_stub.endpoint("gpt-image-1.5"))
    name = f"azure-openai/{model.model_name}"

    accepted = await client.post(
        "/v1/generations",
        json={"prompt": token_world.PROMPT, "negative_prompt": token_world.NEGATIVE, "model": name,
              "size": "1536x1024", "quality": "high", "n": 2},
        headers=world.headers,
    )  # fmt: skip
    assert accepted.status_code == 202, accepted.text
    # held at the most: USD (2 x 6208 x 32 + (35 + 15 + 32) x 5) / 1e6 = 0.397722, x 1.52 -> up to 0.6046
    assert accepted.json()["reserved_aud"] == "0.6046"
    assert await gw.spent(db, world.department) == (Decimal(0), Decimal("0.6046"))
    assert await (await gw.worker(app, db, http)).run_once()
    done = (await client.get(f"/v1/generations/{accepted.json()['id']}", headers=world.headers)).json()

    [sent] = azure_stub.requests  # one call for both images
    assert sent.headers["api-key"] == STUB_API_KEY  # the environment credential, obtained by the worker
    assert (sent.json["n"], sent.json["size"], sent.json["quality"]) == (2, "1536x1024", "high")
    assert "response_format" not in sent.json and "style" not in sent.json
    # the stub bills a text token per four characters of what was sent, and 6208 per wide high image
    text_tokens = len(sent.json["prompt"]) // 4
    assert text_tokens == 14  # "…canvas\n\nAvoid: text, watermark": 59 characters
    usage = {"input_text_tokens": 14, "input_image_tokens": 0, "output_image_tokens": 2 * 6208}
    # charged the bill: USD (14 x 5 + 12416 x 32) / 1e6 = 0.397382, x 1.52 = 0.60402064 -> 0.6040
    assert (done["status"], done["cost_aud"], done["reserved_aud"]) == ("completed", "0.6040", "0.6046")
    assert (done["usage"], done["charge_basis"]) == (usage, "usage")
    assert [(await gw.fetch(client, url)).status_code for url in done["image_urls"]] == [200, 200]
    assert await gw.spent(db, world.department) == (Decimal("0.6040"), Decimal(0))  # the rest released
    [charge] = await gw.charges(db, world.department)
    assert (charge.estimated_cost_aud, charge.actual_cost_aud) == (Decimal("0.6046"), Decimal("0.6040"))
    assert (charge.pricing_currency, charge.pricing_amount, charge.fx_rate) == (
        "USD",
        Decimal("0.3974"),
        token_world.RATE,
    )
    assert charge.usage is not None and charge.details["capped_at_hold"] is False
    assert {key: charge.usage[key] for key in usage} == usage
    assert charge.usage["raw"]["output_tokens"] == 12416  # the provider's own bill, kept as it came
    row = await db.get(Generation, uuid.UUID(done["id"]), populate_existing=True)
    assert row is not None and row.usage == charge.usage


def _billed_beyond_the_hold(call: Call) -> dict[str, Any]:
    """The service's success, with a bill larger than the documented tokens (a bigger image, say)."""
    success = replies.success_b64().body
    assert callable(success)
    body = success(call)
    usage = body["usage"]
    usage["output_tokens"] = usage["output_tokens_details"]["image_tokens"] = 3 * usage["output_tokens"]
    usage["total_tokens"] = usage["input_tokens"] + usage["output_tokens"]
    return body


async def test_a_bill_above_the_hold_is_charged_the_hold_and_says_so(
    client: httpx.AsyncClient,
    db: AsyncSession,
    app: FastAPI,
    http: httpx.AsyncClient,
    tokens: TokenSigner,
    azure_stub: AzureOpenAIStub,
) -> None:
    world = await gw.world(db, tokens)
    model = await token_world.token_priced_model(db, endpoint=azure_stub.endpoint("gpt-image-1.5"))
    azure_stub.reply(replies.Reply(body=_billed_beyond_the_hold))

    accepted = await client.post(
        "/v1/generations",
        json={"prompt": "a harbour", "model": f"azure-openai/{model.model_name}", "quality": "medium"},
        headers=world.headers,
    )
    assert await (await gw.worker(app, db, http)).run_once()
    done = (await client.get(f"/v1/generations/{accepted.json()['id']}", headers=world.headers)).json()

    assert len(azure_stub.requests) == 1
    assert done["usage"]["output_image_tokens"] == 3 * 1056  # what the provider billed, kept as it came
    assert (done["cost_aud"], done["charge_basis"]) == (done["reserved_aud"], "usage-capped-at-hold")
    [charge] = await gw.charges(db, world.department)
    assert charge.details["capped_at_hold"] is True
    assert Decimal(charge.details["billed_aud"]) > charge.actual_cost_aud == Decimal(done["reserved_aud"])


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
    assert (
        row.details["charge_basis"] == "hold-usage-missing"
    )  # what GET /v1/generations/{id} says it was charged on
    assert (budget.current_spend_aud, budget.reserved_aud) == (Decimal("0.4054"), Decimal(0))
    assert len(missing) == 1 and PROMPT not in str(missing[0].payload)


async def test_the_api_document_describes_the_metered_usage_and_the_charge_basis(
    client: httpx.AsyncClient,
) -> None:
    schemas = (await client.get("/openapi.json")).json()["components"]["schemas"]
    read = schemas["GenerationRead"]["properties"]

    assert set(schemas["MeteredUsageRead"]["properties"]) == {
        "input_text_tokens",
        "input_image_tokens",
        "output_image_tokens",
    }
    assert {"$ref": "#/components/schemas/MeteredUsageRead"} in read["usage"]["anyOf"]
    [basis] = [option for option in read["charge_basis"]["anyOf"] if "enum" in option]
    assert basis["enum"] == ["per-image", "usage", "usage-capped-at-hold", "hold-usage-missing"]
    assert "token prices" in read["charge_basis"]["description"]
