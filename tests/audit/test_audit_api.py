"""Org admins read their organization's audit log (newest first, filtered, page by page); staff read their
own events; nobody sees another tenant's. The same API reads Cosmos DB when it is configured."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from donatello.auth.tokens import TokenSigner
from donatello.config import Settings
from donatello.main import create_app
from donatello.models import AuditOutbox
from tests.support import factories
from tests.support.audit_helpers import record_events, relay_in_test, store_for
from tests.support.savepoints import sessions_in
from tests.support.signin import bearer_for


async def _all_pages(
    client: httpx.AsyncClient, url: str, headers: dict[str, str], **params: Any
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        response = await client.get(
            url, params={**params, **({"cursor": cursor} if cursor else {})}, headers=headers
        )
        assert response.status_code == 200, response.text
        items += response.json()["items"]
        if not (cursor := response.json()["next_cursor"]):
            return items


async def _story(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner, relay_store: Any = None
) -> None:
    org, other = await factories.organization(db), await factories.organization(db)
    admin = await factories.user(db, org, role="org_admin")
    staff = await factories.user(db, org, role="standard_user")
    stranger = await factories.user(db, other, role="org_admin")
    mine = await record_events(db, org.id, 3, user_id=staff.id, event_type="generation.requested")
    theirs = await record_events(
        db, org.id, 4, user_id=admin.id, event_type="department.updated", status="failure"
    )
    await record_events(db, other.id, 2, user_id=stranger.id)
    if relay_store is not None:
        await (await relay_in_test(db, relay_store)).drain()

    everything = await _all_pages(client, "/v1/audit-events", bearer_for(tokens, admin), limit=2)
    assert [e["id"] for e in everything] == [str(i) for i in reversed(mine + theirs)]  # newest first
    assert {e["organization_id"] for e in everything} == {str(org.id)}

    by_user = await _all_pages(
        client, "/v1/audit-events", bearer_for(tokens, admin), user_id=str(staff.id), limit=2
    )
    assert [e["id"] for e in by_user] == [str(i) for i in reversed(mine)]
    failures = await _all_pages(client, "/v1/audit-events", bearer_for(tokens, admin), status="failure")
    assert len(failures) == 4
    typed = await _all_pages(
        client, "/v1/audit-events", bearer_for(tokens, admin), event_type="generation.requested"
    )
    assert len(typed) == 3
    resource = await _all_pages(
        client, "/v1/audit-events", bearer_for(tokens, admin), resource_id="thing-1", resource_type="thing"
    )
    assert len(resource) == 2
    window = await _all_pages(
        client,
        "/v1/audit-events",
        bearer_for(tokens, admin),
        **{"from": everything[3]["timestamp"], "to": everything[1]["timestamp"]},
    )
    assert [e["id"] for e in window] == [everything[2]["id"], everything[3]["id"]]

    own = await _all_pages(client, "/v1/audit-events/me", bearer_for(tokens, staff))
    assert [e["id"] for e in own] == [str(i) for i in reversed(mine)]
    assert (await client.get("/v1/audit-events", headers=bearer_for(tokens, staff))).status_code == 403

    stranger_view = await _all_pages(client, "/v1/audit-events", bearer_for(tokens, stranger))
    assert str(org.id) not in {e["organization_id"] for e in stranger_view}
    peek = await client.get(
        "/v1/audit-events", params={"organization_id": str(org.id)}, headers=bearer_for(tokens, stranger)
    )
    assert peek.status_code == 404


async def test_admins_page_through_their_own_organizations_log_from_the_outbox(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    await _story(client, db, tokens)


@pytest.fixture
async def cosmos_client(
    settings: Settings, cosmos_settings: Settings, engine: AsyncEngine, db: AsyncSession
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = create_app(cosmos_settings, engine=engine)
    async with app.router.lifespan_context(app):
        app.state.sessionmaker = sessions_in(await db.connection())
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield app, http


async def test_the_same_api_reads_cosmos_when_configured(
    cosmos_client: tuple[FastAPI, httpx.AsyncClient], db: AsyncSession, cosmos_settings: Settings
) -> None:
    app, client = cosmos_client
    async with store_for(cosmos_settings) as store:
        await _story(client, db, app.state.token_signer, relay_store=store)
    ready = (await client.get("/health/ready")).json()
    assert ready["checks"]["cosmos"]["status"] == "ok"
    assert ready["checks"]["audit_relay"]["undelivered"] == 0


async def test_ready_reports_relay_lag(client: httpx.AsyncClient, db: AsyncSession) -> None:
    await (await relay_in_test(db)).drain()  # what other tests left undelivered (in this transaction)
    lag = (await client.get("/health/ready")).json()["checks"]["audit_relay"]
    assert (lag["undelivered"], lag["oldest_undelivered_age_s"]) == (0, None)

    org = await factories.organization(db)
    await record_events(db, org.id, 2)
    oldest = await db.scalar(
        select(func.min(AuditOutbox.created_at)).where(AuditOutbox.delivered_at.is_(None))
    )
    before = await db.scalar(select(func.clock_timestamp()))
    lag = (await client.get("/health/ready")).json()["checks"]["audit_relay"]
    after = await db.scalar(select(func.clock_timestamp()))
    assert oldest is not None and before is not None and after is not None
    assert lag["undelivered"] == 2
    # the oldest event's age when the check ran, to the millisecond it is rounded to
    assert (before - oldest).total_seconds() - 0.0005 <= lag["oldest_undelivered_age_s"]
    assert lag["oldest_undelivered_age_s"] <= (after - oldest).total_seconds() + 0.0005

    await (await relay_in_test(db)).drain()
    lag = (await client.get("/health/ready")).json()["checks"]["audit_relay"]
    assert (lag["undelivered"], lag["oldest_undelivered_age_s"]) == (0, None)
