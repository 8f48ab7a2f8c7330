"""Budgets through the API: who may see and change what, and how mistakes are answered."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.auth.tokens import TokenSigner
from donatello.models import AuditOutbox, Department, Organization, User
from tests.support import factories
from tests.support.ledger import admit, settle
from tests.support.signin import bearer_for


async def _department_with_staff(db: AsyncSession) -> tuple[Organization, Department, dict[str, User]]:
    org = await factories.organization(db)
    dept = await factories.department(db, org, code="MKTG")
    await factories.budget(db, dept, monthly_aud="500.00", period=(date(2026, 8, 1), date(2026, 8, 31)))
    staff = {
        role: await factories.user(db, org, role=role, department=dept)
        for role in ("org_admin", "finance", "dept_manager", "power_user", "standard_user")
    }
    return org, dept, staff


async def test_who_may_read_a_departments_budget(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    org, dept, staff = await _department_with_staff(db)
    other_dept = await factories.department(db, org)
    staff["other_manager"] = await factories.user(db, org, role="dept_manager", department=other_dept)
    outsider = await factories.user(db, await factories.organization(db), role="org_admin")

    expected = {
        "org_admin": 200,
        "finance": 200,
        "dept_manager": 200,
        "power_user": 403,
        "standard_user": 403,
        "other_manager": 403,
    }
    for who, status in expected.items():
        response = await client.get(
            f"/v1/departments/{dept.id}/budget", headers=bearer_for(tokens, staff[who])
        )
        assert response.status_code == status, who
    hidden = await client.get(f"/v1/departments/{dept.id}/budget", headers=bearer_for(tokens, outsider))
    assert hidden.status_code == 404


async def test_status_reports_money_as_exact_strings(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    _, dept, staff = await _department_with_staff(db)
    await settle(db, await admit(db, staff["power_user"], "12.3456"), "12.3456")
    await admit(db, staff["standard_user"], "0.0800")

    body = (
        await client.get(
            f"/v1/departments/{dept.id}/budget", headers=bearer_for(tokens, staff["dept_manager"])
        )
    ).json()

    assert body["monthly_budget_aud"] == "500.00"
    assert body["spent_aud"] == "12.3456"
    assert body["reserved_aud"] == "0.0800"
    assert Decimal(body["available_aud"]) == Decimal("500.00") - Decimal("12.3456") - Decimal("0.08")
    assert body["utilization_percent"] == "2.49"
    assert body["timezone"] == "Australia/Sydney"


async def test_org_admin_sets_a_budget_and_a_manager_may_only_tune_alerts_and_caps(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    org, _, staff = await _department_with_staff(db)
    fresh = await factories.department(db, org)

    created = await client.put(
        f"/v1/departments/{fresh.id}/budget",
        json={"monthly_budget_aud": "750.00", "enforcement_mode": "soft"},
        headers=bearer_for(tokens, staff["org_admin"]),
    )
    assert created.status_code == 200, created.text
    assert (created.json()["monthly_budget_aud"], created.json()["enforcement_mode"]) == ("750.00", "soft")

    manager = staff["dept_manager"]
    own = manager.department_id
    tuned = await client.patch(
        f"/v1/departments/{own}/budget",
        json={"alert_thresholds": [90, 25], "per_user_monthly_cap_aud": "40.00"},
        headers=bearer_for(tokens, manager),
    )
    assert tuned.status_code == 200
    assert tuned.json()["alert_thresholds"] == [25, 90]
    raised = await client.patch(
        f"/v1/departments/{own}/budget",
        json={"monthly_budget_aud": "9999.00"},
        headers=bearer_for(tokens, manager),
    )
    assert raised.status_code == 403
    assert raised.json()["fields"] == ["monthly_budget_aud"]
    for role in ("power_user", "finance"):
        put = await client.put(
            f"/v1/departments/{own}/budget",
            json={"monthly_budget_aud": "1.00"},
            headers=bearer_for(tokens, staff[role]),
        )
        assert put.status_code == 403


async def test_bad_budget_input_is_a_422_naming_the_field(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    _, dept, staff = await _department_with_staff(db)
    admin = bearer_for(tokens, staff["org_admin"])
    cases = {
        "body.monthly_budget_aud": {"monthly_budget_aud": "-1.00"},
        "body.enforcement_mode": {"monthly_budget_aud": "1.00", "enforcement_mode": "strict"},
        "body.alert_thresholds": {"monthly_budget_aud": "1.00", "alert_thresholds": [0]},
    }
    for field, body in cases.items():
        response = await client.put(f"/v1/departments/{dept.id}/budget", json=body, headers=admin)
        assert response.status_code == 422, body
        assert field in {error["field"] for error in response.json()["errors"]}
    cents = await client.put(
        f"/v1/departments/{dept.id}/budget", json={"monthly_budget_aud": "1.001"}, headers=admin
    )
    assert cents.status_code == 422


async def test_refunds_through_the_api(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    _, dept, staff = await _department_with_staff(db)
    charge = await settle(db, await admit(db, staff["power_user"], "0.16"), "0.16")
    url = f"/v1/cost-events/{charge.id}/adjustments"

    refund = await client.post(
        url,
        json={"kind": "refund", "amount_aud": "0.16", "reason": "unusable"},
        headers=bearer_for(tokens, staff["org_admin"]),
    )
    again = await client.post(
        url,
        json={"kind": "refund", "amount_aud": "0.01", "reason": "twice"},
        headers=bearer_for(tokens, staff["org_admin"]),
    )
    by_finance = await client.post(
        url,
        json={"kind": "refund", "amount_aud": "0.01", "reason": "x"},
        headers=bearer_for(tokens, staff["finance"]),
    )

    assert refund.status_code == 201
    assert (refund.json()["actual_cost_aud"], refund.json()["corrects_event_id"]) == (
        "-0.1600",
        str(charge.id),
    )
    assert again.status_code == 422 and again.json()["type"].endswith("/invalid-adjustment")
    assert by_finance.status_code == 403
    status = (
        await client.get(f"/v1/departments/{dept.id}/budget", headers=bearer_for(tokens, staff["org_admin"]))
    ).json()
    assert status["spent_aud"] == "0.0000"


async def test_closed_periods_are_listed_newest_first(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    _, dept, staff = await _department_with_staff(db)
    response = await client.get(
        f"/v1/departments/{dept.id}/budget/periods", headers=bearer_for(tokens, staff["finance"])
    )
    assert response.status_code == 200
    assert response.json() == {"items": [], "next_cursor": None}


async def test_a_budget_change_rearms_or_fires_thresholds_so_crossed_matches_spend(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    org, dept, staff = await _department_with_staff(db)
    await settle(db, await admit(db, staff["power_user"], "0.15"), "0.15")
    headers = bearer_for(tokens, staff["org_admin"])
    budget = f"/v1/departments/{dept.id}/budget"

    async def put(amount: str, thresholds: list[int]) -> dict[str, object]:
        body = {"monthly_budget_aud": amount, "enforcement_mode": "hard", "alert_thresholds": thresholds}
        response = await client.put(budget, json=body, headers=headers)
        assert response.status_code == 200, response.text
        return dict(response.json())

    tight = await put("0.20", [50, 80, 100])  # 75 % spent: 50 % is reached, and fires now
    roomy = await put("5000.00", [75, 90, 100])  # 0 %: nothing is reached any more
    tight_again = await put("0.20", [75, 90, 100])  # 75 % again: fires again, once

    assert tight["thresholds_crossed"] == [50]
    assert roomy["thresholds_crossed"] == [] and roomy["alert_thresholds"] == [75, 90, 100]
    assert tight_again["thresholds_crossed"] == [75]
    fired = [
        (e.payload["metadata"]["threshold_percent"], e.payload["metadata"]["budget_aud"])
        for e in (
            await db.execute(
                select(AuditOutbox)
                .where(
                    AuditOutbox.organization_id == org.id,
                    AuditOutbox.event_type == "budget.threshold_crossed",
                )
                .order_by(AuditOutbox.id)
            )
        ).scalars()
    ]
    assert fired == [(50, "0.20"), (75, "0.20")]
