"""A generation is priced by the version in effect when it was admitted, and its charge (and the exports)
name that version: a price that takes effect while it waits in the queue does not reach it."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import timedelta
from decimal import Decimal

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.auth.tokens import TokenSigner
from donatello.core.clock import utcnow
from donatello.models import CostEvent, Generation
from tests.support import factories
from tests.support import generation_world as gw
from tests.support.signin import bearer_for


async def export(client: httpx.AsyncClient, headers: dict[str, str], fmt: str) -> list[dict[str, str]]:
    today = utcnow().date()
    response = await client.get(
        "/v1/cost-events/export",
        params={"from": str(today - timedelta(days=2)), "to": str(today + timedelta(days=2)), "format": fmt},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    return list(csv.DictReader(io.StringIO(response.text, newline="")))


async def test_a_charge_uses_and_names_the_price_version_in_effect_when_it_was_admitted(
    app: FastAPI, client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner, http: httpx.AsyncClient
) -> None:
    world = await gw.world(db, tokens)  # its local model costs 0.0500 an image
    platform = await factories.organization(db)
    admin = bearer_for(tokens, await factories.user(db, platform, role="super_admin"))
    finance = bearer_for(tokens, await factories.user(db, world.org, role="finance"))
    prices_url = f"/v1/providers/{world.local.id}/prices"
    [original] = (await client.get(prices_url, headers=admin)).json()["items"]
    soon = utcnow() + timedelta(seconds=1.5)
    scheduled = await client.post(
        prices_url, json={"cost_per_image_aud": "0.0900", "effective_from": soon.isoformat()}, headers=admin
    )
    assert scheduled.status_code == 201, scheduled.text
    body = {"prompt": "a lighthouse at dusk", "model": f"local/{world.local.model_name}"}

    before = await client.post("/v1/generations", json=body, headers=world.headers)
    assert before.status_code == 202, before.text
    await asyncio.sleep((soon - utcnow()).total_seconds() + 0.05)
    worker = await gw.worker(app, db, http)
    assert await worker.run_once()  # processed after the new price took effect
    after = await client.post("/v1/generations", json=body, headers=world.headers)
    assert after.status_code == 202, after.text
    assert await worker.run_once()

    charged = {
        str(event.generation_id): event
        for event in (await db.execute(select(CostEvent).where(CostEvent.kind == "charge"))).scalars()
        if event.department_id == world.department.id
    }
    first, second = charged[before.json()["id"]], charged[after.json()["id"]]
    assert (first.actual_cost_aud, first.details["price_version_id"]) == (Decimal("0.0500"), original["id"])
    assert (second.actual_cost_aud, second.details["price_version_id"]) == (
        Decimal("0.0900"),
        scheduled.json()["id"],
    )
    held = (
        await db.execute(select(Generation.reservation_aud).where(Generation.id == first.generation_id))
    ).scalar()
    assert held == Decimal("0.0500")

    ledger = {row["generation_id"]: row for row in await export(client, finance, "csv")}
    assert ledger[before.json()["id"]]["price_version_id"] == original["id"]
    assert ledger[after.json()["id"]]["price_version_id"] == scheduled.json()["id"]
    focus = {row["ResourceId"]: row for row in await export(client, finance, "focus-csv")}
    assert focus[before.json()["id"]]["x_PriceVersionId"] == original["id"]
    assert focus[after.json()["id"]]["x_PriceVersionId"] == scheduled.json()["id"]
    assert focus[after.json()["id"]]["SkuPriceId"].split("@")[1].startswith("0.0900")
