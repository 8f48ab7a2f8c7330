"""Property: with two tenants holding random data, nothing one tenant's staff call returns, counts or
changes a row of the other tenant — other tenants' resources are 404, never 403."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import TypedDict

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.auth.tokens import TokenSigner
from donatello.budgets import increase_requests
from donatello.budgets.schemas import IncreaseRequestCreate
from donatello.models import (
    ApiKey,
    CostEvent,
    Department,
    DepartmentBudget,
    ExportJob,
    ExportSchedule,
    Generation,
    GenerationBatch,
    Notification,
    Organization,
    Reconciliation,
    User,
    UserPreference,
    UserSession,
    Webhook,
    WebhookDelivery,
)
from tests.support import factories
from tests.support.ledger import admit, principal_of, settle
from tests.support.signin import bearer

ROLES = st.sampled_from(["org_admin", "dept_manager", "power_user", "standard_user", "finance"])
TENANT = st.fixed_dictionaries(
    {
        "departments": st.integers(min_value=1, max_value=3),
        "roles": st.lists(ROLES, min_size=1, max_size=4),
        "keys": st.integers(min_value=0, max_value=2),
        "preferences": st.dictionaries(
            st.from_regex(r"[a-z]{1,8}", fullmatch=True), st.integers(), max_size=2
        ),
    }
)


class TenantShape(TypedDict):
    """One drawing of ``TENANT``."""

    departments: int
    roles: list[str]
    keys: int
    preferences: dict[str, int]


async def _populate(db: AsyncSession, tokens: TokenSigner, shape: TenantShape) -> dict[str, list[str]]:
    org = await factories.organization(db)
    departments = [await factories.department(db, org) for _ in range(shape["departments"])]
    members = [
        await factories.user(db, org, role=role, department=departments[i % len(departments)])
        for i, role in enumerate(["org_admin", *shape["roles"]])
    ]
    ids: dict[str, list[str]] = {"org": [str(org.id)], "departments": [str(d.id) for d in departments]}
    ids["users"] = [str(m.id) for m in members]
    ids["keys"], ids["sessions"] = [], []
    for i in range(shape["keys"]):
        key = ApiKey(
            organization_id=org.id,
            user_id=members[0].id,
            key_name=f"k{i}",
            key_hash=uuid.uuid4().hex,
            key_prefix="dnt_x",
        )
        db.add(key)
        await db.flush()
        ids["keys"].append(str(key.id))
    row = UserSession(
        organization_id=org.id,
        user_id=members[0].id,
        family_id=uuid.uuid4(),
        refresh_token_hash=uuid.uuid4().hex,
        expires_at=datetime.now(UTC) + timedelta(days=1),
    )
    db.add(row)
    for key_name, value in shape["preferences"].items():
        db.add(
            UserPreference(
                organization_id=org.id, user_id=members[0].id, preference_key=key_name, preference_value=value
            )
        )
    await db.flush()
    ids["sessions"].append(str(row.id))
    ids["tokens"] = [tokens.issue(m.id, org.id) for m in members]
    # money and work: a budget, a settled generation (its charge), a pending one in a batch
    await factories.budget(db, departments[0], monthly_aud="100.00")
    spender = await factories.user(db, org, role="power_user", department=departments[0])
    charge = await settle(db, await admit(db, spender, "0.50"), "0.50")
    held = await admit(db, spender, "0.25")
    batch = GenerationBatch(
        organization_id=org.id,
        user_id=spender.id,
        department_id=departments[0].id,
        request_fingerprint="0" * 64,
        total=1,
    )
    db.add(batch)
    await db.flush()
    ids["generations"] = [str(charge.generation_id), str(held.holds[0].generation_id)]
    manager = await factories.user(db, org, role="dept_manager", department=departments[0])
    asked = await increase_requests.ask(
        db, principal_of(manager), departments[0].id, IncreaseRequestCreate(amount_aud=Decimal(5), reason="x")
    )
    ids["budget_requests"] = [str(asked.id)]
    ids["cost_events"] = [str(charge.id)]
    ids["batches"] = [str(batch.id)]
    export = ExportJob(
        organization_id=org.id,
        requested_by=members[0].id,
        range_from=datetime(2026, 1, 1, tzinfo=UTC),
        range_to=datetime(2026, 2, 1, tzinfo=UTC),
        format="csv",
    )
    db.add(export)
    await db.flush()
    ids["exports"] = [str(export.id)]
    schedule = ExportSchedule(
        organization_id=org.id,
        name="drop",
        format="csv",
        daily_at=time(2, 0),
        daily=True,
        month_to_date=False,
    )
    db.add(schedule)
    await db.flush()
    ids["export_schedules"] = [str(schedule.id)]
    reconciliation = Reconciliation(
        organization_id=org.id,
        requested_by=members[0].id,
        provider="azure-openai",
        format="focus",
        file_name="bill.csv",
        file_bytes=1,
        content_sha256=uuid.uuid4().hex * 2,
        config_sha256="0" * 64,
        status="done",
    )
    db.add(reconciliation)
    await db.flush()
    ids["reconciliations"] = [str(reconciliation.id)]
    told = Notification(
        organization_id=org.id,
        user_id=members[0].id,
        event_id=uuid.uuid4(),
        kind="export_ready",
        title="Your cost export is ready",
        body="ready",
    )
    db.add(told)
    await db.flush()
    ids["notifications"] = [str(told.id)]
    hook = Webhook(
        organization_id=org.id,
        user_id=members[0].id,
        webhook_url="https://hooks.example.com/donatello",
        secret_hash="sealed",
        event_types=["generation.completed"],
    )
    db.add(hook)
    await db.flush()
    ids["webhooks"] = [str(hook.id)]
    delivery = WebhookDelivery(
        organization_id=org.id,
        webhook_id=hook.id,
        event_id=uuid.uuid4(),
        event_type="webhook.ping",
        body="{}",
    )
    db.add(delivery)
    await db.flush()
    ids["deliveries"] = [str(delivery.id)]
    ids["users"].append(str(spender.id))
    return ids


async def _snapshot(db: AsyncSession, org_id: str) -> tuple[object, ...]:
    counts = []
    for model in (
        User,
        Department,
        ApiKey,
        UserSession,
        UserPreference,
        Generation,
        CostEvent,
        DepartmentBudget,
    ):
        stmt = select(func.count()).select_from(model).where(model.organization_id == org_id)
        counts.append((await db.execute(stmt)).scalar_one())
    users = (
        await db.execute(
            select(User.role, User.is_active, User.department_id)
            .where(User.organization_id == org_id)
            .order_by(User.id)
        )
    ).all()
    depts = (
        await db.execute(
            select(Department.name, Department.is_active)
            .where(Department.organization_id == org_id)
            .order_by(Department.id)
        )
    ).all()
    keys = (
        await db.execute(select(ApiKey.is_active).where(ApiKey.organization_id == org_id).order_by(ApiKey.id))
    ).all()
    sessions = (
        await db.execute(select(UserSession.revoked).where(UserSession.organization_id == org_id))
    ).all()
    org = (
        await db.execute(select(Organization.name, Organization.is_active).where(Organization.id == org_id))
    ).one()
    deliveries = (
        await db.execute(
            select(WebhookDelivery.status, WebhookDelivery.attempts).where(
                WebhookDelivery.organization_id == org_id
            )
        )
    ).all()
    work = (
        await db.execute(
            select(Generation.status, Generation.is_deleted)
            .where(Generation.organization_id == org_id)
            .order_by(Generation.id)
        )
    ).all()
    money = (
        await db.execute(
            select(
                DepartmentBudget.monthly_budget_aud,
                DepartmentBudget.enforcement_mode,
                DepartmentBudget.reserved_aud,
                DepartmentBudget.period_top_up_aud,
            ).where(DepartmentBudget.organization_id == org_id)
        )
    ).all()
    return (
        tuple(counts),
        tuple(users),
        tuple(depts),
        tuple(keys),
        tuple(sessions),
        org,
        tuple(work),
        tuple(deliveries),
        tuple(money),
    )


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(a_shape=TENANT, b_shape=TENANT)
async def test_no_endpoint_reveals_counts_or_changes_another_tenants_rows(
    client: httpx.AsyncClient,
    db: AsyncSession,
    tokens: TokenSigner,
    a_shape: TenantShape,
    b_shape: TenantShape,
) -> None:
    a = await _populate(db, tokens, a_shape)
    b = await _populate(db, tokens, b_shape)
    before = await _snapshot(db, b["org"][0])
    b_ids = {value for name, values in b.items() if name != "tokens" for value in values}

    for token in a["tokens"]:
        auth = bearer(token)
        also = {"group": "user", "webhook_id": b["webhooks"][0]}  # a route's other parameter
        attempts = [
            client.request(method, path.format(**{**also, name: value}), json=body, headers=auth)
            for (method, path), (name, kind, body) in CROSS_TENANT.items()
            for value in b[kind]
        ]
        for attempt in attempts:
            response = await attempt
            assert response.status_code in (403, 404), response.text
            if response.status_code == 403:  # a role without the permission at all, never "it's not yours"
                assert response.json()["type"].endswith("/forbidden")
                assert "required_permission" in response.json()
        for path in (
            "/v1/users?limit=200",
            "/v1/departments?limit=200",
            "/v1/api-keys",
            "/v1/auth/sessions",
            "/v1/me/preferences",
            "/v1/me",
            "/v1/generations?limit=200",
            "/v1/generations/prompts?limit=200",
            "/v1/generations/stats",
            "/v1/reconciliations?limit=200",
        ):
            listed = await client.get(path, headers=auth)
            assert not (b_ids & set(_strings(listed.json()))), path

    assert await _snapshot(db, b["org"][0]) == before


#: Every route that takes a tenant-owned id, called by another tenant's staff with this tenant's ids:
#: (method, path) -> (path parameter, which ids, body). A new route of that kind must be added here.
CROSS_TENANT: dict[tuple[str, str], tuple[str, str, object]] = {
    ("GET", "/v1/users/{user_id}"): ("user_id", "users", None),
    ("PATCH", "/v1/users/{user_id}"): ("user_id", "users", {"is_active": False, "role": "power_user"}),
    ("GET", "/v1/departments/{department_id}"): ("department_id", "departments", None),
    ("PATCH", "/v1/departments/{department_id}"): ("department_id", "departments", {"name": "taken"}),
    ("GET", "/v1/departments/{department_id}/budget"): ("department_id", "departments", None),
    ("PUT", "/v1/departments/{department_id}/budget"): (
        "department_id",
        "departments",
        {"monthly_budget_aud": "1.00"},
    ),
    ("PATCH", "/v1/departments/{department_id}/budget"): (
        "department_id",
        "departments",
        {"enforcement_mode": "warn"},
    ),
    ("GET", "/v1/departments/{department_id}/budget/periods"): ("department_id", "departments", None),
    ("GET", "/v1/departments/{department_id}/budget/requests"): ("department_id", "departments", None),
    ("POST", "/v1/departments/{department_id}/budget/requests"): (
        "department_id",
        "departments",
        {"amount_aud": "5.00", "reason": "more", "scope": "permanent"},
    ),
    ("POST", "/v1/budget-requests/{request_id}/decision"): (
        "request_id",
        "budget_requests",
        {"decision": "approved", "reason": "ok"},
    ),
    ("DELETE", "/v1/api-keys/{key_id}"): ("key_id", "keys", None),
    ("DELETE", "/v1/auth/sessions/{session_id}"): ("session_id", "sessions", None),
    ("POST", "/v1/cost-events/{cost_event_id}/adjustments"): (
        "cost_event_id",
        "cost_events",
        {"kind": "refund", "amount_aud": "0.10", "reason": "mine now"},
    ),
    ("GET", "/v1/generations/{generation_id}"): ("generation_id", "generations", None),
    ("GET", "/v1/generations/{generation_id}/prompt"): ("generation_id", "generations", None),
    ("POST", "/v1/generations/{generation_id}/cancel"): ("generation_id", "generations", None),
    ("DELETE", "/v1/generations/{generation_id}"): ("generation_id", "generations", None),
    ("GET", "/v1/generation-batches/{batch_id}"): ("batch_id", "batches", None),
    ("GET", "/v1/reports/departments/{department_id}/status"): ("department_id", "departments", None),
    ("GET", "/v1/reports/departments/{department_id}/burn-down"): ("department_id", "departments", None),
    ("GET", "/v1/reports/departments/{department_id}/spend/{group}"): ("department_id", "departments", None),
    ("GET", "/v1/reports/departments/{department_id}/periods"): ("department_id", "departments", None),
    ("GET", "/v1/exports/{export_id}"): ("export_id", "exports", None),
    ("GET", "/v1/export-schedules/{schedule_id}"): ("schedule_id", "export_schedules", None),
    ("PATCH", "/v1/export-schedules/{schedule_id}"): ("schedule_id", "export_schedules", {"enabled": False}),
    ("DELETE", "/v1/export-schedules/{schedule_id}"): ("schedule_id", "export_schedules", None),
    ("GET", "/v1/reconciliations/{reconciliation_id}"): ("reconciliation_id", "reconciliations", None),
    ("GET", "/v1/reconciliations/{reconciliation_id}/unmapped"): (
        "reconciliation_id",
        "reconciliations",
        None,
    ),
    ("GET", "/v1/reconciliations/{reconciliation_id}/comparison.csv"): (
        "reconciliation_id",
        "reconciliations",
        None,
    ),
    ("POST", "/v1/me/notifications/{notification_id}/read"): ("notification_id", "notifications", None),
    ("GET", "/v1/webhooks/{webhook_id}"): ("webhook_id", "webhooks", None),
    ("PATCH", "/v1/webhooks/{webhook_id}"): ("webhook_id", "webhooks", {"is_active": False}),
    ("DELETE", "/v1/webhooks/{webhook_id}"): ("webhook_id", "webhooks", None),
    ("POST", "/v1/webhooks/{webhook_id}/rotate-secret"): ("webhook_id", "webhooks", None),
    ("POST", "/v1/webhooks/{webhook_id}/ping"): ("webhook_id", "webhooks", None),
    ("GET", "/v1/webhooks/{webhook_id}/deliveries"): ("webhook_id", "webhooks", None),
    ("POST", "/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver"): (
        "delivery_id",
        "deliveries",
        None,
    ),
    ("GET", "/v1/organizations/{organization_id}"): ("organization_id", "org", None),
    ("PATCH", "/v1/organizations/{organization_id}"): ("organization_id", "org", {"name": "taken"}),
    ("GET", "/v1/organizations/{organization_id}/mfa"): ("organization_id", "org", None),
    ("PUT", "/v1/organizations/{organization_id}/mfa"): (
        "organization_id",
        "org",
        {"rule": "conditional-access"},
    ),
}
#: Path parameters that are not a tenant's row: the caller's own preference key, a signed file link,
#: the platform-wide model catalogue.
NOT_TENANT_OWNED = {"key", "token", "provider_id"}


async def test_every_route_that_takes_a_tenant_owned_id_is_in_the_cross_tenant_table(
    client: httpx.AsyncClient,
) -> None:
    spec = (await client.get("/openapi.json")).json()
    routes = {
        (method.upper(), path)
        for path, operations in spec["paths"].items()
        # /scim/v2 answers provisioning tokens only, not staff: tests/provisioning/test_scim_surface.py attacks it.
        if path.startswith("/v1/")
        and (params := set(re.findall(r"{(\w+)}", path)))
        and not params <= NOT_TENANT_OWNED
        for method in operations
    }
    assert routes == set(CROSS_TENANT)


def _strings(value: object) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []
