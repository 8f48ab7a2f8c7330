"""Where data is processed: a department requiring Australia is served only by models processing there, and
every generation records where it was processed — on the generation, its audit event and the exports."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pyarrow.parquet as pq
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.auth.tokens import TokenSigner
from donatello.exports import files as exports
from donatello.models import AuditOutbox, ModelProvider, User
from tests.support import factories, provider_rows
from tests.support import generation_world as gw
from tests.support.azure_openai_stub import AzureOpenAIStub, success_b64
from tests.support.signin import bearer_for

PROBLEM = "application/problem+json"


async def processing_in(db: AsyncSession, model: ModelProvider, country: str | None) -> ModelProvider:
    model.processing_country = country
    await db.flush()
    return model


async def two_models(db: AsyncSession, tokens: TokenSigner) -> tuple[gw.World, ModelProvider, ModelProvider]:
    """A world whose best-priority model processes in the US, and an Australian one further down."""
    world = await gw.world(db, tokens)
    us = await processing_in(db, await provider_rows.model(db, "local", price="0.0300", priority=1), "US")
    au = await processing_in(db, await provider_rows.model(db, "local", price="0.0400", priority=50), "AU")
    return world, us, au


async def org_admin_of(db: AsyncSession, world: gw.World) -> User:
    return await factories.user(db, world.org, role="org_admin", department=world.department)


async def require(
    client: httpx.AsyncClient, tokens: TokenSigner, admin: User, world: gw.World, country: str | None
) -> httpx.Response:
    return await client.patch(
        f"/v1/departments/{world.department.id}",
        json={"require_processing_in": country},
        headers=bearer_for(tokens, admin),
    )


async def focus_rows(db: AsyncSession, world: gw.World, fmt: str) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    rng = exports.ExportRange(
        world.org.id, world.org.name, "Australia/Sydney", now - timedelta(days=1), now + timedelta(days=1),
        None, fmt,
    )  # fmt: skip
    data = b"".join([chunk async for chunk in exports.encode(db, replace(rng, format=fmt))])
    if fmt in ("focus", "parquet"):
        return pq.read_table(io.BytesIO(data)).to_pylist()
    return list(csv.DictReader(io.StringIO(data.decode(), newline="")))


async def test_a_department_requiring_australia_gets_the_australian_model_and_its_generation_says_so(
    client: httpx.AsyncClient, db: AsyncSession, app: FastAPI, http: httpx.AsyncClient, tokens: TokenSigner
) -> None:
    world, _, au = await two_models(db, tokens)
    assert (await require(client, tokens, await org_admin_of(db, world), world, "AU")).status_code == 200

    accepted = await client.post(
        "/v1/generations", json={"prompt": "a platypus at dawn", "model": "auto"}, headers=world.headers
    )
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["model"] == f"local/{au.model_name}"  # not the US model, despite its priority
    assert await (await gw.worker(app, db, http)).run_once()

    done = (await client.get(f"/v1/generations/{accepted.json()['id']}", headers=world.headers)).json()
    assert done["status"] == "completed" and done["model"] == f"local/{au.model_name}"
    assert done["processed_in"] == "AU"
    completed = (
        await db.execute(select(AuditOutbox).where(AuditOutbox.event_type == "generation.completed"))
    ).scalars()
    events = [e for e in completed if e.payload["resource_id"] == accepted.json()["id"]]
    assert [e.payload["metadata"]["processed_in"] for e in events] == ["AU"]
    focus = await focus_rows(db, world, "focus")
    assert [(row["ServiceName"], row["x_ProcessedIn"]) for row in focus] == [(au.model_name, "AU")]
    ledger = await focus_rows(db, world, "csv")
    assert [row["processed_in"] for row in ledger] == ["AU"]


async def test_naming_a_model_processing_elsewhere_is_refused_naming_the_rule(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    world, us, _ = await two_models(db, tokens)
    anywhere = await provider_rows.model(db, "local", priority=2)  # no processing_country: anywhere
    await require(client, tokens, await org_admin_of(db, world), world, "AU")

    for model, where in ((us, "in US"), (anywhere, "anywhere")):
        refused = await client.post(
            "/v1/generations",
            json={"prompt": "a platypus at dawn", "model": f"local/{model.model_name}"},
            headers=world.headers,
        )
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"].startswith(PROBLEM)
        problem = refused.json()
        assert problem["type"].endswith("/processing-location-required")
        assert "require_processing_in" in problem["detail"] and where in problem["detail"]
        assert problem["rule"] == "require_processing_in" and problem["required"] == "AU"


async def test_without_an_australian_model_auto_refuses_rather_than_processing_elsewhere(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    world, _, au = await two_models(db, tokens)
    au.is_active = False
    await db.flush()
    await require(client, tokens, await org_admin_of(db, world), world, "AU")

    refused = await client.post(
        "/v1/generations", json={"prompt": "a platypus at dawn", "model": "auto"}, headers=world.headers
    )

    assert refused.status_code == 503 and refused.json()["type"].endswith("/no-model-available")


async def test_only_org_admins_set_the_rule_it_is_audited_checked_and_lifted_with_null(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    world, us, _ = await two_models(db, tokens)
    admin = await org_admin_of(db, world)
    manager = await factories.user(db, world.org, role="dept_manager", department=world.department)

    assert (await require(client, tokens, manager, world, "AU")).status_code == 403
    for wrong in ("au", "AUS", "A1"):
        bad = await require(client, tokens, admin, world, wrong)
        assert bad.status_code == 422 and bad.headers["content-type"].startswith(PROBLEM)
    set_ = await require(client, tokens, admin, world, "AU")
    assert set_.status_code == 200 and set_.json()["require_processing_in"] == "AU"
    shown = await client.get(f"/v1/departments/{world.department.id}", headers=world.headers)
    assert shown.json()["require_processing_in"] == "AU"
    lifted = await require(client, tokens, admin, world, None)
    assert lifted.status_code == 200 and lifted.json()["require_processing_in"] is None

    updates = (
        await db.execute(
            select(AuditOutbox)
            .where(AuditOutbox.event_type == "department.updated")
            .order_by(AuditOutbox.id)  # the order they were recorded in
        )
    ).scalars()
    changes = [
        e.payload["metadata"]["changes"]["require_processing_in"]
        for e in updates
        if e.payload["resource_id"] == str(world.department.id)
    ]
    assert changes == [{"from": None, "to": "AU"}, {"from": "AU", "to": None}]
    named = await client.post(
        "/v1/generations",
        json={"prompt": "a platypus at dawn", "model": f"local/{us.model_name}"},
        headers=world.headers,
    )
    assert named.status_code == 202  # the rule lifted: any model again


async def test_processed_in_is_the_providers_own_region_header_where_it_sends_one(
    client: httpx.AsyncClient,
    db: AsyncSession,
    app: FastAPI,
    http: httpx.AsyncClient,
    tokens: TokenSigner,
    azure_stub: AzureOpenAIStub,
) -> None:
    world = await gw.world(db, tokens)
    global_deployment = await provider_rows.model(
        db,
        "azure-openai",
        priority=1,
        endpoint=azure_stub.endpoint(),
        max_retries=0,
        configuration={"region": "australiaeast", "deployment_type": "GlobalStandard"},
    )  # processing_country null: a Global deployment processes anywhere
    azure_stub.reply(replace(success_b64(), headers={"x-ms-region": "Australia East"}))

    accepted = await client.post(
        "/v1/generations",
        json={"prompt": "a platypus at dawn", "model": f"azure-openai/{global_deployment.model_name}"},
        headers=world.headers,
    )
    assert accepted.status_code == 202, accepted.text
    assert await (await gw.worker(app, db, http)).run_once()

    done = (await client.get(f"/v1/generations/{accepted.json()['id']}", headers=world.headers)).json()
    assert done["status"] == "completed", done
    assert done["processed_in"] == "AU"
    assert [row["x_ProcessedIn"] for row in await focus_rows(db, world, "focus")] == ["AU"]


async def test_a_model_records_where_it_processes_through_the_providers_api(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    org = await factories.organization(db)
    admin = await factories.user(db, org, role="super_admin", department=await factories.department(db, org))
    body = {
        "provider_name": "azure-openai",
        "model_name": "gpt-image-1-mini-aue",
        "api_endpoint": "https://aoai-aue.openai.azure.com/openai/deployments/gpt-image-1-mini",
        "cost_per_image_aud": "0.0300",
        "processing_country": "AU",
        "config": {"configuration": {"region": "australiaeast", "deployment_type": "Standard"}},
    }
    created = await client.post("/v1/providers", json=body, headers=bearer_for(tokens, admin))
    assert created.status_code == 201, created.text
    shown = created.json()
    assert (shown["processing_country"], shown["region"], shown["deployment_type"]) == (
        "AU",
        "australiaeast",
        "Standard",
    )

    global_claiming_au = {
        **body,
        "model_name": "gpt-image-1-mini-global",
        "config": {"configuration": {"region": "australiaeast", "deployment_type": "GlobalStandard"}},
    }
    refused = await client.post("/v1/providers", json=global_claiming_au, headers=bearer_for(tokens, admin))
    assert refused.status_code == 422 and refused.json()["field"] == "processing_country"
    assert "GlobalStandard" in refused.json()["detail"]

    moved = await client.patch(
        f"/v1/providers/{shown['id']}", json={"processing_country": None}, headers=bearer_for(tokens, admin)
    )
    assert moved.status_code == 200 and moved.json()["processing_country"] is None
    bad = await client.patch(
        f"/v1/providers/{shown['id']}",
        json={"processing_country": "Australia"},
        headers=bearer_for(tokens, admin),
    )
    assert bad.status_code == 422


async def test_a_job_admitted_before_the_rule_is_not_processed_elsewhere_once_it_is_set(
    client: httpx.AsyncClient, db: AsyncSession, app: FastAPI, http: httpx.AsyncClient, tokens: TokenSigner
) -> None:
    world, us, _ = await two_models(db, tokens)
    accepted = await client.post(
        "/v1/generations",
        json={"prompt": "a platypus at dawn", "model": f"local/{us.model_name}"},
        headers=world.headers,
    )
    assert accepted.status_code == 202
    await require(client, tokens, await org_admin_of(db, world), world, "AU")

    assert await (await gw.worker(app, db, http)).run_once()

    done = (await client.get(f"/v1/generations/{accepted.json()['id']}", headers=world.headers)).json()
    assert done["status"] == "failed" and done["cost_aud"] == "0.0000" and done["processed_in"] is None
    assert done["error_message"] == (
        f"local/{us.model_name} cannot run: it processes in US and the department requires AU; "
        "choose another model"
    )
