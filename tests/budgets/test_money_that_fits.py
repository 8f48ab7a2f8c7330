"""Money that a budget column could not hold is refused when it is asked for, with a 422 naming the most
this service holds — not accepted and then failing with a 500 when an admin approves it. The largest
raise that fits is asked, approved and stored to the cent; a correction that would take a period's spend
past its column is refused the same way."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.auth.tokens import TokenSigner
from donatello.core.money import BUDGET_COLUMN, SPEND_COLUMN
from tests.support import factories
from tests.support import generation_world as gw
from tests.support.ledger import admit, settle
from tests.support.signin import bearer_for

MAXIMUM = "9999999999.99"


def _refused_naming_the_maximum(response: httpx.Response, field: str) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert MAXIMUM in response.text and field in response.text


def test_the_declared_maximum_is_what_numeric_12_2_holds() -> None:
    assert BUDGET_COLUMN.maximum == Decimal(MAXIMUM)


@pytest.mark.parametrize("scope", ["this_period", "permanent"])
async def test_a_raise_the_budget_could_not_hold_is_refused_when_asked(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner, scope: str
) -> None:
    here = await gw.world(db, tokens, budget="10.00", role="dept_manager")
    asks = f"/v1/departments/{here.department.id}/budget/requests"
    too_much = await client.post(
        asks, json={"amount_aud": MAXIMUM, "reason": "everything", "scope": scope}, headers=here.headers
    )
    _refused_naming_the_maximum(too_much, "amount_aud")
    assert too_much.json()["maximum_aud"] == MAXIMUM
    beyond = await client.post(
        asks, json={"amount_aud": "10000000000.00", "reason": "more", "scope": scope}, headers=here.headers
    )
    _refused_naming_the_maximum(beyond, "amount_aud")

    # The largest raise that fits is asked for, approved and stored exactly.
    fits = str(Decimal(MAXIMUM) - Decimal("10.00"))
    asked = await client.post(
        asks, json={"amount_aud": fits, "reason": "all of it", "scope": scope}, headers=here.headers
    )
    assert asked.status_code == 201, asked.text
    admin = await factories.colleague(db, here.member, role="org_admin", same_department=False)
    approved = await client.post(
        f"/v1/budget-requests/{asked.json()['id']}/decision",
        json={"decision": "approved", "reason": "fine"},
        headers=bearer_for(tokens, admin),
    )
    assert approved.status_code == 200, approved.text
    budget = (
        await client.get(f"/v1/departments/{here.department.id}/budget", headers=bearer_for(tokens, admin))
    ).json()
    assert budget["period_budget_aud"] == MAXIMUM


async def test_an_approval_that_no_longer_fits_is_refused_not_a_500(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    here = await gw.world(db, tokens, budget="10.00", role="dept_manager")
    admin = await factories.colleague(db, here.member, role="org_admin", same_department=False)
    admin_headers = bearer_for(tokens, admin)
    asked = await client.post(
        f"/v1/departments/{here.department.id}/budget/requests",
        json={"amount_aud": "9000000000.00", "reason": "a lot", "scope": "permanent"},
        headers=here.headers,
    )
    assert asked.status_code == 201, asked.text
    # Meanwhile the admin raises the monthly budget itself: the request no longer fits.
    raised = await client.patch(
        f"/v1/departments/{here.department.id}/budget",
        json={"monthly_budget_aud": "2000000000.00"},
        headers=admin_headers,
    )
    assert raised.status_code == 200, raised.text
    approved = await client.post(
        f"/v1/budget-requests/{asked.json()['id']}/decision",
        json={"decision": "approved", "reason": "fine"},
        headers=admin_headers,
    )
    _refused_naming_the_maximum(approved, "amount_aud")
    still_open = await client.get("/v1/budget-requests?status=open", headers=admin_headers)
    assert [item["id"] for item in still_open.json()["items"]] == [asked.json()["id"]]


async def test_a_monthly_budget_that_would_overflow_with_this_periods_top_ups_is_refused(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    here = await gw.world(db, tokens, budget="10.00", role="dept_manager")
    admin = await factories.colleague(db, here.member, role="org_admin", same_department=False)
    admin_headers = bearer_for(tokens, admin)
    asked = await client.post(
        f"/v1/departments/{here.department.id}/budget/requests",
        json={"amount_aud": "100.00", "reason": "a top-up"},
        headers=here.headers,
    )
    await client.post(
        f"/v1/budget-requests/{asked.json()['id']}/decision",
        json={"decision": "approved", "reason": "fine"},
        headers=admin_headers,
    )
    for method, body in (
        ("PATCH", {"monthly_budget_aud": MAXIMUM}),
        ("PUT", {"monthly_budget_aud": MAXIMUM, "enforcement_mode": "hard"}),
    ):
        response = await client.request(
            method, f"/v1/departments/{here.department.id}/budget", json=body, headers=admin_headers
        )
        _refused_naming_the_maximum(response, "monthly_budget_aud")
    too_big = await client.patch(
        f"/v1/departments/{here.department.id}/budget",
        json={"monthly_budget_aud": "99999999999.00"},
        headers=admin_headers,
    )
    _refused_naming_the_maximum(too_big, "monthly_budget_aud")


async def test_a_correction_the_periods_spend_could_not_hold_is_refused_not_a_500(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    org = await factories.organization(db)
    dept = await factories.department(db, org)
    await factories.budget(db, dept, monthly_aud="100.00")
    admin = await factories.user(db, org, role="org_admin")
    member = await factories.user(db, org, role="power_user", department=dept)
    charge = await settle(db, await admit(db, member, "0.16"), "0.16")
    url = f"/v1/cost-events/{charge.id}/adjustments"
    headers = bearer_for(tokens, admin)
    huge = await client.post(
        url, json={"kind": "correction", "amount_aud": "9999999999.9999", "reason": "typo"}, headers=headers
    )
    assert huge.status_code == 422, huge.text
    assert huge.json()["maximum_aud"] == str(SPEND_COLUMN.maximum) == "99999999.9999"
    beyond = await client.post(
        url, json={"kind": "correction", "amount_aud": "99999999999.0000", "reason": "typo"}, headers=headers
    )
    assert beyond.status_code == 422, beyond.text
    fits = await client.post(
        url,
        json={"kind": "correction", "amount_aud": "99999999.8399", "reason": "the real figure"},
        headers=headers,
    )
    assert fits.status_code == 201, fits.text  # 0.16 + 99,999,999.8399 = the most the spend column holds
