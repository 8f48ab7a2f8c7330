"""Asking for what today's models offer: gpt-image's sizes and qualities, checked against the chosen model,
with the older words (standard, hd) still understood."""

from __future__ import annotations

import uuid

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.auth.tokens import TokenSigner
from donatello.generations.asking import end_user_id
from tests.support import factories, provider_rows
from tests.support import generation_world as gw
from tests.support.azure_openai_stub import AzureOpenAIStub, server_error, success_b64

DALL_E_3 = {"family": "dall-e-3"}
GPT_IMAGE = {"family": "gpt-image"}


async def test_a_wide_high_request_is_accepted_by_a_model_that_offers_it_and_refused_by_one_that_does_not(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    world = await gw.world(db, tokens)
    classic = await provider_rows.model(db, "azure-openai", configuration=DALL_E_3)
    square_only = await provider_rows.model(
        db, "azure-openai", configuration={**GPT_IMAGE, "sizes": ["1024x1024"]}
    )
    wide_high = {"prompt": "a harbour at noon", "size": "1536x1024", "quality": "high"}

    accepted = await client.post(
        "/v1/generations",
        json={**wide_high, "model": f"local/{world.local.model_name}"},
        headers=world.headers,
    )
    refused = await client.post(
        "/v1/generations",
        json={**wide_high, "model": f"azure-openai/{classic.model_name}"},
        headers=world.headers,
    )
    narrowed = await client.post(
        "/v1/generations",
        json={**wide_high, "model": f"azure-openai/{square_only.model_name}"},
        headers=world.headers,
    )

    assert accepted.status_code == 202, accepted.text
    assert (accepted.json()["size"], accepted.json()["quality"]) == ("1536x1024", "high")
    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith("application/problem+json")
    problem = refused.json()
    assert problem["type"].endswith("unsupported-option") and problem["field"] == "size"
    assert problem["supported"] == ["1024x1024", "1792x1024", "1024x1792"]
    assert "supported: 1024x1024, 1792x1024, 1024x1792" in problem["detail"]
    # a configuration narrows its family's sizes: this deployment makes squares only
    assert narrowed.status_code == 422 and narrowed.json()["supported"] == ["1024x1024"]
    assert await gw.count_generations(db, world.org) == 1  # nothing was admitted for the refusals


async def test_a_quality_the_model_does_not_offer_is_refused_naming_the_ones_it_does(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    world = await gw.world(db, tokens)
    classic = await provider_rows.model(db, "azure-openai", configuration=DALL_E_3)
    gpt = await provider_rows.model(db, "azure-openai", configuration=GPT_IMAGE)

    low_on_classic = await client.post(
        "/v1/generations",
        json={"prompt": "a koala", "model": f"azure-openai/{classic.model_name}", "quality": "low"},
        headers=world.headers,
    )
    old_words_on_gpt = [
        await client.post(
            "/v1/generations",
            json={"prompt": "a koala", "model": f"azure-openai/{gpt.model_name}", "quality": quality},
            headers=world.headers,
        )
        for quality in ("standard", "hd")
    ]

    assert low_on_classic.status_code == 422
    assert (low_on_classic.json()["field"], low_on_classic.json()["supported"]) == (
        "quality",
        ["standard", "hd"],
    )
    assert [response.status_code for response in old_words_on_gpt] == [202, 202]


async def test_hd_on_gpt_image_is_accepted_and_sent_as_high(
    client: httpx.AsyncClient,
    db: AsyncSession,
    app: FastAPI,
    http: httpx.AsyncClient,
    tokens: TokenSigner,
    azure_stub: AzureOpenAIStub,
) -> None:
    world = await gw.world(db, tokens)
    gpt = await provider_rows.model(
        db,
        "azure-openai",
        endpoint=azure_stub.endpoint("gpt-image-1-mini"),
        configuration=GPT_IMAGE,
    )
    azure_stub.reply(success_b64())

    accepted = await client.post(
        "/v1/generations",
        json={"prompt": "a koala in HD", "model": f"azure-openai/{gpt.model_name}", "quality": "hd"},
        headers=world.headers,
    )
    assert accepted.status_code == 202, accepted.text
    assert await (await gw.worker(app, db, http)).run_once()
    done = (await client.get(f"/v1/generations/{accepted.json()['id']}", headers=world.headers)).json()

    assert done["status"] == "completed", done
    assert done["quality"] == "hd"  # what was asked for stays on the record
    [sent] = azure_stub.requests
    assert sent.json["quality"] == "high"  # in the model's own word


async def test_auto_chooses_only_among_models_that_offer_the_size(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    world = await gw.world(db, tokens)  # the local renderer, priority 100
    classic = await provider_rows.model(db, "azure-openai", priority=1, configuration=DALL_E_3)
    world.local.priority = 100
    await db.flush()

    wide_new = await client.post(
        "/v1/generations", json={"prompt": "a wide harbour", "size": "1536x1024"}, headers=world.headers
    )
    wide_classic = await client.post(
        "/v1/generations", json={"prompt": "a wide harbour", "size": "1792x1024"}, headers=world.headers
    )
    auto_size = await client.post(
        "/v1/generations", json={"prompt": "any shape", "size": "auto"}, headers=world.headers
    )

    # dall-e-3 comes first by priority but does not make 1536x1024 (nor "auto"): the local renderer does
    assert wide_new.status_code == 202 and wide_new.json()["model"] == f"local/{world.local.model_name}"
    assert (
        wide_classic.status_code == 202
        and wide_classic.json()["model"] == f"azure-openai/{classic.model_name}"
    )
    assert auto_size.status_code == 202 and auto_size.json()["model"] == f"local/{world.local.model_name}"

    world.local.is_active = False
    await db.flush()
    nobody = await client.post(
        "/v1/generations", json={"prompt": "a wide harbour", "size": "1536x1024"}, headers=world.headers
    )
    assert nobody.status_code == 503 and nobody.json()["type"].endswith("no-model-available")


async def test_a_batch_with_an_item_the_model_cannot_make_admits_nothing(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    world = await gw.world(db, tokens)
    classic = await provider_rows.model(db, "azure-openai", configuration=DALL_E_3)
    model = f"azure-openai/{classic.model_name}"

    response = await client.post(
        "/v1/generation-batches",
        json={
            "items": [
                {"prompt": "one", "model": model, "size": "1024x1024"},
                {"prompt": "two", "model": model, "size": "1024x1536"},
            ]
        },
        headers=world.headers,
    )

    assert response.status_code == 422 and response.json()["supported"] == [
        "1024x1024",
        "1792x1024",
        "1024x1792",
    ]
    assert await gw.count_generations(db, world.org) == 0
    wide = await client.post(
        "/v1/generation-batches",
        json={"items": [{"prompt": "one", "size": "1024x1536", "quality": "medium"}]},
        headers=world.headers,
    )
    assert wide.status_code == 202, wide.text


async def test_high_quality_is_for_those_allowed_hd(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    world = await gw.world(db, tokens, role="standard_user")

    refused = [
        await client.post("/v1/generations", json={"prompt": "p", "quality": q}, headers=world.headers)
        for q in ("hd", "high")
    ]
    allowed = await client.post(
        "/v1/generations", json={"prompt": "p", "quality": "medium"}, headers=world.headers
    )

    assert [response.status_code for response in refused] == [403, 403]
    assert allowed.status_code == 202, allowed.text


async def test_the_api_document_lists_the_new_sizes_and_qualities(client: httpx.AsyncClient) -> None:
    schemas = (await client.get("/openapi.json")).json()["components"]["schemas"]
    request = schemas["GenerationCreate"]["properties"]

    listed, free = request["size"]["anyOf"]  # the listed sizes, and the free ones some models take
    assert {"1536x1024", "1024x1536", "auto", "1024x1024"} <= set(listed["enum"])
    assert (
        free["pattern"] == "^[1-9][0-9]{1,3}x[1-9][0-9]{1,3}$"
        and "multiples of 16" in request["size"]["description"]
    )
    assert {"low", "medium", "high", "auto", "standard", "hd"} == set(request["quality"]["enum"])
    assert "content_filter" in schemas["GenerationRead"]["properties"]


async def test_the_end_user_sent_to_providers_is_stable_per_organization_and_reveals_no_id(
    db: AsyncSession,
) -> None:
    org, other_org = await factories.organization(db), await factories.organization(db)
    user = uuid.uuid4()

    sent = end_user_id(org.id, user)

    assert sent == end_user_id(org.id, user)  # the provider can follow one person over time
    assert sent != end_user_id(other_org.id, user)  # but not across organizations
    assert len(sent) == 64 and str(user) not in sent and str(user).replace("-", "") not in sent


async def test_a_fallback_that_does_not_take_the_admitted_models_word_is_not_tried(
    client: httpx.AsyncClient,
    db: AsyncSession,
    app: FastAPI,
    http: httpx.AsyncClient,
    tokens: TokenSigner,
    azure_stub: AzureOpenAIStub,
) -> None:
    world = await gw.world(db, tokens)  # the local renderer (0.05) takes every word
    gpt = await provider_rows.model(
        db,
        "azure-openai",
        price="0.0800",
        priority=1,
        max_retries=0,
        endpoint=azure_stub.endpoint("gpt-image-1-mini"),
        configuration=GPT_IMAGE,
    )
    await provider_rows.model(  # cheaper, next by priority, but "high" means nothing to dall-e-3
        db,
        "azure-openai",
        price="0.0600",
        priority=2,
        endpoint=azure_stub.endpoint("dall-e-3"),
        configuration=DALL_E_3,
    )
    azure_stub.reply(server_error())

    accepted = await client.post(
        "/v1/generations",
        json={"prompt": "a koala", "model": f"azure-openai/{gpt.model_name}", "quality": "hd"},
        headers=world.headers,
    )
    assert accepted.status_code == 202, accepted.text
    assert await (await gw.worker(app, db, http)).run_once()
    done = (await client.get(f"/v1/generations/{accepted.json()['id']}", headers=world.headers)).json()

    assert ["gpt-image-1-mini" in sent.path for sent in azure_stub.requests] == [True]  # dall-e-3 never asked
    assert (done["status"], done["model"], done["fallback_from"]) == (
        "completed",
        f"local/{world.local.model_name}",
        f"azure-openai/{gpt.model_name}",
    )
