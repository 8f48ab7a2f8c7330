"""The webhook registration API: secrets shown once and stored sealed, owners and admins, tenants apart,
targets checked, bad input refused as problem+json."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.auth.tokens import TokenSigner
from donatello.models import AuditOutbox, Webhook, WebhookDelivery
from donatello.sealing import looks_sealed
from tests.support import factories
from tests.support.signin import bearer_for

PUBLIC = "93.184.215.14"


@pytest.fixture
def dns(app: FastAPI) -> Iterator[dict[str, list[str]]]:
    """What names resolve to for the API (instead of real DNS)."""
    names: dict[str, list[str]] = {"hooks.example.com": [PUBLIC]}

    async def resolve(host: str, port: int) -> list[str]:
        if host not in names:
            raise OSError(host)
        return names[host]

    app.state.webhook_resolver = resolve
    yield names
    app.state.webhook_resolver = None


async def create(client: httpx.AsyncClient, headers: dict[str, str], **body: object) -> httpx.Response:
    payload = {"webhook_url": "https://hooks.example.com/donatello", "event_types": ["generation.completed"]}
    return await client.post("/v1/webhooks", json={**payload, **body}, headers=headers)


async def test_the_secret_is_shown_once_and_stored_sealed(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner, dns: dict[str, list[str]]
) -> None:
    org = await factories.organization(db)
    member = await factories.user(db, org, role="power_user")
    created = await create(client, bearer_for(tokens, member))
    assert created.status_code == 201, created.text
    secret = created.json()["secret"]
    assert secret.startswith("whsec_")
    hook_id = created.json()["id"]

    shown = await client.get(f"/v1/webhooks/{hook_id}", headers=bearer_for(tokens, member))
    assert shown.status_code == 200 and "secret" not in shown.json()
    row = (await db.execute(select(Webhook).where(Webhook.id == hook_id))).scalar_one()
    assert looks_sealed(row.secret_hash) and secret not in row.secret_hash

    rotated = await client.post(f"/v1/webhooks/{hook_id}/rotate-secret", headers=bearer_for(tokens, member))
    assert rotated.status_code == 200 and rotated.json()["secret"] not in (secret, None)
    events = (
        await db.execute(
            select(AuditOutbox).where(AuditOutbox.organization_id == org.id).order_by(AuditOutbox.id)
        )
    ).scalars()
    payloads = [event.payload for event in events]
    assert [p["event_type"] for p in payloads] == ["webhook.created", "webhook.secret_rotated"]
    assert all(secret not in str(p) for p in payloads)


async def test_update_ping_and_delete(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner, dns: dict[str, list[str]]
) -> None:
    org = await factories.organization(db)
    member = await factories.user(db, org, role="power_user")
    headers = bearer_for(tokens, member)
    hook_id = (await create(client, headers)).json()["id"]

    changed = await client.patch(
        f"/v1/webhooks/{hook_id}",
        json={"event_types": ["budget.exceeded", "generation.failed"], "is_active": False},
        headers=headers,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["event_types"] == ["budget.exceeded", "generation.failed"]
    assert (await client.post(f"/v1/webhooks/{hook_id}/ping", headers=headers)).status_code == 409
    await client.patch(f"/v1/webhooks/{hook_id}", json={"is_active": True}, headers=headers)
    pinged = await client.post(f"/v1/webhooks/{hook_id}/ping", headers=headers)
    assert pinged.status_code == 202
    delivery = await db.get(WebhookDelivery, pinged.json()["delivery_id"])
    assert delivery is not None and delivery.event_type == "webhook.ping" and delivery.status == "pending"

    assert (await client.delete(f"/v1/webhooks/{hook_id}", headers=headers)).status_code == 204
    assert (await client.get(f"/v1/webhooks/{hook_id}", headers=headers)).status_code == 404


async def test_owners_see_theirs_admins_see_the_organization_and_other_tenants_see_nothing(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner, dns: dict[str, list[str]]
) -> None:
    org = await factories.organization(db)
    alice = await factories.user(db, org, role="power_user")
    bob = await factories.user(db, org, role="power_user")
    admin = await factories.user(db, org, role="org_admin")
    outsider = await factories.user(db, await factories.organization(db), role="org_admin")
    hooks = [(await create(client, bearer_for(tokens, alice))).json()["id"] for _ in range(3)]
    bobs = (await create(client, bearer_for(tokens, bob))).json()["id"]

    for who, status in ((alice, 200), (admin, 200), (bob, 404), (outsider, 404)):
        assert (
            await client.get(f"/v1/webhooks/{hooks[0]}", headers=bearer_for(tokens, who))
        ).status_code == status
    for method in ("PATCH", "DELETE"):
        response = await client.request(
            method,
            f"/v1/webhooks/{hooks[0]}",
            json={"is_active": False} if method == "PATCH" else None,
            headers=bearer_for(tokens, outsider),
        )
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/problem+json")

    pages, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/v1/webhooks", params=params, headers=bearer_for(tokens, admin))).json()
        pages.append([item["id"] for item in page["items"]])
        if not (cursor := page["next_cursor"]):
            break
    assert sorted(i for p in pages for i in p) == sorted([*hooks, bobs]) and len(pages) == 2
    mine = (await client.get("/v1/webhooks", headers=bearer_for(tokens, alice))).json()["items"]
    assert sorted(item["id"] for item in mine) == sorted(hooks)
    assert (await client.get("/v1/webhooks", headers=bearer_for(tokens, outsider))).json()["items"] == []


async def test_standard_users_may_not_register_webhooks(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner, dns: dict[str, list[str]]
) -> None:
    org = await factories.organization(db)
    member = await factories.user(db, org, role="standard_user")
    refused = await create(client, bearer_for(tokens, member))
    assert refused.status_code == 403 and refused.json()["required_permission"] == "webhooks:own"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://127.0.0.1/hook", "loopback"),
        ("https://10.1.2.3/hook", "private"),
        ("https://[::1]:8443/hook", "loopback"),
        ("https://169.254.169.254/latest", "link-local"),
        ("https://[::ffff:192.168.0.1]/hook", "private"),
        ("https://224.0.0.1/hook", "multicast"),
        ("https://internal.example.com/hook", "private"),
        ("https://mixed.example.com/hook", "loopback"),
    ],
)
async def test_private_targets_are_refused_at_registration(
    client: httpx.AsyncClient,
    db: AsyncSession,
    tokens: TokenSigner,
    dns: dict[str, list[str]],
    url: str,
    reason: str,
) -> None:
    dns["internal.example.com"] = ["172.16.5.5"]
    dns["mixed.example.com"] = [PUBLIC, "127.0.0.2"]  # every address must be public, not just one
    org = await factories.organization(db)
    member = await factories.user(db, org, role="power_user")
    refused = await create(client, bearer_for(tokens, member), webhook_url=url)
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["type"].endswith("/webhook-target-not-allowed")
    assert refused.json()["reason"] == reason


@pytest.mark.parametrize(
    "body",
    [
        {"webhook_url": "http://hooks.example.com/plain"},
        {"webhook_url": "https://user:pw@hooks.example.com/x"},
        {"webhook_url": "not a url"},
        {"event_types": []},
        {"event_types": ["generation.exploded"]},
        {"event_types": ["webhook.ping"]},
        {"unexpected": True},
        {"webhook_url": "https://nowhere.example.com/x"},
    ],
)
async def test_bad_input_is_a_422_problem(
    client: httpx.AsyncClient,
    db: AsyncSession,
    tokens: TokenSigner,
    dns: dict[str, list[str]],
    body: dict[str, object],
) -> None:
    org = await factories.organization(db)
    member = await factories.user(db, org, role="power_user")
    refused = await create(client, bearer_for(tokens, member), **body)
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")


async def test_deliveries_show_where_each_stands_and_a_failed_one_can_be_sent_again(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner, dns: dict[str, list[str]]
) -> None:
    org = await factories.organization(db)
    member = await factories.user(db, org, role="power_user")
    headers = bearer_for(tokens, member)
    hook_id = (await create(client, headers)).json()["id"]
    delivery_id = (await client.post(f"/v1/webhooks/{hook_id}/ping", headers=headers)).json()["delivery_id"]

    pending = await client.get(f"/v1/webhooks/{hook_id}/deliveries", headers=headers)
    assert pending.status_code == 200, pending.text
    [listed] = pending.json()["items"]
    assert (listed["id"], listed["status"], listed["attempts"]) == (delivery_id, "pending", 0)
    assert listed["next_attempt_at"] is not None
    too_early = await client.post(
        f"/v1/webhooks/{hook_id}/deliveries/{delivery_id}/redeliver", headers=headers
    )
    assert too_early.status_code == 409

    row = await db.get(WebhookDelivery, delivery_id)
    assert row is not None
    row.status, row.attempts, row.last_status_code, row.last_error = "failed", 9, 503, "HTTP 503"
    await db.flush()
    failed = (await client.get(f"/v1/webhooks/{hook_id}/deliveries?status=failed", headers=headers)).json()
    [shown] = failed["items"]
    assert (shown["status"], shown["attempts"], shown["last_status_code"], shown["last_error"]) == (
        "failed",
        9,
        503,
        "HTTP 503",
    )
    assert shown["next_attempt_at"] is None

    again = await client.post(f"/v1/webhooks/{hook_id}/deliveries/{delivery_id}/redeliver", headers=headers)
    assert again.status_code == 202, again.text
    assert (again.json()["status"], again.json()["attempts"]) == ("pending", 0)
    await db.refresh(row)
    assert row.status == "pending"
    [event] = [
        e.payload
        for e in (
            await db.execute(select(AuditOutbox).where(AuditOutbox.organization_id == org.id))
        ).scalars()
        if e.event_type == "webhook.redelivered"
    ]
    assert event["metadata"]["delivery_id"] == delivery_id

    colleague = await factories.colleague(db, member, role="power_user")
    stranger = await factories.user(db, await factories.organization(db), role="org_admin")
    for outsider in (colleague, stranger):
        seen = await client.get(f"/v1/webhooks/{hook_id}/deliveries", headers=bearer_for(tokens, outsider))
        assert seen.status_code == 404
        resent = await client.post(
            f"/v1/webhooks/{hook_id}/deliveries/{delivery_id}/redeliver", headers=bearer_for(tokens, outsider)
        )
        assert resent.status_code == 404
    shown_hook = (await client.get(f"/v1/webhooks/{hook_id}", headers=headers)).json()
    assert shown_hook["max_retries"] == 8 and "retry_count" not in shown_hook
