"""A user's generation from request to image: admission, the worker, settlement — with the local
provider, real PostgreSQL and real image storage."""

from __future__ import annotations

import io
from decimal import Decimal

import httpx
import pytest
from fastapi import FastAPI
from PIL import Image
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.auth.tokens import TokenSigner
from donatello.models import Generation, GenerationMetadata
from donatello.sealing import looks_sealed
from tests.support import generation_world as gw

PROMPT = "a red kangaroo reading the budget report at dawn"


@pytest.fixture
async def world(db: AsyncSession, tokens: TokenSigner) -> gw.World:
    return await gw.world(db, tokens)


async def test_a_request_becomes_a_stored_image_a_charge_and_an_audit_trail(
    client: httpx.AsyncClient, db: AsyncSession, app: FastAPI, http: httpx.AsyncClient, world: gw.World
) -> None:
    accepted = await client.post(
        "/v1/generations",
        json={"prompt": PROMPT, "size": "512x512", "n": 2, "seed": 7},
        headers=world.headers,
    )
    assert accepted.status_code == 202, accepted.text
    body = accepted.json()
    assert (body["status"], body["reserved_aud"], body["model_name"]) == (
        "pending",
        "0.1000",
        world.local.model_name,
    )
    assert await gw.spent(db, world.department) == (Decimal(0), Decimal("0.1000"))

    assert await (await gw.worker(app, db, http)).run_once()

    done = (await client.get(f"/v1/generations/{body['id']}", headers=world.headers)).json()
    assert done["status"] == "completed", done
    assert done["cost_aud"] == "0.1000" and len(done["image_urls"]) == 2 and len(done["thumbnail_urls"]) == 2
    image = await gw.fetch(client, done["image_urls"][0])
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(image.content)).size == (512, 512)
    thumbnail = await gw.fetch(client, done["thumbnail_urls"][0])
    assert thumbnail.headers["content-type"] == "image/jpeg"
    assert max(Image.open(io.BytesIO(thumbnail.content)).size) <= 256

    assert await gw.spent(db, world.department) == (Decimal("0.1000"), Decimal(0))
    [charge] = await gw.charges(db, world.department)
    assert (charge.kind, charge.actual_cost_aud, charge.image_count) == ("charge", Decimal("0.1000"), 2)
    assert await gw.events(db, world.org) == ["generation.requested", "generation.completed"]
    metadata = (
        await db.execute(
            select(GenerationMetadata).where(GenerationMetadata.generation_id == charge.generation_id)
        )
    ).scalar_one()
    assert metadata.selected_model_reason and metadata.fallback_model is None


async def test_prompts_are_ciphertext_at_rest_and_readable_by_their_owner(
    client: httpx.AsyncClient, db: AsyncSession, world: gw.World
) -> None:
    accepted = (
        await client.post(
            "/v1/generations", json={"prompt": PROMPT, "negative_prompt": "no text"}, headers=world.headers
        )
    ).json()
    stored = (
        await db.execute(select(Generation.prompt_encrypted).where(Generation.id == accepted["id"]))
    ).scalar_one()
    assert looks_sealed(stored) and "kangaroo" not in stored

    mine = await client.get(f"/v1/generations/{accepted['id']}/prompt", headers=world.headers)
    assert mine.json() == {"generation_id": accepted["id"], "prompt": PROMPT, "negative_prompt": "no text"}
    history = (await client.get("/v1/generations/prompts", headers=world.headers)).json()
    assert [item["prompt"] for item in history["items"]] == [PROMPT]


async def test_the_same_idempotency_key_returns_the_same_generation_and_another_body_is_a_conflict(
    client: httpx.AsyncClient, db: AsyncSession, world: gw.World
) -> None:
    headers = {**world.headers, "Idempotency-Key": "order-42"}
    first = await client.post("/v1/generations", json={"prompt": PROMPT}, headers=headers)
    again = await client.post("/v1/generations", json={"prompt": PROMPT}, headers=headers)
    other = await client.post("/v1/generations", json={"prompt": "something else"}, headers=headers)

    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json()["id"] == first.json()["id"]
    assert other.status_code == 409 and other.json()["type"].endswith("/idempotency-key-reused")
    assert await gw.count_generations(db, world.org) == 1
    assert await gw.spent(db, world.department) == (Decimal(0), Decimal("0.0500"))


async def test_cancelling_before_the_worker_runs_charges_nothing(
    client: httpx.AsyncClient, db: AsyncSession, app: FastAPI, http: httpx.AsyncClient, world: gw.World
) -> None:
    accepted = (await client.post("/v1/generations", json={"prompt": PROMPT}, headers=world.headers)).json()
    cancelled = await client.post(f"/v1/generations/{accepted['id']}/cancel", headers=world.headers)
    again = await client.post(f"/v1/generations/{accepted['id']}/cancel", headers=world.headers)

    assert cancelled.json()["status"] == "cancelled"
    assert again.status_code == 409
    assert not await (await gw.worker(app, db, http)).run_once()
    assert await gw.spent(db, world.department) == (Decimal(0), Decimal(0))
    assert await gw.charges(db, world.department) == []


async def test_cancelling_while_the_worker_runs_discards_the_result_and_charges_nothing(
    client: httpx.AsyncClient, db: AsyncSession, app: FastAPI, http: httpx.AsyncClient, world: gw.World
) -> None:
    from donatello.core.clock import utcnow
    from donatello.generations import repository
    from donatello.generations.job import Job

    accepted = (await client.post("/v1/generations", json={"prompt": PROMPT}, headers=world.headers)).json()
    worker = await gw.worker(app, db, http)
    claimed = await repository.claim_next(
        db,
        worker.name,
        utcnow(),
        app.state.settings.generation_lease,
        app.state.settings.generation_quota_window_seconds,
    )
    assert claimed is not None and str(claimed.id) == accepted["id"]
    job = Job.of(claimed)

    assert (
        await client.post(f"/v1/generations/{accepted['id']}/cancel", headers=world.headers)
    ).status_code == 200
    await worker._process(job)  # the provider answers after the user cancelled

    final = (await client.get(f"/v1/generations/{accepted['id']}", headers=world.headers)).json()
    assert (final["status"], final["image_urls"]) == ("cancelled", [])
    assert await gw.charges(db, world.department) == []
    assert await gw.spent(db, world.department) == (Decimal(0), Decimal(0))


async def test_bad_requests_are_problems_and_write_nothing(
    client: httpx.AsyncClient, db: AsyncSession, world: gw.World
) -> None:
    cases = [
        ({"prompt": "x" * 4001}, 422),
        ({"prompt": PROMPT, "n": 0}, 422),
        ({"prompt": PROMPT, "n": 5}, 422),
        ({"prompt": PROMPT, "size": "999x999"}, 422),
        ({"prompt": PROMPT, "model": "nobody/nothing"}, 422),
        ({"prompt": "   "}, 422),
        ({"prompt": PROMPT, "temperature": 2}, 422),
    ]
    for body, status in cases:
        response = await client.post("/v1/generations", json=body, headers=world.headers)
        assert response.status_code == status, (body, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    malformed = await client.post(
        "/v1/generations", content=b"{prompt", headers={**world.headers, "content-type": "application/json"}
    )
    wrong_type = await client.post(
        "/v1/generations", content=b"prompt=hi", headers={**world.headers, "content-type": "text/plain"}
    )
    assert (malformed.status_code, wrong_type.status_code) == (422, 415)
    assert await gw.count_generations(db, world.org) == 0
    assert await gw.spent(db, world.department) == (Decimal(0), Decimal(0))


async def test_a_hard_budget_refuses_with_the_figures_and_writes_no_generation(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    poor = await gw.world(db, tokens, budget="0.08")
    ok = await client.post("/v1/generations", json={"prompt": PROMPT}, headers=poor.headers)
    refused = await client.post("/v1/generations", json={"prompt": PROMPT}, headers=poor.headers)

    assert ok.status_code == 202
    assert refused.status_code == 402
    assert refused.json()["available_aud"] == "0.0300" and refused.json()["quote_aud"] == "0.0500"
    assert await gw.count_generations(db, poor.org) == 1
    assert await gw.events(db, poor.org, "budget.") == ["budget.request_refused"]


async def test_a_batch_is_held_all_or_nothing_and_reports_progress(
    client: httpx.AsyncClient, db: AsyncSession, app: FastAPI, http: httpx.AsyncClient, tokens: TokenSigner
) -> None:
    tight = await gw.world(db, tokens, budget="0.10")
    items = [{"prompt": f"{PROMPT} #{i}"} for i in range(3)]
    refused = await client.post("/v1/generation-batches", json={"items": items}, headers=tight.headers)
    assert refused.status_code == 402
    assert await gw.count_generations(db, tight.org) == 0

    roomy = await gw.world(db, tokens, budget="1.00")
    accepted = await client.post("/v1/generation-batches", json={"items": items}, headers=roomy.headers)
    assert accepted.status_code == 202, accepted.text
    batch = accepted.json()
    assert (batch["total"], batch["pending"], batch["reserved_aud"]) == (3, 3, "0.1500")

    assert await (await gw.worker(app, db, http)).run_once()
    progress = (await client.get(f"/v1/generation-batches/{batch['id']}", headers=roomy.headers)).json()
    assert (progress["completed"], progress["pending"], progress["done"]) == (1, 2, False)
    assert progress["progress_percent"] == "33.33"


async def test_standard_users_cannot_ask_for_hd_or_batches(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    staff = await gw.world(db, tokens, role="standard_user")
    hd = await client.post("/v1/generations", json={"prompt": PROMPT, "quality": "hd"}, headers=staff.headers)
    batch = await client.post(
        "/v1/generation-batches", json={"items": [{"prompt": PROMPT}]}, headers=staff.headers
    )
    assert (hd.status_code, batch.status_code) == (403, 403)


async def test_deleting_hides_a_generation_from_history_and_stats(
    client: httpx.AsyncClient, db: AsyncSession, app: FastAPI, http: httpx.AsyncClient, world: gw.World
) -> None:
    kept = (await client.post("/v1/generations", json={"prompt": PROMPT}, headers=world.headers)).json()
    await (await gw.worker(app, db, http)).run_once()
    gone = (await client.post("/v1/generations", json={"prompt": "delete me"}, headers=world.headers)).json()

    assert (await client.delete(f"/v1/generations/{gone['id']}", headers=world.headers)).status_code == 204
    assert (await client.get(f"/v1/generations/{gone['id']}", headers=world.headers)).status_code == 404
    listed = (await client.get("/v1/generations", headers=world.headers)).json()
    assert [item["id"] for item in listed["items"]] == [kept["id"]]
    stats = (await client.get("/v1/generations/stats", headers=world.headers)).json()
    assert (stats["total"], stats["completed"], stats["cancelled"], stats["spend_aud"]) == (1, 1, 0, "0.0500")


async def test_another_users_generation_is_not_found(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner, world: gw.World
) -> None:
    accepted = (await client.post("/v1/generations", json={"prompt": PROMPT}, headers=world.headers)).json()
    colleague = await gw.world(db, tokens)
    for method, path in (
        ("GET", f"/v1/generations/{accepted['id']}"),
        ("GET", f"/v1/generations/{accepted['id']}/prompt"),
        ("POST", f"/v1/generations/{accepted['id']}/cancel"),
        ("DELETE", f"/v1/generations/{accepted['id']}"),
    ):
        response = await client.request(method, path, headers=colleague.headers)
        assert response.status_code == 404, (method, path)
