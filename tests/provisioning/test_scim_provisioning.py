"""Entra ID's provisioning service, replayed against /scim/v2: a person is looked up, created, changed,
put in a mapped group, deprovisioned (access gone at once), reactivated (sign-in only), deleted, and
provisioned again as a new account that inherits nothing."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.models import ApiKey, AuditOutbox, User, Webhook
from tests.support import factories
from tests.support.idp import EntraUser, IdentityProvider
from tests.support.scim_helpers import SCIM, Entra, entra_user, provisioning_token
from tests.support.signin import bearer, sign_in


async def test_entra_provisioning_sequence_cuts_access_at_once_and_a_recreated_user_starts_clean(
    client: httpx.AsyncClient, db: AsyncSession, idp: IdentityProvider
) -> None:
    tid, oid, group_oid = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    org = await factories.organization(
        db,
        azure_tenant_id=tid,
        entra={
            "role_mapping": {"Images.Power": "power_user"},
            "group_mapping": {group_oid: "ENGG"},
            "department_mapping": {"Marketing & Comms": "MKTG"},
        },
    )
    mktg = await factories.department(db, org, code="MKTG")
    engg = await factories.department(db, org, code="ENGG")
    entra = Entra(client, await provisioning_token(db, org))
    user_name = f"ada.{uuid.uuid4().hex[:6]}@{org.domain}"

    # 1. Entra looks the person up before creating them.
    lookup = await entra.get("/Users", filter=f'userName eq "{user_name}"')
    assert lookup.status_code == 200 and lookup.headers["content-type"].startswith(SCIM)
    assert lookup.json()["totalResults"] == 0 and lookup.json().get("Resources", []) == []

    # 2. Create (with the extras Entra's default mappings send).
    created = await entra.post("/Users", entra_user(user_name, oid, department="Marketing & Comms"))
    assert created.status_code == 201, created.text
    scim_user = created.json()
    user_id = scim_user["id"]
    assert created.headers["location"].endswith(f"/scim/v2/Users/{user_id}")
    assert (
        scim_user["userName"] == user_name and scim_user["externalId"] == oid and scim_user["active"] is True
    )
    assert "title" not in scim_user and "phoneNumbers" not in scim_user
    account = await db.get(User, uuid.UUID(user_id))
    assert account is not None and account.department_id == mktg.id and account.role == "standard_user"
    found = await entra.get("/Users", filter=f'externalId eq "{oid}"')
    assert [item["id"] for item in found.json()["Resources"]] == [user_id]

    # 3. Attribute changes as Entra sends them: capitalised ops, value-filtered paths.
    changed = await entra.patch(
        f"/Users/{user_id}",
        {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "ada.l@example.com"},
        {"op": "Replace", "path": "name.familyName", "value": "King"},
        {"op": "Add", "path": "displayName", "value": "Ada King"},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["emails"][0]["value"] == "ada.l@example.com"
    assert changed.json()["name"]["familyName"] == "King" and changed.json()["displayName"] == "Ada King"

    # 4. A group the organization maps to a role (by name) and a department (by object id).
    group = await entra.post(
        "/Groups",
        {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "Images.Power",
            "externalId": group_oid,
        },
    )
    assert group.status_code == 201, group.text
    group_id = group.json()["id"]
    listed = await entra.get("/Groups", filter='displayName eq "Images.Power"', excludedAttributes="members")
    assert [item["id"] for item in listed.json()["Resources"]] == [group_id]
    added = await entra.patch(
        f"/Groups/{group_id}", {"op": "Add", "path": "members", "value": [{"value": user_id}]}
    )
    assert added.status_code == 200, added.text
    await db.refresh(account)
    assert account.role == "power_user" and account.department_id == engg.id

    # The person signs in (matched by object id), gets a session, an API key, a webhook.
    signed_in = await sign_in(client, idp, EntraUser(tid=tid, oid=oid, preferred_username=user_name))
    assert signed_in.status_code == 200, signed_in.text
    pair = signed_in.json()
    assert (await client.get("/v1/me", headers=bearer(pair["access_token"]))).json()["user_id"] == user_id
    key = await client.post(
        "/v1/api-keys",
        json={"name": "ci", "scopes": ["generations:create"]},
        headers=bearer(pair["access_token"]),
    )
    assert key.status_code == 201, key.text
    api_key = key.json()["key"]
    assert (await client.get("/v1/me", headers=bearer(api_key))).status_code == 200
    hook = Webhook(
        organization_id=org.id, user_id=account.id, webhook_url="https://hooks.example.com/x", secret_hash="s"
    )
    db.add(hook)
    await db.flush()

    # 5. Deprovisioned: Entra sends active as the string "False". Access ends with this response.
    off = await entra.patch(f"/Users/{user_id}", {"op": "Replace", "path": "active", "value": "False"})
    assert off.status_code == 200 and off.json()["active"] is False
    assert (await client.get("/v1/me", headers=bearer(pair["access_token"]))).status_code == 401
    assert (await client.get("/v1/me", headers=bearer(api_key))).status_code == 401
    refreshed = await client.post("/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert refreshed.status_code == 401
    await db.refresh(hook)
    assert hook.is_active is False
    refused = await sign_in(client, idp, EntraUser(tid=tid, oid=oid, preferred_username=user_name))
    assert refused.status_code == 401

    # 6. Reactivated: sign-in works again; the revoked key and sessions stay revoked.
    on = await entra.patch(f"/Users/{user_id}", {"op": "replace", "value": {"active": True}})
    assert on.status_code == 200 and on.json()["active"] is True
    assert (await client.get("/v1/me", headers=bearer(api_key))).status_code == 401
    assert (
        await client.post("/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    ).status_code == 401
    again = await sign_in(client, idp, EntraUser(tid=tid, oid=oid, preferred_username=user_name))
    assert again.status_code == 200, again.text

    # 7. Deleted: gone from SCIM, the new session is refused too.
    deleted = await entra.delete(f"/Users/{user_id}")
    assert deleted.status_code == 204
    assert (await entra.get(f"/Users/{user_id}")).status_code == 404
    assert (await entra.get("/Users", filter=f'userName eq "{user_name}"')).json()["totalResults"] == 0
    assert (await client.get("/v1/me", headers=bearer(again.json()["access_token"]))).status_code == 401

    # 8. Provisioned again: a new account, none of the old keys or sessions.
    recreated = await entra.post("/Users", entra_user(user_name, oid))
    assert recreated.status_code == 201, recreated.text
    new_id = recreated.json()["id"]
    assert new_id != user_id
    assert (await client.get("/v1/me", headers=bearer(api_key))).status_code == 401
    keys = (await db.execute(select(ApiKey).where(ApiKey.user_id == uuid.UUID(new_id)))).scalars().all()
    assert keys == []
    fresh = await sign_in(client, idp, EntraUser(tid=tid, oid=oid, preferred_username=user_name))
    assert fresh.status_code == 200
    assert (await client.get("/v1/me", headers=bearer(fresh.json()["access_token"]))).json()[
        "user_id"
    ] == new_id

    # Every provisioning change names the token as its actor.
    events = (
        await db.execute(
            select(AuditOutbox.event_type, AuditOutbox.payload).where(AuditOutbox.organization_id == org.id)
        )
    ).all()
    by_token = {
        event for event, payload in events if payload["metadata"].get("actor") == "provisioning_token"
    }
    assert {
        "user.created",
        "user.updated",
        "user.deactivated",
        "user.reactivated",
        "user.deleted",
        "scim_group.created",
        "scim_group.updated",
        "user.role_changed",
    } <= by_token
    deactivation = next(p for e, p in events if e == "user.deactivated")
    assert (
        deactivation["metadata"]["api_keys_revoked"] == 1
        and deactivation["metadata"]["webhooks_disabled"] == 1
    )
    assert deactivation["user_id"] == "system"
