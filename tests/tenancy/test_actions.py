"""The map from action to permission: every action is declared by a route, and a service that checks its
own permission (setting a budget, adding or changing a department) refuses whom the map refuses,
whichever edge (or none) it is called from, before writing anything."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.auth.dependencies import Require
from donatello.budgets import service as budgets
from donatello.budgets.schemas import BudgetSet
from donatello.core.errors import Forbidden
from donatello.departments import service as departments
from donatello.departments.schemas import DepartmentCreate, DepartmentUpdate
from donatello.models import Department, DepartmentBudget
from donatello.tenancy import GRANTS, Action, Permission, Role
from donatello.tenancy.actions import POLICIES
from donatello.web.dependencies import Requiring
from tests.support import factories
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
