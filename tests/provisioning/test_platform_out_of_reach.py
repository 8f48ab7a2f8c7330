"""A hostile tenant against the platform: an org admin issues the organization's SCIM token and tries to
take over, silence or remove a platform administrator whose account sits in the tenant — by SCIM, by the
admin API and by signing in through the tenant's own Entra directory. Every path finds nothing (404) or
gets no platform role; the platform's own organization is where a platform administrator signs in."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.auth.tokens import TokenSigner
from donatello.models import User
from tests.support import factories
from tests.support.idp import EntraUser, IdentityProvider
from tests.support.scim_helpers import Entra, entra_user
from tests.support.signin import bearer, bearer_for, sign_in


async def test_an_org_admin_cannot_become_or_remove_the_platform_admin_through_scim_or_entra(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner, idp: IdentityProvider
) -> None:
    tid = str(uuid.uuid4())
    org = await factories.organization(db, azure_tenant_id=tid)
    admin = await factories.user(db, org, role="org_admin")
    # The layout the attack needs: a platform administrator's account inside the tenant.
    root = await factories.user(db, org, role="super_admin", azure_ad_id=f"platform-{uuid.uuid4()}")
    bound = root.azure_ad_id
    issued = await client.post("/v1/provisioning/token", headers=bearer_for(tokens, admin))
    assert issued.status_code == 201, issued.text
    entra = Entra(client, issued.json()["token"])
    attacker_oid = str(uuid.uuid4())

    # SCIM: the account is not there — not to read, re-key, deactivate, replace or delete.
    attempts = {
        "get": await entra.get(f"/Users/{root.id}"),
        "re-key": await entra.patch(
            f"/Users/{root.id}", {"op": "replace", "path": "externalId", "value": attacker_oid}
        ),
        "deactivate": await entra.patch(
            f"/Users/{root.id}", {"op": "Replace", "path": "active", "value": "False"}
        ),
        "replace": await entra.put(f"/Users/{root.id}", entra_user(root.email, attacker_oid)),
        "delete": await entra.delete(f"/Users/{root.id}"),
    }
    assert {name: response.status_code for name, response in attempts.items()} == dict.fromkeys(attempts, 404)
    assert all(
        response.json()["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
        for response in attempts.values()
    )
    listed = (await entra.get("/Users")).json()["Resources"]
    assert str(root.id) not in {item["id"] for item in listed}
    assert (await entra.get("/Users", filter=f'userName eq "{root.email}"')).json()["totalResults"] == 0
    group = await entra.post(
        "/Groups",
        {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "Admins",
            "members": [{"value": str(root.id)}],
        },
    )
    assert group.status_code == 400 and group.json()["scimType"] == "invalidValue"

    # The admin API: the same account is not found either (not 403: its existence is not revealed).
    assert (await client.get(f"/v1/users/{root.id}", headers=bearer_for(tokens, admin))).status_code == 404
    off = await client.patch(
        f"/v1/users/{root.id}", json={"is_active": False}, headers=bearer_for(tokens, admin)
    )
    assert off.status_code == 404
    everyone = await client.get("/v1/users", headers=bearer_for(tokens, admin))
    assert str(root.id) not in {item["id"] for item in everyone.json()["items"]}

    # Entra: the attacker's identity, even with the platform admin's address, gets no platform role.
    with_address = await sign_in(
        client, idp, EntraUser(tid=tid, oid=attacker_oid, preferred_username=root.email)
    )
    assert with_address.status_code == 409, with_address.text  # the address is taken in this tenant
    plain = await sign_in(
        client, idp, EntraUser(tid=tid, oid=attacker_oid, preferred_username=f"mallory@{org.domain}")
    )
    assert plain.status_code == 200, plain.text
    as_attacker = bearer(plain.json()["access_token"])
    assert (await client.get("/v1/me", headers=as_attacker)).json()["role"] == "standard_user"
    assert (await client.get("/v1/organizations", headers=as_attacker)).status_code == 403

    # Nor does the platform admin's own identity through the tenant's directory (its admins control it).
    through_tenant = await sign_in(
        client, idp, EntraUser(tid=tid, oid=bound or "", preferred_username=root.email)
    )
    assert through_tenant.status_code == 401, through_tenant.text
    assert (await client.get(f"/v1/users/{root.id}", headers=bearer_for(tokens, root))).status_code == 200
    await db.refresh(root)
    assert (root.is_active, root.deleted_at, root.azure_ad_id, root.role) == (
        True,
        None,
        bound,
        "super_admin",
    )


async def test_an_unbound_platform_account_is_never_claimed_by_a_tenant_address(
    client: httpx.AsyncClient, db: AsyncSession, idp: IdentityProvider
) -> None:
    tid = str(uuid.uuid4())
    org = await factories.organization(db, azure_tenant_id=tid)
    root = User(organization_id=org.id, email=f"root@{org.domain}", role="super_admin", mfa_enabled=True)
    db.add(root)
    await db.flush()

    claimed = await sign_in(client, idp, EntraUser(tid=tid, preferred_username=root.email))

    assert claimed.status_code == 409, claimed.text  # a second account at the address, never this one
    await db.refresh(root)
    assert root.azure_ad_id is None


async def test_platform_admins_sign_in_through_the_platform_organization_and_roles_stay_there(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner, idp: IdentityProvider
) -> None:
    platform_tid = str(uuid.uuid4())
    platform = await factories.organization(db, azure_tenant_id=platform_tid, is_platform=True)
    operator = await factories.user(db, platform, role="super_admin")
    colleague = await factories.user(db, platform, role="org_admin")
    tenant = await factories.organization(db)
    member = await factories.user(db, tenant)

    signed_in = await sign_in(
        client,
        idp,
        EntraUser(tid=platform_tid, oid=operator.azure_ad_id or "", preferred_username=operator.email),
    )
    assert signed_in.status_code == 200, signed_in.text
    as_operator = bearer(signed_in.json()["access_token"])
    assert (await client.get("/v1/me", headers=as_operator)).json()["role"] == "super_admin"
    assert (await client.get("/v1/organizations", headers=as_operator)).status_code == 200

    # A platform role is granted only inside the platform's organization, even by a platform admin.
    into_tenant = await client.patch(
        f"/v1/users/{member.id}",
        json={"role": "super_admin"},
        headers=as_operator,
    )
    assert into_tenant.status_code == 403 and into_tenant.json()["type"].endswith("/role-above-your-own")
    created = await client.post(
        f"/v1/users?organization_id={tenant.id}",
        json={"email": f"root@{tenant.domain}", "role": "super_admin"},
        headers=as_operator,
    )
    assert created.status_code == 403
    promoted = await client.patch(
        f"/v1/users/{colleague.id}", json={"role": "super_admin"}, headers=as_operator
    )
    assert promoted.status_code == 200 and promoted.json()["role"] == "super_admin"


async def test_a_platform_admin_sets_up_the_platform_organization_once_and_adds_admins_there(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner, idp: IdentityProvider
) -> None:
    legacy = await factories.organization(db)
    operator = await factories.user(db, legacy, role="super_admin")
    as_operator = bearer_for(tokens, operator)
    tid = str(uuid.uuid4())
    domain = f"ops-{uuid.uuid4().hex[:6]}.example"

    made = await client.post(
        "/v1/organizations",
        json={"name": "Platform", "domain": domain, "azure_tenant_id": tid, "is_platform": True},
        headers=as_operator,
    )
    assert made.status_code == 201 and made.json()["is_platform"] is True, made.text
    second = await client.post(
        "/v1/organizations",
        json={"name": "Another", "domain": f"x-{domain}", "is_platform": True},
        headers=as_operator,
    )
    assert second.status_code == 409

    platform_id = made.json()["id"]
    added = await client.post(
        f"/v1/users?organization_id={platform_id}",
        json={"email": f"ops@{domain}", "role": "super_admin"},
        headers=as_operator,
    )
    assert added.status_code == 201, added.text
    signed_in = await sign_in(client, idp, EntraUser(tid=tid, preferred_username=f"ops@{domain}"))
    assert signed_in.status_code == 200, signed_in.text
    me = await client.get("/v1/me", headers=bearer(signed_in.json()["access_token"]))
    assert (me.json()["role"], me.json()["organization_id"]) == ("super_admin", platform_id)
