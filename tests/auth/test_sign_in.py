"""Signing in with Microsoft Entra ID end to end: our login, the (loopback) IdP, msal, our callback."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.models import AuditOutbox, User
from tests.support import factories
from tests.support.idp import EntraUser, IdentityProvider
from tests.support.signin import bearer, callback, sign_in, start_and_authorize

ROLE_MAPPING = {
    "role_mapping": {"Images.Admin": "org_admin", "Images.Power": "power_user", "Platform": "super_admin"}
}


async def _events(db: AsyncSession, event_type: str, user_id: uuid.UUID) -> list[AuditOutbox]:
    stmt = (
        select(AuditOutbox)
        .where(AuditOutbox.event_type == event_type, AuditOutbox.user_id == user_id)
        .order_by(AuditOutbox.id)
    )
    return list((await db.execute(stmt)).scalars())


async def test_first_sign_in_provisions_the_user_and_the_token_works(
    client: httpx.AsyncClient, db: AsyncSession, idp: IdentityProvider
) -> None:
    tid = str(uuid.uuid4())
    org = await factories.organization(
        db,
        azure_tenant_id=tid,
        entra={**ROLE_MAPPING, "group_mapping": {"g-mktg": "MKTG"}},
        domain="example.com",
    )
    mktg = await factories.department(db, org, code="MKTG")
    who = EntraUser(
        tid=tid,
        preferred_username="Ada@Example.com",
        name="Ada",
        roles=["Images.Power"],
        groups=["g-x", "g-mktg"],
    )

    response = await sign_in(client, idp, who)

    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    tokens = response.json()
    me = await client.get("/v1/me", headers=bearer(tokens["access_token"]))
    assert me.status_code == 200
    described = me.json()
    grace = described["mfa"].pop("grace_period_expires_at")
    assert described["mfa"] == {
        "rule": "amr",
        "contexts": [],
        "this_sign_in": False,  # no amr: this sign-in did not prove MFA
        "mfa_enabled": False,
        "satisfied": True,  # the grace period, from this first sign-in
    }
    assert described | {"user_id": None, "mfa": None} == {
        "mfa": None,
        "user_id": None,
        "organization_id": str(org.id),
        "department_id": str(mktg.id),
        "role": "power_user",
        "email": "ada@example.com",
    }
    user = await db.get(User, uuid.UUID(me.json()["user_id"]))
    assert user is not None and user.azure_ad_id == who.oid
    assert user.mfa_enabled is False
    assert user.mfa_grace_period_expires_at == user.created_at + timedelta(days=7)
    assert grace is not None and datetime.fromisoformat(grace) == user.mfa_grace_period_expires_at
    assert len(await _events(db, "user.provisioned", user.id)) == 1
    [signed_in] = await _events(db, "auth.signed_in", user.id)
    assert signed_in.payload["metadata"]["first_sign_in"] is True


async def test_later_sign_ins_follow_entra_and_groups_overage_keeps_the_department(
    client: httpx.AsyncClient, db: AsyncSession, idp: IdentityProvider
) -> None:
    tid = str(uuid.uuid4())
    org = await factories.organization(
        db,
        azure_tenant_id=tid,
        entra={**ROLE_MAPPING, "group_mapping": {"g-eng": "ENGG"}},
        domain="example.com",
    )
    engg = await factories.department(db, org, code="ENGG")
    who = EntraUser(tid=tid, preferred_username="bob@example.com", name="Bob", groups=["g-eng"])
    assert (await sign_in(client, idp, who)).status_code == 200

    who.preferred_username, who.name, who.roles = "robert@example.com", "Robert", ["Images.Admin", "Platform"]
    who.groups, who.acrs = [f"g-{i}" for i in range(250)], ["c1"]
    again = await sign_in(client, idp, who)

    assert again.status_code == 200, again.text
    user = (await db.execute(select(User).where(User.azure_ad_id == who.oid))).scalar_one()
    await db.refresh(user)
    # The highest mapped role, but never super_admin from a tenant's mapping.
    assert (user.email, user.display_name, user.role) == ("robert@example.com", "Robert", "org_admin")
    assert user.department_id == engg.id  # groups not readable: department kept
    assert user.mfa_enabled is True  # the configured authentication context counts as MFA
    [changed] = await _events(db, "user.role_changed", user.id)
    assert changed.payload["metadata"]["changes"]["role"] == {"from": "standard_user", "to": "org_admin"}
    latest = (await _events(db, "auth.signed_in", user.id))[-1]
    assert latest.payload["metadata"]["groups_readable"] is False


async def test_a_user_signs_in_as_the_default_role_without_app_roles(
    client: httpx.AsyncClient, db: AsyncSession, idp: IdentityProvider
) -> None:
    tid = str(uuid.uuid4())
    await factories.organization(db, azure_tenant_id=tid, entra=ROLE_MAPPING, domain="example.com")
    response = await sign_in(client, idp, EntraUser(tid=tid, amr=["pwd", "mfa"]))
    me = (await client.get("/v1/me", headers=bearer(response.json()["access_token"]))).json()
    assert me["role"] == "standard_user"


async def test_unknown_suspended_tenants_and_deactivated_users_cannot_sign_in(
    client: httpx.AsyncClient, db: AsyncSession, idp: IdentityProvider
) -> None:
    stranger_tid = str(uuid.uuid4())
    stranger = await sign_in(client, idp, EntraUser(tid=stranger_tid))
    suspended_tid = str(uuid.uuid4())
    await factories.organization(db, azure_tenant_id=suspended_tid, is_active=False)
    suspended = await sign_in(client, idp, EntraUser(tid=suspended_tid))
    tid = str(uuid.uuid4())
    org = await factories.organization(db, azure_tenant_id=tid)
    leaver_oid = str(uuid.uuid4())
    await factories.user(db, org, is_active=False, azure_ad_id=leaver_oid)
    deactivated = await sign_in(client, idp, EntraUser(tid=tid, oid=leaver_oid))

    for response in (stranger, suspended, deactivated):
        assert response.status_code == 401, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert "access_token" not in response.text
    failures = (
        (
            await db.execute(
                select(AuditOutbox)
                .where(AuditOutbox.event_type == "auth.sign_in_failed")
                .order_by(AuditOutbox.id)
            )
        )
        .scalars()
        .all()
    )
    recorded = [(f.organization_id, f.payload["metadata"]["entra_tenant"]) for f in failures[-3:]]
    assert recorded == [(None, stranger_tid), (None, suspended_tid), (org.id, tid)]


async def test_a_callback_without_its_flow_cookie_or_with_a_forged_state_is_refused(
    client: httpx.AsyncClient, db: AsyncSession, idp: IdentityProvider
) -> None:
    tid = str(uuid.uuid4())
    await factories.organization(db, azure_tenant_id=tid, domain="example.com")
    cookie, form = await start_and_authorize(client, idp, EntraUser(tid=tid))

    no_cookie = await client.post("/v1/auth/callback", data=form)
    forged_state = await callback(client, cookie, {**form, "state": "attacker"})
    tampered_cookie = await callback(client, cookie[:-4] + "AAAA", form)

    assert [r.status_code for r in (no_cookie, forged_state, tampered_cookie)] == [401, 401, 401]
    assert (await callback(client, cookie, form)).status_code == 200  # the genuine callback still works


async def test_sign_in_keeps_working_when_the_idp_rotates_its_keys(
    client: httpx.AsyncClient, db: AsyncSession, idp: IdentityProvider
) -> None:
    tid = str(uuid.uuid4())
    await factories.organization(db, azure_tenant_id=tid, domain="example.com")
    who = EntraUser(tid=tid)
    assert (await sign_in(client, idp, who)).status_code == 200
    before = idp.jwks_requests

    idp.rotate_keys(keep_old=False)
    response = await sign_in(client, idp, who)

    assert response.status_code == 200, response.text
    assert idp.jwks_requests == before + 1  # the unknown kid made the backend refetch the JWKS once


async def test_a_sign_in_bringing_an_e_mail_another_account_uses_is_a_conflict_not_a_crash(
    client: httpx.AsyncClient, db: AsyncSession, idp: IdentityProvider
) -> None:
    tid = str(uuid.uuid4())
    org = await factories.organization(db, azure_tenant_id=tid, entra=ROLE_MAPPING, domain="example.com")
    colleague = await factories.user(db, org)
    elsewhere = await factories.user(db, await factories.organization(db))  # another tenant's account
    who = EntraUser(tid=tid, preferred_username="carol@example.com", name="Carol")
    assert (await sign_in(client, idp, who)).status_code == 200

    who.preferred_username = colleague.email
    clash = await sign_in(client, idp, who)
    assert clash.status_code == 409, clash.text
    assert clash.json()["field"] == "email"

    # Another tenant's address is at a domain this organization does not own: never taken on.
    who.preferred_username = elsewhere.email
    assert (await sign_in(client, idp, who)).status_code == 200
    user = (await db.execute(select(User).where(User.azure_ad_id == who.oid))).scalar_one()
    await db.refresh(user)
    assert user.email == "carol@example.com"
