"""What a user reads back about their generations: batch order, timings, date filters, stats, links."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.auth.tokens import TokenSigner
from tests import generation_world as gw


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
