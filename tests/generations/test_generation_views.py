"""What a user reads back about their generations: batch order, timings, date filters, stats, links."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.auth.tokens import TokenSigner
from donatello.budgets.periods import organization_timezone
from tests.support import generation_world as gw
from tests.support import provider_rows


async def test_batch_ids_follow_the_order_of_the_requests_items(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    world = await gw.world(db, tokens, budget="5.00")
    items = [{"prompt": f"ord{i}"} for i in range(8)]
    batch = (await client.post("/v1/generation-batches", json={"items": items}, headers=world.headers)).json()
    prompts = [
        (await client.get(f"/v1/generations/{gid}/prompt", headers=world.headers)).json()["prompt"]
        for gid in batch["generation_ids"]
    ]
    assert prompts == [f"ord{i}" for i in range(8)]
    again = (await client.get(f"/v1/generation-batches/{batch['id']}", headers=world.headers)).json()
    assert again["generation_ids"] == batch["generation_ids"]


async def test_started_at_is_when_a_worker_first_took_the_generation(
    client: httpx.AsyncClient, db: AsyncSession, app: FastAPI, http: httpx.AsyncClient, tokens: TokenSigner
) -> None:
    world = await gw.world(db, tokens)
    accepted = (await client.post("/v1/generations", json={"prompt": "timed"}, headers=world.headers)).json()
    assert accepted["started_at"] is None
    assert await (await gw.worker(app, db, http)).run_once()
    done = (await client.get(f"/v1/generations/{accepted['id']}", headers=world.headers)).json()
    assert done["status"] == "completed"
    assert done["created_at"] <= done["started_at"] <= done["completed_at"]


async def test_from_and_to_are_the_organizations_local_days_with_to_included(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    world = await gw.world(db, tokens)
    made = (await client.post("/v1/generations", json={"prompt": "dated"}, headers=world.headers)).json()
    today = datetime.now(ZoneInfo(organization_timezone(world.org.settings))).date()
    yesterday, tomorrow = today - timedelta(days=1), today + timedelta(days=1)

    async def listed(**query: str) -> list[str]:
        page = await client.get("/v1/generations", params=query, headers=world.headers)
        assert page.status_code == 200, page.text
        return [item["id"] for item in page.json()["items"]]

    assert await listed(**{"from": today.isoformat(), "to": today.isoformat()}) == [made["id"]]
    assert await listed(**{"to": yesterday.isoformat()}) == []
    assert await listed(**{"from": tomorrow.isoformat()}) == []
    assert await listed(**{"from": f"{today.isoformat()}T00:00:00"}) == [made["id"]]
    bad = await client.get("/v1/generations", params={"from": "29/11/2026"}, headers=world.headers)
    assert bad.status_code == 422 and "YYYY-MM-DD" in bad.json()["detail"]
    backwards = {"from": today.isoformat(), "to": yesterday.isoformat()}
    assert (await client.get("/v1/generations", params=backwards, headers=world.headers)).status_code == 422


async def test_stats_honour_from_and_to_and_leave_deleted_generations_out(
    client: httpx.AsyncClient, db: AsyncSession, app: FastAPI, http: httpx.AsyncClient, tokens: TokenSigner
) -> None:
    world = await gw.world(db, tokens)
    await client.post("/v1/generations", json={"prompt": "kept"}, headers=world.headers)
    await (await gw.worker(app, db, http)).run_once()
    gone = (await client.post("/v1/generations", json={"prompt": "gone"}, headers=world.headers)).json()
    assert (await client.delete(f"/v1/generations/{gone['id']}", headers=world.headers)).status_code == 204
    history = (await client.get("/v1/generations", headers=world.headers)).json()["items"]

    stats = (await client.get("/v1/generations/stats", headers=world.headers)).json()
    assert (stats["total"], stats["completed"], stats["cancelled"]) == (len(history), 1, 0)
    today = datetime.now(ZoneInfo(organization_timezone(world.org.settings))).date()
    same_day = {"from": today.isoformat(), "to": today.isoformat()}
    assert (await client.get("/v1/generations/stats", params=same_day, headers=world.headers)).json() == stats
    later = {"from": (today + timedelta(days=1)).isoformat()}
    empty = (await client.get("/v1/generations/stats", params=later, headers=world.headers)).json()
    assert (empty["total"], empty["images"], empty["spend_aud"]) == (0, 0, "0.0000")


async def test_a_deleted_generations_signed_image_links_stop_working(
    client: httpx.AsyncClient, db: AsyncSession, app: FastAPI, http: httpx.AsyncClient, tokens: TokenSigner
) -> None:
    world = await gw.world(db, tokens)
    made = (
        await client.post("/v1/generations", json={"prompt": "short-lived"}, headers=world.headers)
    ).json()
    await (await gw.worker(app, db, http)).run_once()
    done = (await client.get(f"/v1/generations/{made['id']}", headers=world.headers)).json()
    links = [*done["image_urls"], *done["thumbnail_urls"]]
    assert [(await gw.fetch(client, link)).status_code for link in links] == [200, 200]

    assert (await client.delete(f"/v1/generations/{made['id']}", headers=world.headers)).status_code == 204
    refused = [await gw.fetch(client, link) for link in links]
    assert [response.status_code for response in refused] == [404, 404]
    assert refused[0].headers["content-type"] == "application/problem+json"


async def test_a_model_without_credentials_is_not_available_never_chosen_and_refused_by_name(
    client: httpx.AsyncClient, db: AsyncSession, app: FastAPI, http: httpx.AsyncClient, tokens: TokenSigner
) -> None:
    world = await gw.world(db, tokens)
    keyless = await provider_rows.model(db, "azure-openai", price="0.0800", priority=1, credential=None)
    keyed = await provider_rows.model(db, "azure-openai", price="0.0800", priority=2, is_active=False)
    name = f"azure-openai/{keyless.model_name}"

    catalogue = (await client.get(f"/v1/providers/{keyless.id}", headers=world.headers)).json()
    assert catalogue["available"] is False
    keyed.is_active = True
    await db.flush()
    assert (await client.get(f"/v1/providers/{keyed.id}", headers=world.headers)).json()["available"] is True
    keyed.is_active = False
    await db.flush()

    auto = (await client.post("/v1/generations", json={"prompt": "any"}, headers=world.headers)).json()
    assert (auto["requested_model"], auto["model"]) == ("auto", f"local/{world.local.model_name}")
    assert auto["reserved_aud"] == "0.0500"
    asked = await client.post("/v1/generations", json={"prompt": "x", "model": name}, headers=world.headers)
    assert asked.status_code == 503, asked.text
    assert asked.json()["type"].endswith("/model-cannot-run") and "credentials" in asked.json()["detail"]
