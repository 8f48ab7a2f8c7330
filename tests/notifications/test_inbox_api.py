"""The inbox API: one's own notifications only — another person's or another tenant's is absent from
the list and 404 to mark read."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from donatello.auth.tokens import TokenSigner
from tests.support import factories
from tests.support.budget_request_story import REASON, ask_and_decide, department, drain
from tests.support.signin import bearer_for


async def test_a_person_sees_and_marks_only_their_own_notifications(
    client: httpx.AsyncClient,
    db: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
    tokens: TokenSigner,
) -> None:
    manager, admin = await department(db)
    colleague = await factories.colleague(db, manager, role="dept_manager")
    other_org = await factories.organization(db)
    stranger = await factories.user(db, other_org, role="org_admin")
    await ask_and_decide(db, manager, admin, approve="0.30")
    await drain(sessions)

    mine = await client.get("/v1/me/notifications", headers=bearer_for(tokens, manager))
    assert mine.status_code == 200
    body = mine.json()
    assert body["unread"] == 1
    [item] = body["items"]
    assert item["kind"] == "budget_request_decided" and REASON in item["body"]
    assert item["title"] == "A$0.30 of A$0.50 approved" and item["read_at"] is None

    for outsider in (colleague, stranger):
        listed = await client.get("/v1/me/notifications", headers=bearer_for(tokens, outsider))
        assert listed.status_code == 200 and item["id"] not in {n["id"] for n in listed.json()["items"]}
        marked = await client.post(
            f"/v1/me/notifications/{item['id']}/read", headers=bearer_for(tokens, outsider)
        )
        assert marked.status_code == 404
        assert marked.headers["content-type"].startswith("application/problem+json")

    read = await client.post(f"/v1/me/notifications/{item['id']}/read", headers=bearer_for(tokens, manager))
    assert read.status_code == 200 and read.json()["read_at"] is not None
    after = await client.get("/v1/me/notifications", headers=bearer_for(tokens, manager))
    assert after.json()["unread"] == 0


async def test_read_all_marks_only_ones_own_and_a_bad_cursor_is_a_clear_422(
    client: httpx.AsyncClient,
    db: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
    tokens: TokenSigner,
) -> None:
    manager, admin = await department(db)
    await ask_and_decide(db, manager, admin, approve=None)
    await drain(sessions)

    by_admin = await client.post("/v1/me/notifications/read-all", headers=bearer_for(tokens, admin))
    assert by_admin.json() == {"marked": 1}  # the admin's own "request waiting" only
    listed = await client.get("/v1/me/notifications", headers=bearer_for(tokens, manager))
    assert listed.json()["unread"] == 1

    paged = await client.get("/v1/me/notifications?limit=1", headers=bearer_for(tokens, manager))
    assert len(paged.json()["items"]) == 1 and paged.json()["next_cursor"] is None
    bad = await client.get("/v1/me/notifications?cursor=%%%", headers=bearer_for(tokens, manager))
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")
