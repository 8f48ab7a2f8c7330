"""Putting people into an organization without waiting for their first sign-in: an org admin (or a platform
admin naming the organization) adds them; their first Entra sign-in claims that account; deactivating
them through the admin API cuts access exactly as SCIM deprovisioning does."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from donatello.auth.tokens import TokenSigner
from donatello.core.database import transaction
from donatello.models import AuditOutbox, User, Webhook
from donatello.provisioning import service as provisioning
from tests.support import factories
from tests.support.idp import EntraUser, IdentityProvider
from tests.support.scim_helpers import Entra
from tests.support.signin import bearer, sign_in

DONATELLO = str(Path(sys.executable).with_name("donatello"))


async def test_an_account_added_ahead_is_claimed_by_the_first_sign_in(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner, idp: IdentityProvider
) -> None:
    tid = str(uuid.uuid4())
    org = await factories.organization(db, azure_tenant_id=tid)
    dept = await factories.department(db, org)
    admin = await factories.user(db, org, role="org_admin")
    email = f"grace.{uuid.uuid4().hex[:6]}@{org.domain}"

    added = await client.post(
        "/v1/users",
        json={"email": email, "role": "power_user", "department_id": str(dept.id), "display_name": "Grace"},
        headers=bearer(tokens.issue(admin.id, org.id)),
    )
    assert added.status_code == 201, added.text
    assert added.json()["is_active"] is True and added.json()["last_login_at"] is None

    signed_in = await sign_in(client, idp, EntraUser(tid=tid, preferred_username=email.upper()))
    assert signed_in.status_code == 200, signed_in.text
    me = (await client.get("/v1/me", headers=bearer(signed_in.json()["access_token"]))).json()
    assert me["user_id"] == added.json()["id"]  # the same account, not a second one
    assert (me["role"], me["department_id"]) == ("power_user", str(dept.id))
    accounts = (
        await db.execute(select(User).where(User.organization_id == org.id, User.email == email))
    ).scalars()
    assert len(list(accounts)) == 1


async def test_a_platform_admin_names_the_organization_and_an_org_admin_cannot_reach_another(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    home, customer = await factories.organization(db), await factories.organization(db)
    platform = await factories.user(db, home, role="super_admin")
    as_platform = bearer(tokens.issue(platform.id, home.id))
    email = f"first.admin.{uuid.uuid4().hex[:6]}@{customer.domain}"

    unnamed = await client.post("/v1/users", json={"email": email, "role": "org_admin"}, headers=as_platform)
    assert unnamed.status_code == 422 and unnamed.json()["type"].endswith("organization-required")
    named = await client.post(
        f"/v1/users?organization_id={customer.id}",
        json={"email": email, "role": "org_admin"},
        headers=as_platform,
    )
    assert named.status_code == 201 and named.json()["organization_id"] == str(customer.id)
    unnamed_token = await client.post("/v1/provisioning/token", headers=as_platform)
    assert unnamed_token.status_code == 422
    customer_token = await client.post(
        f"/v1/provisioning/token?organization_id={customer.id}", headers=as_platform
    )
    assert customer_token.status_code == 201 and customer_token.json()["tenant_url"].endswith("/scim/v2")

    org_admin = await factories.user(db, home, role="org_admin")
    as_org_admin = bearer(tokens.issue(org_admin.id, home.id))
    elsewhere = await client.post(
        f"/v1/users?organization_id={customer.id}",
        json={"email": f"x.{uuid.uuid4().hex[:6]}@{customer.domain}"},
        headers=as_org_admin,
    )
    assert elsewhere.status_code == 404
    assert (
        await client.post(f"/v1/provisioning/token?organization_id={customer.id}", headers=as_org_admin)
    ).status_code == 404
    above = await client.post(
        "/v1/users",
        json={"email": f"y.{uuid.uuid4().hex[:6]}@{home.domain}", "role": "super_admin"},
        headers=as_org_admin,
    )
    assert above.status_code == 403
    staff = await factories.user(db, home, role="standard_user")
    assert (
        await client.post("/v1/provisioning/token", headers=bearer(tokens.issue(staff.id, home.id)))
    ).status_code == 403

    # The org admin's own token provisions only their organization.
    own = await client.post("/v1/provisioning/token", headers=as_org_admin)
    assert own.status_code == 201 and own.json()["organization_id"] == str(home.id)
    listed = (await Entra(client, own.json()["token"]).get("/Users")).json()["Resources"]
    # A platform administrator's account, even one sitting in the organization, is not the tenant's to see.
    assert {item["userName"] for item in listed} == {org_admin.email, staff.email}


async def test_deactivation_through_the_admin_api_cuts_access_like_deprovisioning(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner, idp: IdentityProvider
) -> None:
    tid = str(uuid.uuid4())
    org = await factories.organization(db, azure_tenant_id=tid)
    admin = await factories.user(db, org, role="org_admin")
    member = await factories.user(db, org, role="power_user")
    signed_in = await sign_in(
        client, idp, EntraUser(tid=tid, oid=member.azure_ad_id or "", preferred_username=member.email)
    )
    pair = signed_in.json()
    key = await client.post(
        "/v1/api-keys",
        json={"name": "ci", "scopes": ["generations:create"]},
        headers=bearer(pair["access_token"]),
    )
    hook = Webhook(
        organization_id=org.id, user_id=member.id, webhook_url="https://hooks.example.com/y", secret_hash="s"
    )
    db.add(hook)
    await db.flush()

    off = await client.patch(
        f"/v1/users/{member.id}", json={"is_active": False}, headers=bearer(tokens.issue(admin.id, org.id))
    )
    assert off.status_code == 200 and off.json()["is_active"] is False
    assert (await client.get("/v1/me", headers=bearer(pair["access_token"]))).status_code == 401
    assert (await client.get("/v1/me", headers=bearer(key.json()["key"]))).status_code == 401
    assert (
        await client.post("/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    ).status_code == 401
    await db.refresh(hook)
    assert hook.is_active is False
    event = (
        await db.execute(
            select(AuditOutbox.payload).where(
                AuditOutbox.event_type == "user.deactivated", AuditOutbox.organization_id == org.id
            )
        )
    ).scalar_one()
    assert event["user_id"] == str(admin.id)
    assert (event["metadata"]["sessions_revoked"], event["metadata"]["api_keys_revoked"]) == (1, 1)


async def test_the_operator_command_prints_only_a_working_token(
    engine: AsyncEngine, postgres_url: str
) -> None:
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with transaction(sessions, platform=True) as session:
        org = await factories.organization(session)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("DONATELLO_")},
        "DONATELLO_DATABASE_URL": postgres_url,
    }
    try:
        issued = await asyncio.to_thread(
            subprocess.run,
            [DONATELLO, "scim", "issue-token", "--org", org.domain],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert issued.returncode == 0, issued.stderr
        token = issued.stdout.strip()
        assert token.startswith("dsp_") and issued.stdout == token + "\n"
        async with transaction(sessions) as session:
            assert (await provisioning.authenticate(session, token)).organization_id == org.id
        unknown = await asyncio.to_thread(
            subprocess.run,
            [DONATELLO, "scim", "issue-token", "--org", "nobody.example.com"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert unknown.returncode == 1 and unknown.stdout == ""
    finally:
        owner = create_async_engine(postgres_url)
        async with owner.begin() as connection:
            await connection.execute(text("SELECT set_config('app.retention', 'on', true)"))
            await connection.execute(text("DELETE FROM organizations WHERE id = :id"), {"id": org.id})
        await owner.dispose()
