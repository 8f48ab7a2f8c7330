"""The gallery's detail page says where a generation was processed."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from donatello.auth.tokens import TokenSigner
from donatello.config import Settings
from donatello.main import create_app
from tests.support import generation_world as gw
from tests.support.web_asgi import page_client, sign_in_locally


@pytest.fixture(scope="module")
async def local_app(settings: Settings, engine: AsyncEngine) -> AsyncIterator[FastAPI]:
    local = settings.model_copy(
        update={
            "entra_tenant_id": None,
            "entra_client_id": None,
            "entra_client_secret": None,
            "host": "127.0.0.1",
        }
    )
    app = create_app(local, engine=engine)
    async with app.router.lifespan_context(app):
        yield app


async def test_the_gallery_detail_says_where_the_image_was_processed(
    app: FastAPI,
    local_app: FastAPI,
    client: httpx.AsyncClient,
    db: AsyncSession,
    http: httpx.AsyncClient,
    tokens: TokenSigner,
) -> None:
    here = await gw.world(db, tokens)
    here.local.processing_country = "AU"
    await db.flush()
    accepted = await client.post(
        "/v1/generations",
        json={"prompt": "a wombat", "model": f"local/{here.local.model_name}"},
        headers=here.headers,
    )
    assert accepted.status_code == 202, accepted.text
    assert await (await gw.worker(app, db, http)).run_once()

    async with await page_client(local_app, db) as pages:
        await sign_in_locally(pages, here.member, "/gallery")
        detail = await pages.get(f"/gallery/{accepted.json()['id']}")

    assert detail.status_code == 200
    assert "<dt>Processed in</dt><dd>AU</dd>" in detail.text
