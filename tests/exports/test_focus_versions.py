"""FOCUS versions are chosen, not forced: 1.2 stays the default (what Azure Cost Management and FinOps hubs
ingest today); 1.3 adds who provides the service and who hosts the model, keeping the deprecated columns
1.3 still requires."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pyarrow.parquet as pq
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.auth.tokens import TokenSigner
from tests.support import factories
from tests.support import generation_world as gw


async def test_focus_1_3_names_the_service_and_host_providers_and_1_2_stays_the_default(
    app: FastAPI, client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner, http: httpx.AsyncClient
) -> None:
    world = await gw.world(db, tokens)
    admitted = await client.post(
        "/v1/generations",
        json={"prompt": "a kite over a field", "model": f"local/{world.local.model_name}", "size": "512x512"},
        headers=world.headers,
    )
    assert admitted.status_code == 202, admitted.text
    assert await (await gw.worker(app, db, http)).run_once()
    finance = await factories.user(db, world.org, role="finance")
    headers = {"Authorization": f"Bearer {tokens.issue(finance.id, world.org.id)}"}
    today = datetime.now(UTC).date()
    days = {"from": str(today - timedelta(days=2)), "to": str(today + timedelta(days=2))}

    async def export(**params: str) -> httpx.Response:
        return await client.get("/v1/cost-events/export", params={**days, **params}, headers=headers)

    newer = await export(format="focus", focus_version="1.3")
    assert newer.status_code == 200, newer.text
    assert ".focus-1.3.parquet" in newer.headers["content-disposition"]
    [row] = pq.read_table(io.BytesIO(newer.content)).to_pylist()
    assert row["ServiceProviderName"] == "DonatelloAI"  # made available for purchase by the platform
    assert row["HostProviderName"] == "DonatelloAI"  # the local renderer runs on the platform itself
    assert (row["ProviderName"], row["PublisherName"]) == (
        "DonatelloAI",
        "local",
    )  # deprecated, still required

    default = await export(format="focus")
    assert ".focus.parquet" in default.headers["content-disposition"]
    columns = pq.read_table(io.BytesIO(default.content)).column_names
    assert (
        "ProviderName" in columns
        and "ServiceProviderName" not in columns
        and "HostProviderName" not in columns
    )
    as_csv = await export(format="focus-csv", focus_version="1.3")
    assert as_csv.status_code == 200 and "HostProviderName" in as_csv.text.splitlines()[0]

    for params, field in (
        ({"format": "focus", "focus_version": "1.4"}, "focus_version"),
        ({"format": "csv", "focus_version": "1.3"}, "focus_version"),
    ):
        refused = await export(**params)
        assert refused.status_code == 422, params
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert field in refused.text


async def test_a_queued_focus_export_keeps_its_version(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    org = await factories.organization(db)
    finance = await factories.user(db, org, role="finance")
    headers = {"Authorization": f"Bearer {tokens.issue(finance.id, org.id)}"}
    queued = await client.get(
        "/v1/cost-events/export",
        params={"from": "2025-01-01", "to": "2026-12-31", "format": "focus", "focus_version": "1.3"},
        headers=headers,
    )
    assert queued.status_code == 202, queued.text
    assert (queued.json()["format"], queued.json()["focus_version"]) == ("focus", "1.3")
    listed = await client.get(f"/v1/exports/{queued.json()['id']}", headers=headers)
    assert listed.json()["focus_version"] == "1.3"
    assert uuid.UUID(listed.json()["id"])
