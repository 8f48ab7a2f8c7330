"""The same generation flow on production-shaped parts: Blob Storage (Azurite), Redis rate limits, and
prompt-key rotation."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from PIL import Image
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from donatello.auth.tokens import TokenSigner
from donatello.config import Settings
from donatello.main import create_app
from donatello.models import Generation
from tests.support import generation_world as gw


@asynccontextmanager
async def _app(
    settings: Settings, engine: AsyncEngine, db: AsyncSession
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = create_app(settings, engine=engine)
    async with app.router.lifespan_context(app):
        connection = await db.connection()
        app.state.sessionmaker = async_sessionmaker(
            bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
        )
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield app, client


async def test_images_land_in_blob_storage_and_are_served_by_short_lived_sas_links(
    settings: Settings,
    engine: AsyncEngine,
    db: AsyncSession,
    tokens: TokenSigner,
    azurite_connection_string: str,
    http: httpx.AsyncClient,
) -> None:
    blob = settings.model_copy(
        update={"blob_connection_string": SecretStr(azurite_connection_string), "blob_container": "gen-e2e"}
    )
    async with _app(blob, engine, db) as (app, client):
        world = await gw.world(db, tokens)
        accepted = (
            await client.post(
                "/v1/generations",
                json={"prompt": "harbour at night", "size": "256x256"},
                headers=world.headers,
            )
        ).json()
        assert await (await gw.worker(app, db, http)).run_once()
        done = (await client.get(f"/v1/generations/{accepted['id']}", headers=world.headers)).json()

    assert done["status"] == "completed"
    image_url = done["image_urls"][0]
    assert "sig=" in image_url and "se=" in image_url  # a SAS link, read-only and expiring
    image = await http.get(image_url)
    assert image.status_code == 200 and Image.open(io.BytesIO(image.content)).size == (256, 256)
    thumbnail = await http.get(done["thumbnail_urls"][0])
    assert thumbnail.headers["content-type"] == "image/jpeg"


async def test_generation_requests_are_rate_limited_per_user_in_redis(
    settings: Settings, engine: AsyncEngine, db: AsyncSession, tokens: TokenSigner, redis_url: str
) -> None:
    limited = settings.model_copy(
        update={"redis_url": redis_url, "rate_limit_user_per_minute": {"power_user": 3}}
    )
    async with _app(limited, engine, db) as (_, client):
        world = await gw.world(db, tokens, budget="100.00")
        statuses = [
            (
                await client.post("/v1/generations", json={"prompt": f"p{i}", "n": 1}, headers=world.headers)
            ).status_code
            for i in range(3)
        ]
        refused = await client.post("/v1/generations", json={"prompt": "one too many"}, headers=world.headers)

    assert statuses == [202, 202, 202]
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.json()["scope"] == "user"
    assert await gw.count_generations(db, world.org) == 3


async def test_rotating_the_prompt_key_keeps_old_prompts_readable(
    client: httpx.AsyncClient, app: FastAPI, db: AsyncSession, tokens: TokenSigner
) -> None:
    world = await gw.world(db, tokens)
    before = (
        await client.post(
            "/v1/generations", json={"prompt": "sealed under the old key"}, headers=world.headers
        )
    ).json()
    await app.state.sealer.keys.rotate()
    after = (
        await client.post(
            "/v1/generations", json={"prompt": "sealed under the new key"}, headers=world.headers
        )
    ).json()

    keys = dict(
        (
            await db.execute(
                select(Generation.id, Generation.prompt_key_id).where(
                    Generation.organization_id == world.org.id
                )
            )
        ).all()
    )
    assert len(set(keys.values())) == 2
    old = await client.get(f"/v1/generations/{before['id']}/prompt", headers=world.headers)
    new = await client.get(f"/v1/generations/{after['id']}/prompt", headers=world.headers)
    assert (old.json()["prompt"], new.json()["prompt"]) == (
        "sealed under the old key",
        "sealed under the new key",
    )
