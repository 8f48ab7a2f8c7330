"""The image store goes away after the provider answered (a Blob container that is not there): the answer
is kept, the store is retried and the provider never asked again; meanwhile the generation says it is
saving, and once the store is back it completes with one charge."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from donatello.auth.tokens import TokenSigner
from donatello.config import Settings
from donatello.core.clock import utcnow
from donatello.main import create_app
from donatello.models import Generation
from donatello.storage.blob import BlobImageStore
from tests.support import generation_world as gw
from tests.support import provider_rows
from tests.support.azure_openai_stub import AzureOpenAIStub, success_b64
from tests.support.factories import unique
from tests.support.web_asgi import page_client, sign_in_locally


@pytest.fixture(scope="module")
async def local_app(settings: Settings, engine: AsyncEngine) -> AsyncIterator[FastAPI]:
    """The app as ``make run`` serves it (local sign-in), for the gallery's page."""
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


async def test_a_store_missing_after_the_provider_answered_saves_later_without_asking_again(
    client: httpx.AsyncClient,
    db: AsyncSession,
    app: FastAPI,
    http: httpx.AsyncClient,
    tokens: TokenSigner,
    azure_stub: AzureOpenAIStub,
    azurite_connection_string: str,
    local_app: FastAPI,
) -> None:
    world = await gw.world(db, tokens)
    gpt = await provider_rows.model(
        db,
        "azure-openai",
        price="0.0800",
        priority=1,
        endpoint=azure_stub.endpoint("gpt-image-1-mini"),
        configuration={"family": "gpt-image"},
    )
    azure_stub.reply(success_b64())  # one answer: a second call would find no reply scripted
    # the storage account answers, but the container the images go to is not there (deleted, not yet
    # provisioned): every upload is refused with ContainerNotFound
    store = BlobImageStore.from_connection_string(azurite_connection_string, unique("images"))
    worker = dataclasses.replace(await gw.worker(app, db, http), store=store)
    try:
        accepted = await client.post(
            "/v1/generations",
            json={"prompt": "a harbour at noon", "model": f"azure-openai/{gpt.model_name}"},
            headers=world.headers,
        )
        assert accepted.status_code == 202, accepted.text
        generation_id = uuid.UUID(accepted.json()["id"])

        async def back_off_passed() -> None:
            await db.execute(
                update(Generation)
                .where(Generation.id == generation_id)
                .values(next_attempt_at=utcnow() - timedelta(1))
            )

        assert await worker.run_once()  # the provider answers; every write of its images fails
        for _ in range(app.state.settings.generation_max_attempts):  # more tries than a job's attempts
            await back_off_passed()
            assert await worker.run_once()
        saving = (await client.get(f"/v1/generations/{generation_id}", headers=world.headers)).json()
        async with await page_client(local_app, db) as pages:
            await sign_in_locally(pages, world.member, "/gallery")
            detail = await pages.get(f"/gallery/{generation_id}")

        await store.ensure_container()  # the store is back
        await back_off_passed()
        assert await worker.run_once()
        done = (await client.get(f"/v1/generations/{generation_id}", headers=world.headers)).json()
        row = await db.get(Generation, generation_id)
        assert row is not None
        await db.refresh(row)
        stored = [await store.get(name) for name in row.details["images"]]
    finally:
        await store.close()

    assert (saving["status"], saving["saving"], saving["cost_aud"]) == ("pending", True, "0.0000")
    assert [(c["outcome"], c["possibly_billed"]) for c in saving["provider_calls"]] == [("answered", False)]
    assert len(azure_stub.requests) == 1  # the provider was asked once, the store five times
    assert (done["status"], done["saving"], done["cost_aud"]) == ("completed", False, "0.0800")
    assert len(done["provider_calls"]) == 1
    assert [png[:8] for png in stored] == [b"\x89PNG\r\n\x1a\n"]
    assert len(await gw.charges(db, world.department)) == 1
    assert await gw.spent(db, world.department) == (Decimal("0.0800"), Decimal(0))
    assert worker.kept.kept(generation_id) is None  # nothing left behind
    assert detail.status_code == 200
    assert "Saving the images… The model has answered; it will not be asked again." in detail.text
