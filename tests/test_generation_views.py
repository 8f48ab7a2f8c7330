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
