"""API keys: created by power users and admins, shown once, used as Bearer, narrowed by scopes, revoked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.auth.tokens import TokenSigner
from donatello.models import ApiKey, AuditOutbox
from tests.support import factories
from tests.support.signin import bearer, bearer_for


async def test_a_power_user_creates_uses_and_revokes_a_key(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    org = await factories.organization(db)
    power = await factories.user(db, org, role="power_user")

    created = await client.post(
        "/v1/api-keys",
        json={"name": "ci", "scopes": ["generations:create"]},
        headers=bearer_for(tokens, power),
    )

    assert created.status_code == 201, created.text
    key = created.json()["key"]
    assert key.startswith("dnt_") and created.json()["prefix"] == key[:12]
    stored = (await db.execute(select(ApiKey).where(ApiKey.user_id == power.id))).scalar_one()
    assert key not in (stored.key_hash, stored.key_prefix) and stored.last_used_at is None
    listed = await client.get("/v1/api-keys", headers=bearer_for(tokens, power))
    assert "key" not in listed.json()["items"][0] and key not in listed.text

    me = await client.get("/v1/me", headers=bearer(key))
    assert me.status_code == 200 and me.json()["user_id"] == str(power.id)
    await db.refresh(stored)
    assert stored.last_used_at is not None

    revoked = await client.delete(f"/v1/api-keys/{stored.id}", headers=bearer_for(tokens, power))
    assert revoked.status_code == 200 and revoked.json()["is_active"] is False
    assert (await client.get("/v1/me", headers=bearer(key))).status_code == 401
    events = (
        (await db.execute(select(AuditOutbox.event_type).where(AuditOutbox.user_id == power.id)))
        .scalars()
        .all()
    )
    assert sorted(events) == ["api_key.created", "api_key.revoked"]


async def test_a_key_only_carries_its_scopes(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    org = await factories.organization(db)
    admin = await factories.user(db, org, role="org_admin")
    created = await client.post(
        "/v1/api-keys",
        json={"name": "gen only", "scopes": ["generations:create"]},
        headers=bearer_for(tokens, admin),
    )
    key = created.json()["key"]
    response = await client.post("/v1/departments", json={"name": "X", "code": "XKEY"}, headers=bearer(key))
    assert response.status_code == 403
    assert (
        await client.post(
            "/v1/departments", json={"name": "X", "code": "XTOK"}, headers=bearer_for(tokens, admin)
        )
    ).status_code == 201


async def test_nobody_mints_a_key_with_more_than_they_have(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    org = await factories.organization(db)
    power = await factories.user(db, org, role="power_user")
    response = await client.post(
        "/v1/api-keys", json={"name": "x", "scopes": ["users:manage"]}, headers=bearer_for(tokens, power)
    )
    assert response.status_code == 422 and response.json()["scopes"] == ["users:manage"]
    for role in ("standard_user", "dept_manager", "finance"):
        member = await factories.user(db, org, role=role)
        response = await client.post(
            "/v1/api-keys", json={"name": "x", "scopes": ["reports:read"]}, headers=bearer_for(tokens, member)
        )
        assert response.status_code == 403, role


async def test_expired_unknown_and_other_tenants_keys(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    org, rival = await factories.organization(db), await factories.organization(db)
    power, other = (
        await factories.user(db, org, role="power_user"),
        await factories.user(db, rival, role="org_admin"),
    )
    soon = datetime.now(UTC) + timedelta(hours=1)
    created = (
        await client.post(
            "/v1/api-keys",
            json={"name": "short", "scopes": ["generations:create"], "expires_at": soon.isoformat()},
            headers=bearer_for(tokens, power),
        )
    ).json()
    await db.execute(
        update(ApiKey)
        .where(ApiKey.id == created["id"])
        .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    )

    assert (await client.get("/v1/me", headers=bearer(created["key"]))).status_code == 401
    assert (await client.get("/v1/me", headers=bearer("dnt_" + "A" * 43))).status_code == 401
    assert (
        await client.delete(f"/v1/api-keys/{created['id']}", headers=bearer_for(tokens, other))
    ).status_code == 404
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    response = await client.post(
        "/v1/api-keys",
        json={"name": "p", "scopes": ["generations:create"], "expires_at": past},
        headers=bearer_for(tokens, power),
    )
    assert response.status_code == 422


async def test_an_org_admin_sees_and_revokes_staff_keys_but_staff_do_not_see_each_others(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    org = await factories.organization(db)
    admin = await factories.user(db, org, role="org_admin")
    alice, bob = (
        await factories.user(db, org, role="power_user"),
        await factories.user(db, org, role="power_user"),
    )
    key = (
        await client.post(
            "/v1/api-keys",
            json={"name": "a", "scopes": ["generations:create"]},
            headers=bearer_for(tokens, alice),
        )
    ).json()

    assert [
        k["id"] for k in (await client.get("/v1/api-keys", headers=bearer_for(tokens, admin))).json()["items"]
    ] == [key["id"]]
    assert (await client.get("/v1/api-keys", headers=bearer_for(tokens, bob))).json() == {
        "items": [],
        "next_cursor": None,
    }
    assert (
        await client.delete(f"/v1/api-keys/{key['id']}", headers=bearer_for(tokens, bob))
    ).status_code == 404
    assert (
        await client.delete(f"/v1/api-keys/{key['id']}", headers=bearer_for(tokens, admin))
    ).status_code == 200


async def test_an_admins_key_for_generating_reads_no_audit_log_and_no_keys(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    """An org admin's key scoped to generations:create read the audit log and the keys, and
    revoked the owner's other key."""
    org = await factories.organization(db)
    admin = await factories.user(db, org, role="org_admin")
    narrow = await client.post(
        "/v1/api-keys",
        json={"name": "gen", "scopes": ["generations:create"]},
        headers=bearer_for(tokens, admin),
    )
    other = await client.post(
        "/v1/api-keys", json={"name": "ops", "scopes": ["audit:read"]}, headers=bearer_for(tokens, admin)
    )
    key = bearer(narrow.json()["key"])

    audit = await client.get("/v1/audit-events", headers=key)
    listing = await client.get("/v1/api-keys", headers=key)
    revoke = await client.delete(f"/v1/api-keys/{other.json()['id']}", headers=key)

    assert (audit.status_code, audit.json()["required_permission"]) == (403, "audit:read")
    assert (listing.status_code, listing.json()["required_permission"]) == (403, "api-keys:own")
    assert revoke.status_code == 403
    assert (await client.get("/v1/audit-events", headers=bearer(other.json()["key"]))).status_code == 200


async def test_keys_are_listed_a_page_at_a_time_newest_first(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    org = await factories.organization(db)
    power = await factories.user(db, org, role="power_user")
    made = [
        (
            await client.post(
                "/v1/api-keys",
                json={"name": f"k{i}", "scopes": ["generations:create"]},
                headers=bearer_for(tokens, power),
            )
        ).json()["id"]
        for i in range(3)
    ]
    first = (await client.get("/v1/api-keys", params={"limit": 2}, headers=bearer_for(tokens, power))).json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    rest = (
        await client.get(
            "/v1/api-keys",
            params={"limit": 2, "cursor": first["next_cursor"]},
            headers=bearer_for(tokens, power),
        )
    ).json()
    assert rest["next_cursor"] is None
    assert sorted(k["id"] for k in first["items"] + rest["items"]) == sorted(made)
    stamps = [k["created_at"] for k in first["items"] + rest["items"]]
    assert stamps == sorted(stamps, reverse=True)
    bad = await client.get(
        "/v1/api-keys", params={"cursor": "WyJ4IiwieSJd"}, headers=bearer_for(tokens, power)
    )
    assert bad.status_code == 422
