"""What a user sees when Azure OpenAI answers as it really does — each through the worker, the real
adapter and the strict loopback stub (which records every call it received, so "one call" is one call
the provider saw and billed):

* a safety refusal (gpt-image's ``moderation_blocked``, Azure's ``content_policy_violation`` with its inner
  ``ResponsibleAIPolicyViolation``, or the output filter's ``contentFilter``) is final: one call, no
  fallback to the cheaper local model, nothing charged, the hold released, the stage and categories shown;
* a DALL-E 3 request for three images whose second call fails pays for four calls, not six, and makes
  three images charged once;
* an account out of credit (``insufficient_quota``) is asked once, and the request goes to the fallback;
* a body that trickles in is cut off at the model's deadline, and the request goes to the fallback;
* an image store that fails after Azure answered never calls Azure again: the kept answer (its usage
  included) is stored and charged later.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.auth.tokens import TokenSigner
from donatello.core.clock import utcnow
from donatello.models import Generation
from tests.pricing import token_world
from tests.support import azure_openai_stub as replies
from tests.support import generation_world as gw
from tests.support import provider_rows
from tests.support.azure_openai_stub import AzureOpenAIStub
from tests.support.failing_store import FailingStore

PROMPT = "a koala in a boardroom"


async def _generate(
    client: httpx.AsyncClient,
    db: AsyncSession,
    app: FastAPI,
    http: httpx.AsyncClient,
    world: gw.World,
    **body: Any,
) -> dict[str, Any]:
    accepted = await client.post("/v1/generations", json={"prompt": PROMPT, **body}, headers=world.headers)
    assert accepted.status_code == 202, accepted.text
    assert await (await gw.worker(app, db, http)).run_once()
    done = await client.get(f"/v1/generations/{accepted.json()['id']}", headers=world.headers)
    return done.json()


@pytest.mark.parametrize(
    ("refusal", "content_filter"),
    [
        (replies.moderation_blocked("violence"), {"stage": "prompt", "categories": ["violence"]}),
        (replies.content_filter("high", "hate"), {"stage": "prompt", "categories": ["hate"]}),
        (replies.output_filtered(), {"stage": "output", "categories": []}),
    ],
    ids=["moderation_blocked", "content_policy_violation", "contentFilter"],
)
async def test_a_safety_refusal_of_a_token_priced_model_is_one_call_no_fallback_and_no_charge(
    client: httpx.AsyncClient,
    db: AsyncSession,
    app: FastAPI,
    http: httpx.AsyncClient,
    tokens: TokenSigner,
    azure_stub: AzureOpenAIStub,
    refusal: replies.Reply,
    content_filter: dict[str, Any],
) -> None:
    world = await gw.world(db, tokens)
    gpt = await token_world.token_priced_model(db, endpoint=azure_stub.endpoint("gpt-image-1-mini"))
    world.local.is_active = True  # the cheaper local renderer stays on offer as a fallback
    await db.flush()
    azure_stub.reply(refusal)

    done = await _generate(client, db, app, http, world, model=f"azure-openai/{gpt.model_name}", n=2)

    assert len(azure_stub.requests) == 1  # neither retried nor sent to the local renderer
    assert (done["status"], done["model"], done["fallback_from"]) == (
        "failed",
        f"azure-openai/{gpt.model_name}",
        None,
    )
    assert done["content_filter"] == content_filter
    assert "content filter" in done["error_message"] and PROMPT not in done["error_message"]
    assert (done["cost_aud"], done["usage"], done["charge_basis"], done["image_urls"]) == (
        "0.0000",
        None,
        None,
        [],
    )
    assert Decimal(done["reserved_aud"]) > Decimal("0.05")  # it was held at the most it could cost...
    assert await gw.spent(db, world.department) == (Decimal(0), Decimal(0))  # ...and the hold released
    assert await gw.charges(db, world.department) == []


async def test_three_dall_e_3_images_with_one_failed_call_are_four_calls_three_images_and_one_charge(
    client: httpx.AsyncClient,
    db: AsyncSession,
    app: FastAPI,
    http: httpx.AsyncClient,
    tokens: TokenSigner,
    azure_stub: AzureOpenAIStub,
) -> None:
    world = await gw.world(db, tokens)
    dalle = await provider_rows.model(
        db,
        "azure-openai",
        price="0.0800",
        priority=1,
        endpoint=azure_stub.endpoint("dall-e-3"),
        configuration={"family": "dall-e-3"},
        max_retries=2,
    )
    # the family makes one image per call; the second call meets a passing outage
    azure_stub.reply(
        replies.success_b64(), replies.server_error(503), replies.success_b64(), replies.success_b64()
    )

    done = await _generate(client, db, app, http, world, model=f"azure-openai/{dalle.model_name}", n=3)

    assert len(azure_stub.requests) == 4  # not 6: the image already made is not asked for again
    assert [sent.json["n"] for sent in azure_stub.requests] == [1, 1, 1, 1]
    assert (done["status"], done["fallback_from"], done["cost_aud"]) == ("completed", None, "0.2400")
    assert [(await gw.fetch(client, url)).status_code for url in done["image_urls"]] == [200, 200, 200]
    [charge] = await gw.charges(db, world.department)
    assert (charge.image_count, charge.actual_cost_aud) == (3, Decimal("0.2400"))
    assert done["charge_basis"] == "per-image" and done["usage"] is None
    assert await gw.spent(db, world.department) == (Decimal("0.2400"), Decimal(0))


async def test_an_account_out_of_credit_is_asked_once_and_the_fallback_makes_the_image(
    client: httpx.AsyncClient,
    db: AsyncSession,
    app: FastAPI,
    http: httpx.AsyncClient,
    tokens: TokenSigner,
    azure_stub: AzureOpenAIStub,
) -> None:
    world = await gw.world(db, tokens)  # the local renderer at 0.05
    azure = await provider_rows.model(
        db, "azure-openai", price="0.0800", priority=1, endpoint=azure_stub.endpoint(), max_retries=3
    )
    azure_stub.reply(replies.insufficient_quota())

    done = await _generate(client, db, app, http, world)  # auto: platform priority tries Azure first

    assert len(azure_stub.requests) == 1  # waiting will not bring the credit back: not retried
    assert done["status"] == "completed" and done["model"] == f"local/{world.local.model_name}"
    assert done["fallback_from"] == f"azure-openai/{azure.model_name}"
    assert "exceeded your current quota" in done["fallback_reason"]
    assert done["cost_aud"] == "0.0500"  # the fallback's own price
    assert await gw.spent(db, world.department) == (Decimal("0.0500"), Decimal(0))


async def test_a_trickling_answer_is_cut_off_at_the_models_deadline_and_the_fallback_makes_the_image(
    client: httpx.AsyncClient,
    db: AsyncSession,
    app: FastAPI,
    http: httpx.AsyncClient,
    tokens: TokenSigner,
    azure_stub: AzureOpenAIStub,
) -> None:
    world = await gw.world(db, tokens)
    azure = await provider_rows.model(
        db,
        "azure-openai",
        price="0.0800",
        priority=1,
        endpoint=azure_stub.endpoint(),
        timeout_seconds=1,
        max_retries=0,
    )
    # every piece arrives well within a per-read timeout; the whole answer would take seconds
    azure_stub.reply(replies.trickle(0.2))
    started = time.monotonic()

    done = await _generate(client, db, app, http, world)

    assert time.monotonic() - started < 5  # not the several seconds the whole body would take
    assert len(azure_stub.requests) == 1
    assert done["status"] == "completed" and done["fallback_from"] == f"azure-openai/{azure.model_name}"
    assert "no answer within 1s" in done["fallback_reason"]
    assert done["cost_aud"] == "0.0500"


async def test_a_store_down_after_azure_answered_never_calls_azure_again_and_charges_the_kept_usage(
    client: httpx.AsyncClient,
    db: AsyncSession,
    app: FastAPI,
    http: httpx.AsyncClient,
    tokens: TokenSigner,
    azure_stub: AzureOpenAIStub,
) -> None:
    world = await gw.world(db, tokens)
    gpt = await token_world.token_priced_model(db, endpoint=azure_stub.endpoint("gpt-image-2"))
    store = FailingStore(app.state.image_store, failures=10**6)
    worker = dataclasses.replace(await gw.worker(app, db, http), store=store)
    accepted = await client.post(
        "/v1/generations",
        json={"prompt": PROMPT, "model": f"azure-openai/{gpt.model_name}", "quality": "low", "n": 2},
        headers=world.headers,
    )
    generation_id = uuid.UUID(accepted.json()["id"])

    assert await worker.run_once()  # Azure answers; every write of the images fails
    waiting = (await client.get(f"/v1/generations/{generation_id}", headers=world.headers)).json()
    assert (waiting["status"], waiting["cost_aud"], waiting["usage"]) == ("pending", "0.0000", None)
    store.failures = 0  # the storage account is back; the retry's back-off has passed
    await db.execute(
        update(Generation)
        .where(Generation.id == generation_id)
        .values(next_attempt_at=utcnow() - timedelta(1))
    )
    assert await worker.run_once()
    done = (await client.get(f"/v1/generations/{generation_id}", headers=world.headers)).json()

    assert len(azure_stub.requests) == 1  # one paid call in all
    assert done["status"] == "completed" and len(done["image_urls"]) == 2
    # the kept answer's bill: 2 x 272 output tokens (1024x1024 low) and the prompt's text tokens
    assert done["usage"] == {"input_text_tokens": 5, "input_image_tokens": 0, "output_image_tokens": 544}
    assert done["charge_basis"] == "usage"
    # at gpt-image-1.5's prices (token_world): USD (5 x 5 + 544 x 32) / 1e6 = 0.017433, x 1.52 -> 0.0265
    assert done["cost_aud"] == "0.0265"
    assert await gw.spent(db, world.department) == (Decimal("0.0265"), Decimal(0))
