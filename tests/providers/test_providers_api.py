"""Stories of platform and organization admins, and staff, using the provider registry API."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.auth.tokens import TokenSigner
from donatello.models import AuditOutbox, ModelProvider, Organization, ProviderConfig, User
from tests.support import factories, provider_rows
from tests.support.signin import bearer_for

PROBLEM = "application/problem+json"


async def people(db: AsyncSession) -> dict[str, User]:
    org: Organization = await factories.organization(db)
    dept = await factories.department(db, org)
    return {
        role: await factories.user(db, org, role=role, department=dept)
        for role in ("super_admin", "org_admin", "standard_user")
    }


async def audit_events(db: AsyncSession, event_type: str, resource_id: object) -> list[AuditOutbox]:
    rows = (await db.execute(select(AuditOutbox).where(AuditOutbox.event_type == event_type))).scalars()
    return [row for row in rows if row.payload["resource_id"] == str(resource_id)]


async def every_page(client: httpx.AsyncClient, headers: dict[str, str], limit: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, str | int] = {"limit": limit} | ({"cursor": cursor} if cursor else {})
        response = await client.get("/v1/providers", params=params, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= limit
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return items


async def test_staff_see_active_models_with_prices_and_admins_also_see_inactive_ones(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    team = await people(db)
    active = await provider_rows.model(db, "local", price="0.0123", max_retries=2)
    retired = await provider_rows.model(db, "local", is_active=False)

    staff_view = await every_page(client, bearer_for(tokens, team["standard_user"]), limit=2)
    admin_view = await every_page(client, bearer_for(tokens, team["org_admin"]), limit=2)

    staff_ids = [item["id"] for item in staff_view]
    admin_ids = [item["id"] for item in admin_view]
    assert str(active.id) in staff_ids and str(retired.id) not in staff_ids
    assert str(active.id) in admin_ids and str(retired.id) in admin_ids
    assert len(admin_ids) == len(set(admin_ids))  # every model once across pages
    mine = next(item for item in staff_view if item["id"] == str(active.id))
    assert (mine["cost_per_image_aud"], mine["available"], mine["config"]) == ("0.0123", True, None)
    as_admin = next(item for item in admin_view if item["id"] == str(active.id))
    assert as_admin["config"]["max_retries"] == 2
    hidden = await client.get(
        f"/v1/providers/{retired.id}", headers=bearer_for(tokens, team["standard_user"])
    )
    assert hidden.status_code == 404


async def test_only_a_super_admin_changes_the_registry(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    team = await people(db)
    row = await provider_rows.model(db, "local")

    for role in ("org_admin", "standard_user"):
        headers = bearer_for(tokens, team[role])
        patched = await client.patch(f"/v1/providers/{row.id}", json={"is_active": False}, headers=headers)
        configured = await client.put(
            f"/v1/providers/{row.id}/config", json={"max_retries": 1}, headers=headers
        )
        created = await client.post(
            "/v1/providers",
            json={
                "provider_name": "local",
                "model_name": "x",
                "api_endpoint": "local://x",
                "cost_per_image_aud": "0.01",
            },
            headers=headers,
        )
        assert [patched.status_code, configured.status_code, created.status_code] == [403, 403, 403]
        assert patched.headers["content-type"] == PROBLEM
    await db.refresh(row)
    assert row.is_active is True


async def test_a_super_admin_disables_a_model_and_reprices_it_audited(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    team = await people(db)
    row = await provider_rows.model(db, "azure-openai", price="0.0800")

    response = await client.patch(
        f"/v1/providers/{row.id}",
        json={
            "is_active": False,
            "cost_per_image_aud": "0.0900",
            "timeout_seconds": 20,
            "priority": 5,
            "quality_multipliers": {"hd": "2.5"},
        },
        headers=bearer_for(tokens, team["super_admin"]),
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["is_active"], body["cost_per_image_aud"], body["timeout_seconds"], body["priority"]) == (
        False,
        "0.0900",
        20,
        5,
    )
    assert body["quality_multipliers"] == {"hd": "2.5"}
    [event] = await audit_events(db, "provider.updated", row.id)
    changes = event.payload["metadata"]["changes"]
    assert changes["cost_per_image_aud"] == {"from": "0.0800", "to": "0.0900"}
    assert changes["is_active"] == {"from": True, "to": False}
    assert event.user_id == team["super_admin"].id


async def test_configuration_is_replaced_audited_and_the_secret_reference_never_returned(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    team = await people(db)
    row = await provider_rows.model(db, "azure-openai")
    headers = bearer_for(tokens, team["super_admin"])

    response = await client.put(
        f"/v1/providers/{row.id}/config",
        json={
            "max_retries": 4,
            "rate_limit_per_minute": 60,
            "token_limit_per_minute": 250_000,
            "configuration": {"api_version": "2024-10-21", "auth": "api-key"},
            "credential": {
                "kind": "key-vault",
                "secret": "https://acme-kv.vault.azure.net/secrets/openai-key",
            },
        },
        headers=headers,
    )

    assert response.status_code == 200, response.text
    assert response.json() == {
        "provider_id": str(row.id),
        "max_retries": 4,
        "rate_limit_per_minute": 60,
        "token_limit_per_minute": 250_000,
        "configuration": {"api_version": "2024-10-21", "auth": "api-key"},
        "has_credential": True,
        "credential_kind": "key-vault",
    }
    stored = (
        await db.execute(select(ProviderConfig).where(ProviderConfig.provider_id == row.id))
    ).scalar_one()
    assert stored.credential == {
        "kind": "key-vault",
        "secret": "https://acme-kv.vault.azure.net/secrets/openai-key",
    }
    [event] = await audit_events(db, "provider.configured", row.id)
    assert "vault.azure.net" not in str(event.payload)
    listed = await client.get(f"/v1/providers/{row.id}", headers=headers)
    assert "vault.azure.net" not in listed.text


async def test_secrets_in_configuration_are_refused(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    team = await people(db)
    row = await provider_rows.model(db, "azure-openai", credential=None)

    response = await client.put(
        f"/v1/providers/{row.id}/config",
        json={"configuration": {"api_key": "sk-live-123"}},
        headers=bearer_for(tokens, team["super_admin"]),
    )

    assert response.status_code == 422
    assert response.json()["type"].endswith("/secret-in-configuration")
    assert (
        await db.execute(select(ProviderConfig).where(ProviderConfig.provider_id == row.id))
    ).first() is None


async def test_a_super_admin_registers_a_model_once(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    team = await people(db)
    headers = bearer_for(tokens, team["super_admin"])
    body = {
        "provider_name": "azure-openai",
        "model_name": "gpt-image-1-test",
        "api_endpoint": "https://acme.openai.azure.com/openai/deployments/gpt-image-1",
        "cost_per_image_aud": "0.0608",
        "pricing_currency": "USD",
        "cost_per_image": "0.0400",
        "size_multipliers": {"1792x1024": "1.5"},
        "config": {"max_retries": 2, "configuration": {"response_format": None}},
    }

    created = await client.post("/v1/providers", json=body, headers=headers)
    again = await client.post("/v1/providers", json=body, headers=headers)

    assert created.status_code == 201, created.text
    assert created.json()["config"]["max_retries"] == 2
    assert again.status_code == 409
    assert again.headers["content-type"] == PROBLEM
    [event] = await audit_events(db, "provider.created", created.json()["id"])
    assert event.payload["metadata"]["model"] == "gpt-image-1-test"
    count = len(
        (await db.execute(select(ModelProvider).where(ModelProvider.model_name == "gpt-image-1-test"))).all()
    )
    assert count == 1


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        (
            {
                "provider_name": "Bad Name",
                "model_name": "",
                "api_endpoint": "ftp://x",
                "cost_per_image_aud": "-1",
            },
            {"body.provider_name", "body.model_name", "body.api_endpoint", "body.cost_per_image_aud"},
        ),
        (
            {
                "provider_name": "local",
                "model_name": "m",
                "api_endpoint": "local://x",
                "cost_per_image_aud": "0.01",
                "pricing_currency": "USD",
            },
            {"body"},
        ),
        (
            {
                "provider_name": "local",
                "model_name": "m",
                "api_endpoint": "local://x",
                "cost_per_image_aud": "0.01",
                "size_multipliers": {"huge": "2"},
                "timeout_seconds": 0,
                "colour": "red",
            },
            {"body.size_multipliers.huge.[key]", "body.timeout_seconds", "body.colour"},
        ),
    ],
)
async def test_bad_input_is_a_422_problem_naming_the_fields(
    client: httpx.AsyncClient,
    db: AsyncSession,
    tokens: TokenSigner,
    body: dict[str, object],
    fields: set[str],
) -> None:
    team = await people(db)

    response = await client.post("/v1/providers", json=body, headers=bearer_for(tokens, team["super_admin"]))

    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    assert {error["field"] for error in response.json()["errors"]} == fields


async def test_patch_with_bad_values_or_unknown_id_is_refused(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    team = await people(db)
    row = await provider_rows.model(db, "local")
    headers = bearer_for(tokens, team["super_admin"])

    bad = await client.patch(
        f"/v1/providers/{row.id}", json={"priority": -1, "quality_multipliers": {"hd": 0}}, headers=headers
    )
    missing = await client.patch(
        f"/v1/providers/{row.id.hex[:8]}-0000-4000-8000-000000000000", json={}, headers=headers
    )
    not_uuid = await client.patch("/v1/providers/nope", json={}, headers=headers)
    no_foreign_price = await client.patch(
        f"/v1/providers/{row.id}", json={"pricing_currency": "USD"}, headers=headers
    )
    bad_cursor = await client.get("/v1/providers", params={"cursor": "%%%"}, headers=headers)

    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"body.priority", "body.quality_multipliers.hd"}
    assert no_foreign_price.status_code == 422
    assert no_foreign_price.json()["field"] == "cost_per_image"
    assert missing.status_code == 404
    assert not_uuid.status_code == 422
    assert bad_cursor.status_code == 422
    assert all(r.headers["content-type"] == PROBLEM for r in (bad, missing, not_uuid, bad_cursor))
