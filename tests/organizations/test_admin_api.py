"""Administrators manage organizations and users; everyone manages their own preferences."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.auth.tokens import TokenSigner
from donatello.models import AuditOutbox, User
from tests.support import factories
from tests.support.signin import bearer_for


async def _event_types(db: AsyncSession, actor: User) -> list[str]:
    return list(
        (
            await db.execute(
                select(AuditOutbox.event_type).where(AuditOutbox.user_id == actor.id).order_by(AuditOutbox.id)
            )
        ).scalars()
    )


async def test_a_super_admin_creates_links_and_suspends_an_organization(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    home = await factories.organization(db)
    root = await factories.user(db, home, role="super_admin")
    tag = uuid.uuid4().hex[:8]

    created = await client.post(
        "/v1/organizations",
        json={"name": "Globex", "domain": f"globex-{tag}.com.au"},
        headers=bearer_for(tokens, root),
    )
    assert created.status_code == 201, created.text
    org_id = created.json()["id"]
    tid = str(uuid.uuid4())
    linked = await client.patch(
        f"/v1/organizations/{org_id}",
        json={
            "azure_tenant_id": tid,
            "is_active": False,
            "settings": {"entra": {"role_mapping": {"A": "org_admin"}}},
        },
        headers=bearer_for(tokens, root),
    )
    assert linked.status_code == 200 and linked.json()["azure_tenant_id"] == tid
    duplicate = await client.post(
        "/v1/organizations",
        json={"name": "Again", "domain": f"globex-{tag}.com.au"},
        headers=bearer_for(tokens, root),
    )
    assert duplicate.status_code == 201  # the old one is inactive: the domain is free again
    bad_mapping = await client.patch(
        f"/v1/organizations/{org_id}",
        json={"settings": {"entra": {"role_mapping": {"A": "emperor"}}}},
        headers=bearer_for(tokens, root),
    )
    assert bad_mapping.status_code == 422
    listed = await client.get(
        "/v1/organizations", params={"is_active": "false", "limit": 200}, headers=bearer_for(tokens, root)
    )
    assert org_id in {o["id"] for o in listed.json()["items"]}
    assert (await _event_types(db, root)).count("organization.created") == 2
    assert (await _event_types(db, root)).count("organization.updated") == 1


async def test_an_org_admin_changes_role_department_and_deactivates(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    org = await factories.organization(db)
    dept = await factories.department(db, org)
    admin = await factories.user(db, org, role="org_admin")
    member = await factories.user(db, org)

    promoted = await client.patch(
        f"/v1/users/{member.id}",
        json={"role": "power_user", "department_id": str(dept.id)},
        headers=bearer_for(tokens, admin),
    )
    assert promoted.status_code == 200, promoted.text
    assert (promoted.json()["role"], promoted.json()["department_id"]) == ("power_user", str(dept.id))
    gone = await client.patch(
        f"/v1/users/{member.id}", json={"is_active": False}, headers=bearer_for(tokens, admin)
    )
    assert gone.json()["is_active"] is False
    assert (await client.get("/v1/me", headers=bearer_for(tokens, member))).status_code == 401
    assert await _event_types(db, admin) == ["user.role_changed", "user.deactivated"]

    filtered = await client.get("/v1/users", params={"is_active": "false"}, headers=bearer_for(tokens, admin))
    assert [u["id"] for u in filtered.json()["items"]] == [str(member.id)]


async def test_nobody_raises_their_own_role_or_grants_above_their_own(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    org = await factories.organization(db)
    admin = await factories.user(db, org, role="org_admin")
    member = await factories.user(db, org)
    root = await factories.user(db, org, role="super_admin")

    own = await client.patch(
        f"/v1/users/{admin.id}", json={"role": "super_admin"}, headers=bearer_for(tokens, admin)
    )
    grant = await client.patch(
        f"/v1/users/{member.id}", json={"role": "super_admin"}, headers=bearer_for(tokens, admin)
    )
    demote = await client.patch(
        f"/v1/users/{root.id}", json={"role": "standard_user"}, headers=bearer_for(tokens, admin)
    )
    self_promotion = await client.patch(
        f"/v1/users/{member.id}", json={"role": "org_admin"}, headers=bearer_for(tokens, member)
    )

    assert own.status_code == 403 and own.json()["type"].endswith("/cannot-change-own-access")
    assert grant.status_code == 403
    assert demote.status_code == 404  # a platform administrator's account is not a tenant's to see
    assert self_promotion.status_code == 403
    await db.refresh(member)
    await db.refresh(admin)
    assert (member.role, admin.role) == ("standard_user", "org_admin")


async def test_a_department_manager_reads_only_their_department(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    org = await factories.organization(db)
    mine, other = await factories.department(db, org), await factories.department(db, org)
    manager = await factories.user(db, org, role="dept_manager", department=mine)
    colleague = await factories.user(db, org, department=mine)
    outsider = await factories.user(db, org, department=other)

    listed = await client.get("/v1/users", headers=bearer_for(tokens, manager))
    assert {u["id"] for u in listed.json()["items"]} == {str(manager.id), str(colleague.id)}
    assert (
        await client.get(f"/v1/users/{outsider.id}", headers=bearer_for(tokens, manager))
    ).status_code == 404
    assert (
        await client.get(f"/v1/users/{colleague.id}", headers=bearer_for(tokens, manager))
    ).status_code == 200
    other_dept = await client.get(
        "/v1/users", params={"department_id": str(other.id)}, headers=bearer_for(tokens, manager)
    )
    assert other_dept.json()["items"] == []


async def test_users_page_through_with_a_cursor(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    org = await factories.organization(db)
    admin = await factories.user(db, org, role="org_admin")
    for _ in range(4):
        await factories.user(db, org)
    seen: list[str] = []
    cursor = None
    while True:
        page = (
            await client.get(
                "/v1/users",
                params={"limit": 2, **({"cursor": cursor} if cursor else {})},
                headers=bearer_for(tokens, admin),
            )
        ).json()
        seen += [u["email"] for u in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert seen == sorted(seen) and len(seen) == 5


async def test_users_keep_their_own_preferences(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    org = await factories.organization(db)
    me, colleague = await factories.user(db, org), await factories.user(db, org)

    assert (
        await client.put("/v1/me/preferences/theme", json={"value": "dark"}, headers=bearer_for(tokens, me))
    ).status_code == 200
    updated = await client.put(
        "/v1/me/preferences/theme", json={"value": {"mode": "light"}}, headers=bearer_for(tokens, me)
    )
    assert updated.json()["value"] == {"mode": "light"}
    assert (await client.get("/v1/me/preferences", headers=bearer_for(tokens, colleague))).json() == []
    assert (
        await client.delete("/v1/me/preferences/theme", headers=bearer_for(tokens, colleague))
    ).status_code == 404
    assert (
        await client.put("/v1/me/preferences/Bad Key!", json={"value": 1}, headers=bearer_for(tokens, me))
    ).status_code == 422
    assert (
        await client.delete("/v1/me/preferences/theme", headers=bearer_for(tokens, me))
    ).status_code == 204
    assert await _event_types(db, me) == [
        "user.preference_set",
        "user.preference_set",
        "user.preference_deleted",
    ]
