"""Tenants own their e-mail domains: tenant A cannot create an address at tenant B's domain (by SCIM, the
admin API or a first sign-in), B's own hire still works, and A's refusal reads the same whether or not the
address exists at B. A platform administrator sets an organization's domains, and no domain belongs to two
organizations."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.auth.tokens import TokenSigner
from tests.support import factories
from tests.support.idp import EntraUser, IdentityProvider
from tests.support.scim_helpers import Entra, entra_user, provisioning_token
from tests.support.signin import bearer_for, sign_in


async def test_a_tenant_cannot_squat_another_tenants_addresses_and_learns_nothing_trying(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner, idp: IdentityProvider
) -> None:
    tid_a = str(uuid.uuid4())
    tenant_a = await factories.organization(db, azure_tenant_id=tid_a)
    tenant_b = await factories.organization(db)
    admin_a = await factories.user(db, tenant_a, role="org_admin")
    admin_b = await factories.user(db, tenant_b, role="org_admin")
    existing_b = await factories.user(db, tenant_b)
    entra_a = Entra(client, await provisioning_token(db, tenant_a))
    entra_b = Entra(client, await provisioning_token(db, tenant_b))
    future_hire = f"future.hire.{uuid.uuid4().hex[:6]}@{tenant_b.domain}"

    by_scim = await entra_a.post("/Users", entra_user(future_hire, str(uuid.uuid4())))
    by_api = await client.post("/v1/users", json={"email": future_hire}, headers=bearer_for(tokens, admin_a))
    assert by_scim.status_code == 400 and by_scim.json()["scimType"] == "invalidValue"
    assert tenant_b.domain in by_scim.json()["detail"]
    assert by_api.status_code == 422 and by_api.json()["type"].endswith("/email-domain-not-owned")
    assert by_api.json()["domain"] == tenant_b.domain

    # The same refusal for an address that exists at B: nothing tells A which addresses B has.
    taken_scim = await entra_a.post("/Users", entra_user(existing_b.email, str(uuid.uuid4())))
    taken_api = await client.post(
        "/v1/users", json={"email": existing_b.email}, headers=bearer_for(tokens, admin_a)
    )
    assert (taken_scim.status_code, taken_scim.json()["detail"]) == (
        by_scim.status_code,
        by_scim.json()["detail"],
    )
    assert (taken_api.status_code, taken_api.json()["detail"]) == (
        by_api.status_code,
        by_api.json()["detail"],
    )

    # Renaming one of A's own people to B's address is the same squat.
    own = await entra_a.post("/Users", entra_user(f"ann@{tenant_a.domain}", str(uuid.uuid4())))
    assert own.status_code == 201, own.text
    renamed = await entra_a.patch(
        f"/Users/{own.json()['id']}", {"op": "replace", "path": "userName", "value": future_hire}
    )
    assert renamed.status_code == 400 and renamed.json()["scimType"] == "invalidValue"

    # Nor can A's directory bring the address in at a first sign-in.
    jit = await sign_in(client, idp, EntraUser(tid=tid_a, preferred_username=future_hire))
    assert jit.status_code == 401 and tenant_b.domain in jit.json()["detail"]

    # B's own hire works, by SCIM and by the admin API.
    hired = await entra_b.post("/Users", entra_user(future_hire, str(uuid.uuid4())))
    assert hired.status_code == 201, hired.text
    second = await client.post(
        "/v1/users", json={"email": f"second.{future_hire}"}, headers=bearer_for(tokens, admin_b)
    )
    assert second.status_code == 201, second.text


async def test_the_platform_sets_an_organizations_domains_and_no_domain_has_two_owners(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    home = await factories.organization(db)
    operator = await factories.user(db, home, role="super_admin")
    other = await factories.organization(db, email_domains=[f"other-{uuid.uuid4().hex[:6]}.com.au"])
    as_operator = bearer_for(tokens, operator)
    primary = f"tenant-{uuid.uuid4().hex[:6]}.com.au"
    extra = f"tenant-{uuid.uuid4().hex[:6]}.co.nz"

    created = await client.post(
        "/v1/organizations",
        json={"name": "Tenant", "domain": primary, "email_domains": [extra, primary]},
        headers=as_operator,
    )
    assert created.status_code == 201, created.text
    org = created.json()
    assert (org["domain"], org["email_domains"], org["is_platform"]) == (primary, [extra], False)

    for taken in (other.domain, other.email_domains[0], home.domain):
        clash = await client.post(
            "/v1/organizations",
            json={"name": "Squatter", "domain": f"s-{uuid.uuid4().hex[:6]}.com", "email_domains": [taken]},
            headers=as_operator,
        )
        assert clash.status_code == 409 and taken in clash.json()["detail"], clash.text
        moved = await client.patch(
            f"/v1/organizations/{org['id']}", json={"email_domains": [taken]}, headers=as_operator
        )
        assert moved.status_code == 409, moved.text
    bad = await client.patch(
        f"/v1/organizations/{org['id']}", json={"email_domains": ["not a domain"]}, headers=as_operator
    )
    assert bad.status_code == 422

    admin = await client.post(
        f"/v1/users?organization_id={org['id']}",
        json={"email": f"boss@{extra}", "role": "org_admin"},
        headers=as_operator,
    )
    assert admin.status_code == 201, admin.text
    later = f"acquired-{uuid.uuid4().hex[:6]}.com"
    before = await client.post(
        f"/v1/users?organization_id={org['id']}", json={"email": f"x@{later}"}, headers=as_operator
    )
    assert before.status_code == 422
    added = await client.patch(
        f"/v1/organizations/{org['id']}", json={"email_domains": [extra, later]}, headers=as_operator
    )
    assert added.status_code == 200 and added.json()["email_domains"] == sorted([extra, later])
    after = await client.post(
        f"/v1/users?organization_id={org['id']}", json={"email": f"x@{later}"}, headers=as_operator
    )
    assert after.status_code == 201, after.text


async def test_the_same_address_may_live_in_two_organizations_that_each_own_it_in_turn(
    db: AsyncSession, client: httpx.AsyncClient
) -> None:
    """Uniqueness holds within an organization: a deleted tenant's leftover row never blocks another."""
    first = await factories.organization(db, is_active=False, domain=f"moved-{uuid.uuid4().hex[:6]}.com")
    leftover = await factories.user(db, first)
    second = await factories.organization(db, domain=first.domain)
    entra = Entra(client, await provisioning_token(db, second))
    again = await entra.post("/Users", entra_user(leftover.email, str(uuid.uuid4())))
    assert again.status_code == 201, again.text
