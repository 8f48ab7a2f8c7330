"""MFA that works with real Entra tenants: a person provisioned ahead by SCIM gets the 7-day grace period at
their first sign-in (Entra v2 tokens carry no ``amr``), and the organization declares how a sign-in proves
MFA — the ``amr`` claim, its Conditional Access (trust the identity provider), or authentication contexts
in ``acrs``. Each sign-in is judged by the rule; ``/v1/me`` says which rule applies and how it stands."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.auth.tokens import TokenSigner
from donatello.models import AuditOutbox, User
from tests.support import factories
from tests.support import generation_world as gw
from tests.support.idp import EntraUser, IdentityProvider
from tests.support.scim_helpers import Entra, entra_user, provisioning_token
from tests.support.signin import bearer, bearer_for, sign_in


async def test_a_scim_provisioned_person_generates_in_grace_and_then_as_the_organizations_rule_says(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner, idp: IdentityProvider
) -> None:
    world = await gw.world(db, tokens)
    tid, oid = str(uuid.uuid4()), str(uuid.uuid4())
    world.org.azure_tenant_id = tid
    await db.flush()
    admin = await factories.user(db, world.org, role="org_admin")
    entra = Entra(client, await provisioning_token(db, world.org))
    email = f"new.starter@{world.org.domain}"
    created = await entra.post("/Users", entra_user(email, oid, department=world.department.code))
    assert created.status_code == 201, created.text
    person = EntraUser(tid=tid, oid=oid, preferred_username=email)  # a v2 token: no amr, no acrs
    body = {"prompt": "a quiet harbour", "model": f"local/{world.local.model_name}"}

    async def generate(who: EntraUser) -> tuple[httpx.Response, dict[str, object]]:
        signed_in = await sign_in(client, idp, who)
        assert signed_in.status_code == 200, signed_in.text
        auth = bearer(signed_in.json()["access_token"])
        me = (await client.get("/v1/me", headers=auth)).json()["mfa"]
        return await client.post("/v1/generations", json=body, headers=auth), me

    # First sign-in, no MFA claim: the grace period starts now, so the person can generate.
    first, me = await generate(person)
    assert first.status_code == 202, first.text
    assert (me["rule"], me["this_sign_in"], me["satisfied"]) == ("amr", False, True)
    account = (await db.execute(select(User).where(User.azure_ad_id == oid))).scalar_one()
    await db.refresh(account)
    assert account.mfa_grace_period_expires_at is not None
    assert account.mfa_grace_period_expires_at - datetime.now(UTC) > timedelta(days=6, hours=23)

    # The grace period over: a sign-in without MFA under the amr rule may not generate.
    await db.execute(
        update(User).where(User.id == account.id).values(mfa_grace_period_expires_at=datetime.now(UTC))
    )
    late, me = await generate(person)
    assert late.status_code == 403 and late.json()["type"].endswith("/mfa-required")
    assert me["satisfied"] is False

    # The organization's Conditional Access requires MFA through authentication context c1.
    rule = await client.put(
        f"/v1/organizations/{world.org.id}/mfa",
        json={"rule": "authentication-context", "contexts": ["c1"]},
        headers=bearer_for(tokens, admin),
    )
    assert rule.status_code == 200, rule.text
    person.acrs = ["c1"]
    with_context, me = await generate(person)
    assert with_context.status_code == 202, with_context.text
    assert me == {
        "rule": "authentication-context",
        "contexts": ["c1"],
        "this_sign_in": True,
        "mfa_enabled": True,
        "grace_period_expires_at": me["grace_period_expires_at"],
        "satisfied": True,
    }
    person.acrs = ["c2"]
    without_context, me = await generate(person)
    assert without_context.status_code == 403 and without_context.json()["type"].endswith("/mfa-required")
    assert (me["this_sign_in"], me["satisfied"]) == (False, False)

    # Trusting Entra's Conditional Access: every sign-in that reaches us passed it.
    person.acrs = None
    trusted = await client.put(
        f"/v1/organizations/{world.org.id}/mfa",
        json={"rule": "conditional-access"},
        headers=bearer_for(tokens, admin),
    )
    assert trusted.status_code == 200, trusted.text
    plain, me = await generate(person)
    assert plain.status_code == 202, plain.text
    assert (me["rule"], me["this_sign_in"]) == ("conditional-access", True)

    changes = (
        (
            await db.execute(
                select(AuditOutbox).where(
                    AuditOutbox.organization_id == world.org.id,
                    AuditOutbox.event_type == "organization.mfa_rule_changed",
                )
            )
        )
        .scalars()
        .all()
    )
    assert [c.payload["metadata"]["changes"]["mfa"]["to"]["rule"] for c in changes] == [
        "authentication-context",
        "conditional-access",
    ]


async def test_only_the_organizations_admin_sets_its_rule_and_a_rule_must_make_sense(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    org, other = await factories.organization(db), await factories.organization(db)
    admin = await factories.user(db, org, role="org_admin")
    member = await factories.user(db, org, role="power_user")
    as_admin = bearer_for(tokens, admin)

    assert (await client.get(f"/v1/organizations/{org.id}/mfa", headers=as_admin)).json() == {
        "rule": "amr",
        "contexts": [],
    }
    for wrong in (
        {"rule": "authentication-context"},
        {"rule": "authentication-context", "contexts": ["mfa"]},
        {"rule": "amr", "contexts": ["c1"]},
        {"rule": "sms"},
    ):
        response = await client.put(f"/v1/organizations/{org.id}/mfa", json=wrong, headers=as_admin)
        assert response.status_code == 422, wrong
    elsewhere = await client.put(
        f"/v1/organizations/{other.id}/mfa", json={"rule": "conditional-access"}, headers=as_admin
    )
    assert elsewhere.status_code == 404
    staff = await client.put(
        f"/v1/organizations/{org.id}/mfa",
        json={"rule": "conditional-access"},
        headers=bearer_for(tokens, member),
    )
    assert staff.status_code == 403
    await db.refresh(org)
    await db.refresh(other)
    assert "mfa" not in org.settings and "mfa" not in other.settings
