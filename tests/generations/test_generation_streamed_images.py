"""Large images through the worker, read as they arrive: what a person gets is the provider's image byte for
byte (and its thumbnail); an answer that breaks part-way follows the rules any outage follows — retried
when the model allows, else failed and released — and leaves no image, whole or half, anywhere."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from PIL import Image
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.auth.tokens import TokenSigner
from donatello.generations.processing import Processor
from donatello.storage import LocalImageStore
from tests.support import azure_openai_stub as replies
from tests.support import generation_world as gw
from tests.support import provider_rows
from tests.support.azure_openai_stub import AzureOpenAIStub
from tests.support.large_images import noise_png


async def _generate(
    client: httpx.AsyncClient, worker: Processor, world: gw.World, azure_model: str
) -> dict[str, Any]:
    body = {"prompt": "a harbour at dawn", "model": f"azure-openai/{azure_model}", "quality": "high"}
    accepted = await client.post("/v1/generations", json=body, headers=world.headers)
    assert accepted.status_code == 202, accepted.text
    assert await worker.run_once()
    done = await client.get(f"/v1/generations/{accepted.json()['id']}", headers=world.headers)
    return dict(done.json())


def _files(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.rglob("*") if path.is_file()) if directory.exists() else []


def _left_of(worker: Processor, generation_id: str, before: list[str]) -> list[str]:
    """Files of the answer on the worker's disk: arrived during the test, or kept for the generation."""
    arrived = [name for name in _files(worker.kept.arrivals) if name not in before]
    return arrived + _files(worker.kept.root / generation_id)


def _stored_for(store: LocalImageStore, generation_id: str) -> list[str]:
    return [name for name in _files(store.root) if generation_id in name]


async def test_a_three_mebibyte_image_is_stored_byte_for_byte_with_its_thumbnail(
    client: httpx.AsyncClient,
    db: AsyncSession,
    app: FastAPI,
    http: httpx.AsyncClient,
    tokens: TokenSigner,
    azure_stub: AzureOpenAIStub,
) -> None:
    world = await gw.world(db, tokens)
    azure = await provider_rows.model(db, "azure-openai", endpoint=azure_stub.endpoint(), max_retries=0)
    azure_stub.reply(replies.image_answer(noise_png()))
    worker = await gw.worker(app, db, http)
    before = _files(worker.kept.arrivals)

    done = await _generate(client, worker, world, azure.model_name)

    assert done["status"] == "completed", done
    image = await gw.fetch(client, done["image_urls"][0])
    assert image.content == noise_png()
    thumbnail = await gw.fetch(client, done["thumbnail_urls"][0])
    with Image.open(io.BytesIO(thumbnail.content)) as small:
        assert (small.format, small.size) == ("JPEG", (256, 256))
    assert _left_of(worker, done["id"], before) == []  # nothing left of the answer once it is stored


async def test_an_answer_cut_off_part_way_is_retried_and_the_whole_image_kept(
    client: httpx.AsyncClient,
    db: AsyncSession,
    app: FastAPI,
    http: httpx.AsyncClient,
    tokens: TokenSigner,
    azure_stub: AzureOpenAIStub,
) -> None:
    world = await gw.world(db, tokens)
    azure = await provider_rows.model(db, "azure-openai", endpoint=azure_stub.endpoint(), max_retries=1)
    azure_stub.reply(
        replies.image_answer(noise_png(), cut_after_bytes=3 * 2**20), replies.image_answer(noise_png())
    )
    worker = await gw.worker(app, db, http)
    before = _files(worker.kept.arrivals)

    done = await _generate(client, worker, world, azure.model_name)

    assert done["status"] == "completed" and len(azure_stub.requests) == 2  # retried, as any outage is
    assert (await gw.fetch(client, done["image_urls"][0])).content == noise_png()
    assert _left_of(worker, done["id"], before) == []


async def test_an_answer_cut_off_with_no_retry_left_fails_and_leaves_no_image_anywhere(
    client: httpx.AsyncClient,
    db: AsyncSession,
    app: FastAPI,
    http: httpx.AsyncClient,
    tokens: TokenSigner,
    azure_stub: AzureOpenAIStub,
) -> None:
    world = await gw.world(db, tokens)
    world.local.is_active = False  # nothing to fall back to
    azure = await provider_rows.model(db, "azure-openai", endpoint=azure_stub.endpoint(), max_retries=0)
    azure_stub.reply(replies.image_answer(noise_png(), cut_after_bytes=3 * 2**20))
    worker = await gw.worker(app, db, http)
    before = _files(worker.kept.arrivals)

    done = await _generate(client, worker, world, azure.model_name)

    assert done["status"] == "failed" and "cannot reach the provider" in done["error_message"]
    assert done["image_urls"] == [] and done["cost_aud"] == "0.0000"
    store: LocalImageStore = app.state.image_store
    assert _stored_for(store, done["id"]) == []  # no image, whole or half, in the store
    assert _left_of(worker, done["id"], before) == []  # nor on the worker's disk
