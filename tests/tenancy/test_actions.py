"""The map from action to permission: every action is declared by a route, and every service that changes
something checks its own action (setting a budget, adding a person, revoking a key, …): it refuses whom
the map refuses, whichever edge (or none) it is called from, before writing anything."""

from __future__ import annotations

import io
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.api_keys import service as api_keys
from donatello.api_keys.schemas import ApiKeyCreate
from donatello.auth.dependencies import Require
from donatello.budgets import increase_requests
from donatello.budgets import service as budgets
from donatello.budgets.schemas import (
    AdjustmentCreate,
    BudgetChange,
    BudgetSet,
    IncreaseDecision,
    IncreaseRequestCreate,
)
from donatello.core.errors import Forbidden
from donatello.departments import service as departments
from donatello.departments.schemas import DepartmentCreate, DepartmentUpdate
from donatello.exports import schedules as export_schedules
from donatello.exports import service as exports
from donatello.exports.schemas import ExportScheduleCreate
from donatello.generations import lifecycle
from donatello.models import Base, Department, DepartmentBudget, ModelProvider, Organization, User
from donatello.organizations import service as organizations
from donatello.organizations.schemas import MfaRule, OrganizationCreate, OrganizationUpdate
from donatello.providers import availability_for
from donatello.providers import service as providers
from donatello.providers.price_schemas import PriceSchedule
from donatello.providers.schemas import ProviderConfigWrite, ProviderCreate, ProviderUpdate
from donatello.provisioning import service as provisioning
from donatello.reconciliation import queries as reconciliation_queries
from donatello.reconciliation import service as reconciliation
from donatello.reconciliation.schemas import ReconciliationSettings
from donatello.resources import Resources
from donatello.tenancy import GRANTS, Action, Permission, Principal, Role
from donatello.tenancy.actions import POLICIES
from donatello.users import service as users
from donatello.users.schemas import UserCreate, UserUpdate
from donatello.web.dependencies import Requiring
from donatello.webhooks import service as webhooks
from donatello.webhooks.schemas import WebhookCreate, WebhookUpdate
from tests.support import factories, provider_rows
from tests.support.ledger import principal_of


def _declarations(app: FastAPI) -> list[Any]:
    found = []
    for context in iter_route_contexts(app.routes):
        pending = [context.route.dependant] if hasattr(context.route, "dependant") else []
        while pending:
            current = pending.pop()
            if isinstance(current.call, Require | Requiring):
                found.append(current.call)
            pending.extend(current.dependencies)
    return found


def test_every_action_in_the_map_is_declared_by_a_route(app: FastAPI) -> None:
    declared = {id(declaration.policy) for declaration in _declarations(app)}
    unused = [action.value for action, policy in POLICIES.items() if id(policy) not in declared]
    assert unused == []
    assert set(POLICIES) == set(Action)


@pytest.mark.parametrize("role", list(Role))
async def test_setting_a_budget_is_refused_by_the_service_to_whom_the_map_refuses(
    db: AsyncSession, role: Role
) -> None:
    org = await factories.organization(db)
    department = await factories.department(db, org)
    caller = await factories.user(db, org, role=role.value, department=department)
    body = BudgetSet(monthly_budget_aud=Decimal("250.00"))

    if Permission.BUDGETS_MANAGE in GRANTS[role]:
        status = await budgets.set_budget(db, principal_of(caller), department.id, body)
        assert status.monthly_budget_aud == Decimal("250.00")
        return
    with pytest.raises(Forbidden) as refused:
        await budgets.set_budget(db, principal_of(caller), department.id, body)
    problem = refused.value.problem()
    assert (problem["status"], problem["required_permissions"]) == (403, ["budgets:manage"])
    assert problem["required_roles"] == ["org_admin"]
    written = await db.scalar(select(DepartmentBudget).where(DepartmentBudget.department_id == department.id))
    assert written is None


@pytest.mark.parametrize("role", list(Role))
async def test_departments_are_added_and_changed_only_by_whom_the_map_allows(
    db: AsyncSession, role: Role
) -> None:
    org = await factories.organization(db)
    department = await factories.department(db, org)
    caller = principal_of(await factories.user(db, org, role=role.value, department=department))
    adding = DepartmentCreate(name="Research", code="RSRCH")
    renaming = DepartmentUpdate(name="Renamed")

    if Permission.DEPARTMENTS_MANAGE in GRANTS[role]:
        assert (await departments.create(db, caller, adding)).code == "RSRCH"
        assert (await departments.update(db, caller, department.id, renaming)).name == "Renamed"
        return
    for attempt in (
        departments.create(db, caller, adding),
        departments.update(db, caller, department.id, renaming),
    ):
        with pytest.raises(Forbidden) as refused:
            await attempt
        assert refused.value.problem()["required_permissions"] == ["departments:manage"]
    names = set(await db.scalars(select(Department.name).where(Department.organization_id == org.id)))
    assert names == {department.name}


# --- every mutating service checks its own action ------------------------------------------------------


@dataclass(frozen=True)
class Scene:
    """An organization with a row in every table, the caller owning the webhook, key, generation and
    budget request there, a colleague in the caller's department and a model in the catalogue."""

    org: Organization
    caller: User
    colleague: User
    ids: dict[str, uuid.UUID | int]
    model: ModelProvider
    resources: Resources

    def id(self, table: str) -> uuid.UUID:
        found = self.ids[table]
        assert isinstance(found, uuid.UUID)
        return found

    def outbound(self) -> webhooks.Outbound:
        async def public(host: str, port: int) -> list[str]:
            return ["203.0.113.10"]

        return webhooks.Outbound(self.resources.settings, self.resources.sealer, public)


async def _scene(db: AsyncSession, resources: Resources, role: Role) -> Scene:
    org = await factories.organization(db)
    ids = await factories.tenant_world(db, org)
    caller = await db.get(User, ids["users"])
    assert caller is not None
    caller.role = role.value
    await db.flush()
    colleague = await factories.colleague(db, caller)
    return Scene(org, caller, colleague, ids, await provider_rows.model(db, "local"), resources)


TOMORROW = datetime.now(UTC) + timedelta(days=1)
Call = Callable[[AsyncSession, Principal, Scene], Awaitable[object]]

#: Each mutating service the edges call, the action its routes declare, and a call that would write
#: (given the permission): the table the walk below runs.
SERVICES: list[tuple[str, Action, Call]] = [
    ("add a person", Action.MANAGE_PEOPLE,
     lambda db, p, s: users.create(db, p, UserCreate(email=f"new.person@{s.org.domain}"))),
    ("deactivate a person", Action.MANAGE_PEOPLE,
     lambda db, p, s: users.update(db, p, s.colleague.id, UserUpdate(is_active=False))),
    ("issue the provisioning token", Action.MANAGE_PEOPLE, lambda db, p, s: provisioning.issue_for(db, p)),
    ("set the MFA rule", Action.CHANGE_ORGANIZATION_SETTINGS,
     lambda db, p, s: organizations.set_mfa_rule(db, p, s.org.id, MfaRule(rule="conditional-access"))),
    ("add an organization", Action.MANAGE_ORGANIZATIONS,
     lambda db, p, s: organizations.create(
         db, p, OrganizationCreate(name="Newco", domain=f"newco-{uuid.uuid4().hex[:8]}.com.au"))),
    ("rename an organization", Action.MANAGE_ORGANIZATIONS,
     lambda db, p, s: organizations.update(db, p, s.org.id, OrganizationUpdate(name="Renamed"))),
    ("create an API key", Action.OWN_API_KEYS,
     lambda db, p, s: api_keys.create(db, p, ApiKeyCreate(name="ci", scopes=[Permission.GENERATIONS_CREATE]))),
    ("revoke an API key", Action.SEE_API_KEYS, lambda db, p, s: api_keys.revoke(db, p, s.id("api_keys"))),
    ("register a webhook", Action.OWN_WEBHOOKS,
     lambda db, p, s: webhooks.create(
         db, p, WebhookCreate(webhook_url="https://hooks.example.com/new", event_types=["generation.completed"]), s.outbound())),
    ("pause a webhook", Action.OWN_WEBHOOKS,
     lambda db, p, s: webhooks.update(db, p, s.id("webhooks"), WebhookUpdate(is_active=False), s.outbound())),
    ("rotate a webhook's secret", Action.OWN_WEBHOOKS,
     lambda db, p, s: webhooks.rotate_secret(db, p, s.id("webhooks"), s.outbound())),
    ("delete a webhook", Action.OWN_WEBHOOKS, lambda db, p, s: webhooks.delete(db, p, s.id("webhooks"))),
    ("ping a webhook", Action.OWN_WEBHOOKS, lambda db, p, s: webhooks.ping(db, p, s.id("webhooks"))),
    ("redeliver a webhook's event", Action.OWN_WEBHOOKS,
     lambda db, p, s: webhooks.redeliver(db, p, s.id("webhooks"), s.id("webhook_deliveries"))),
    ("add a model", Action.MANAGE_MODELS,
     lambda db, p, s: providers.create(
         db, p, availability_for(None),
         ProviderCreate(provider_name="local", model_name="sketch-2", api_endpoint="local://pillow",
                        cost_per_image_aud=Decimal("0.05")))),
    ("change a model", Action.MANAGE_MODELS,
     lambda db, p, s: providers.update(db, p, availability_for(None), s.model.id, ProviderUpdate(priority=7))),
    ("configure a model", Action.MANAGE_MODELS,
     lambda db, p, s: providers.configure(db, p, s.model.id, ProviderConfigWrite(max_retries=1))),
    ("schedule a price", Action.MANAGE_MODELS,
     lambda db, p, s: providers.schedule_price(
         db, p, s.model.id, PriceSchedule(cost_per_image_aud=Decimal("0.06"), effective_from=TOMORROW))),
    ("change budget settings", Action.CHANGE_BUDGET,
     lambda db, p, s: budgets.change_budget(db, p, s.id("departments"), BudgetChange(alert_thresholds=[90]))),
    ("refund a charge", Action.AMEND_CHARGES,
     lambda db, p, s: budgets.amend_charge(
         db, p, s.id("cost_events"), AdjustmentCreate(kind="refund", amount_aud=Decimal("0.01"), reason="x"))),
    ("ask for more budget", Action.ASK_FOR_BUDGET,
     lambda db, p, s: increase_requests.ask(
         db, p, s.id("departments"), IncreaseRequestCreate(amount_aud=Decimal("5.00"), reason="launch"))),
    ("decide a budget request", Action.DECIDE_BUDGET_REQUESTS,
     lambda db, p, s: increase_requests.decide(
         db, p, s.id("budget_increase_requests"), IncreaseDecision(decision="declined", reason="no"))),
    ("import a provider's bill", Action.RECONCILE,
     lambda db, p, s: reconciliation.accept(
         db, p, s.resources.settings, s.resources.image_store, io.BytesIO(b"date,model,cost_aud\n"),
         "bill.csv", "azure-openai", "generic", None)),
    ("change reconciliation settings", Action.RECONCILE,
     lambda db, p, s: reconciliation_queries.change_settings(db, p, ReconciliationSettings())),
    ("export costs", Action.EXPORT_COSTS,
     lambda db, p, s: exports.request_export(db, p, s.resources.settings, "2026-11-01", "2026-11-30", None, "csv")),
    ("schedule exports", Action.EXPORT_COSTS,
     lambda db, p, s: export_schedules.create(db, p, ExportScheduleCreate(name="nightly"), s.resources.settings)),
    ("pause an export schedule", Action.EXPORT_COSTS,
     lambda db, p, s: export_schedules.set_enabled(
         db, p, s.id("export_schedules"), False, s.resources.settings)),
    ("delete an export schedule", Action.EXPORT_COSTS,
     lambda db, p, s: export_schedules.delete(db, p, s.id("export_schedules"))),
    ("cancel a generation", Action.ACT_ON_GENERATIONS,
     lambda db, p, s: lifecycle.cancel(db, p, s.id("generations"))),
    ("delete a generation", Action.ACT_ON_GENERATIONS,
     lambda db, p, s: lifecycle.delete(db, p, s.id("generations"))),
]  # fmt: skip

REPORTING_KEY = "org_admin's reporting key"


def _reporting_key(admin: Principal) -> Principal:
    """An org admin's API key for reading reports: the admin narrowed to that one scope."""
    return replace(admin, api_key_id=uuid.uuid4(), scopes=frozenset({Permission.REPORTS_READ.value}))


def _principal(member: User, caller: Role | str) -> Principal:
    return _reporting_key(principal_of(member)) if caller == REPORTING_KEY else principal_of(member)


def _refused_callers(action: Action) -> list[Role | str]:
    """Every role the map refuses ``action``, and the reporting key (which every action here needs more of)."""
    anyone = Principal(uuid.uuid4(), uuid.uuid4(), None, Role.ORG_ADMIN, "someone@example.com")
    assert POLICIES[action].missing(_reporting_key(anyone)), action
    return [*(role for role in Role if POLICIES[action].missing(replace(anyone, role=role))), REPORTING_KEY]


async def _fingerprint(db: AsyncSession, org_id: uuid.UUID) -> dict[str, str]:
    """Every row of the organization (and of the catalogue and organizations), as one digest per table."""
    await db.flush()
    tenant = [table.name for table in Base.metadata.sorted_tables if "organization_id" in table.c]
    shared = ["organizations", "model_providers", "provider_configs", "model_prices"]
    digest = "(SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {} t {})"
    columns = [digest.format(name, "WHERE t.organization_id = :org") for name in tenant]
    columns += [digest.format(name, "") for name in shared]
    row = (await db.execute(text(f"SELECT {', '.join(columns)}"), {"org": org_id})).one()
    return dict(zip([*tenant, *shared], row, strict=True))


@pytest.mark.parametrize(
    ("action", "call", "caller"),
    [
        pytest.param(action, call, caller, id=f"{name} by {caller}")
        for name, action, call in SERVICES
        for caller in _refused_callers(action)
    ],
)
async def test_a_mutating_service_refuses_whom_its_action_refuses_and_writes_nothing(
    db: AsyncSession, app: FastAPI, action: Action, call: Call, caller: Role | str
) -> None:
    scene = await _scene(db, app.state.resources, Role.ORG_ADMIN if caller == REPORTING_KEY else Role(caller))
    before = await _fingerprint(db, scene.org.id)

    with pytest.raises(Forbidden) as refused:
        await call(db, _principal(scene.caller, caller), scene)

    problem = refused.value.problem()
    assert problem["status"] == 403
    assert problem["required_permissions"] == [
        permission.value for permission in POLICIES[action].permissions
    ]
    assert await _fingerprint(db, scene.org.id) == before
