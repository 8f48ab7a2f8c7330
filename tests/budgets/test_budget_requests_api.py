"""Asking for more budget through the API, as the people involved would: refused, ask from the refusal,
an admin approves part, the same request is then admitted."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.auth.tokens import TokenSigner
from tests.support import factories
from tests.support import generation_world as gw
from tests.support.signin import bearer_for

PROMPT = "a lighthouse at dusk"


async def test_refused_ask_approve_part_and_the_same_request_is_admitted(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    poor = await gw.world(db, tokens, budget="0.08", role="standard_user")
    admin = await factories.colleague(db, poor.member, role="org_admin", same_department=False)
    finance = await factories.colleague(db, poor.member, role="finance", same_department=False)
    assert (
        await client.post("/v1/generations", json={"prompt": PROMPT}, headers=poor.headers)
    ).status_code == 202

    refused = await client.post("/v1/generations", json={"prompt": PROMPT}, headers=poor.headers)
    assert refused.status_code == 402
    problem = refused.json()
    assert problem["shortfall_aud"] == "0.02"
    asked = await client.post(
        problem["request_more_budget"],
        json={"amount_aud": "0.10", "reason": "client deadline", "refusal_id": problem["refusal_id"]},
        headers=poor.headers,
    )
    assert asked.status_code == 201, asked.text
    request_id = asked.json()["id"]
    again = await client.post(
        problem["request_more_budget"],
        json={"amount_aud": "0.10", "reason": "again", "refusal_id": problem["refusal_id"]},
        headers=poor.headers,
    )
    assert again.status_code == 409 and again.json()["open_request_id"] == request_id

    queue = (await client.get("/v1/budget-requests?status=open", headers=bearer_for(tokens, admin))).json()
    assert [item["id"] for item in queue["items"]] == [request_id]
    decision = {"decision": "approved", "amount_aud": "0.05", "reason": "half for now"}
    forbidden = await client.post(
        f"/v1/budget-requests/{request_id}/decision", json=decision, headers=bearer_for(tokens, finance)
    )
    approved = await client.post(
        f"/v1/budget-requests/{request_id}/decision", json=decision, headers=bearer_for(tokens, admin)
    )
    twice = await client.post(
        f"/v1/budget-requests/{request_id}/decision", json=decision, headers=bearer_for(tokens, admin)
    )

    assert forbidden.status_code == 403
    assert approved.status_code == 200, approved.text
    assert (approved.json()["status"], approved.json()["approved_amount_aud"]) == ("approved", "0.05")
    assert twice.status_code == 409
    budget = (
        await client.get(f"/v1/departments/{poor.department.id}/budget", headers=bearer_for(tokens, admin))
    ).json()
    assert (budget["monthly_budget_aud"], budget["period_top_up_aud"], budget["period_budget_aud"]) == (
        "0.08",
        "0.05",
        "0.13",
    )
    retried = await client.post("/v1/generations", json={"prompt": PROMPT}, headers=poor.headers)
    assert retried.status_code == 202, retried.text
    mine = (
        await client.get(f"/v1/departments/{poor.department.id}/budget/requests", headers=poor.headers)
    ).json()
    assert [item["status"] for item in mine["items"]] == ["approved"]
    assert mine["items"][0]["refusal_id"] == problem["refusal_id"]


async def test_another_tenants_request_and_department_are_not_found(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    here = await gw.world(db, tokens, budget="10.00", role="dept_manager")
    asked = await client.post(
        f"/v1/departments/{here.department.id}/budget/requests",
        json={"amount_aud": "5.00", "reason": "more", "scope": "permanent"},
        headers=here.headers,
    )
    assert asked.status_code == 201, asked.text
    elsewhere = await gw.world(db, tokens, budget="10.00", role="dept_manager")
    other_admin = await factories.colleague(db, elsewhere.member, role="org_admin", same_department=False)
    decision = {"decision": "declined", "reason": "not yours"}

    decided = await client.post(
        f"/v1/budget-requests/{asked.json()['id']}/decision",
        json=decision,
        headers=bearer_for(tokens, other_admin),
    )
    listed = await client.get(
        f"/v1/departments/{here.department.id}/budget/requests", headers=elsewhere.headers
    )
    poked = await client.post(
        f"/v1/departments/{here.department.id}/budget/requests",
        json={"amount_aud": "5.00", "reason": "x"},
        headers=elsewhere.headers,
    )

    assert (decided.status_code, listed.status_code, poked.status_code) == (404, 404, 404)


async def test_the_asker_reads_their_own_requests_and_the_answer(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    poor = await gw.world(db, tokens, budget="0.05", role="standard_user")
    admin = await factories.colleague(db, poor.member, role="org_admin", same_department=False)
    colleague = await factories.colleague(db, poor.member, role="standard_user")
    stranger = await gw.world(db, tokens, budget="1.00", role="standard_user")
    await client.post("/v1/generations", json={"prompt": PROMPT}, headers=poor.headers)
    problem = (await client.post("/v1/generations", json={"prompt": PROMPT}, headers=poor.headers)).json()
    asked = await client.post(
        problem["request_more_budget"],
        json={"amount_aud": "0.50", "reason": "pitch", "refusal_id": problem["refusal_id"]},
        headers=poor.headers,
    )
    request_id = asked.json()["id"]
    decision = {"decision": "declined", "reason": "Not this month"}
    await client.post(
        f"/v1/budget-requests/{request_id}/decision", json=decision, headers=bearer_for(tokens, admin)
    )

    mine = (await client.get("/v1/budget-requests/mine", headers=poor.headers)).json()["items"]
    assert [(item["id"], item["status"], item["decision_reason"]) for item in mine] == [
        (request_id, "declined", "Not this month")
    ]
    assert mine[0]["decided_by"] == str(admin.id)
    for other in (bearer_for(tokens, colleague), stranger.headers):  # nobody else's, no other tenant's
        assert (await client.get("/v1/budget-requests/mine", headers=other)).json()["items"] == []
    finance = await factories.colleague(db, poor.member, role="finance", same_department=False)
    assert (
        await client.get("/v1/budget-requests/mine", headers=bearer_for(tokens, finance))
    ).status_code == 403
