"""Departments: the units that hold budgets and group users."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from donatello import audit
from donatello.core.pagination import Page, decode_cursor, page_of
from donatello.departments import repository
from donatello.departments.errors import DepartmentCodeTaken
from donatello.departments.schemas import DepartmentCreate, DepartmentRead, DepartmentUpdate
from donatello.models import Department
from donatello.tenancy import Action, Principal, ensure


async def list_departments(
    session: AsyncSession, principal: Principal, cursor: str | None, limit: int
) -> Page[DepartmentRead]:
    rows = await repository.page(session, principal, after=decode_cursor(cursor, 2), limit=limit + 1)
    kept, next_cursor = page_of(rows, limit, key=lambda row: [row.code, row.id])
    items = [DepartmentRead.model_validate(row) for row in kept]
    return Page[DepartmentRead](items=items, next_cursor=next_cursor)


async def get(session: AsyncSession, principal: Principal, department_id: uuid.UUID) -> Department:
    return await repository.get(session, principal, department_id)


async def create(session: AsyncSession, principal: Principal, body: DepartmentCreate) -> Department:
    """An org admin adds a department to their own organization; codes are unique per organization."""
    ensure(principal, Action.MANAGE_DEPARTMENTS)
    department = Department(
        organization_id=principal.organization_id,
        name=body.name,
        code=body.code,
        settings=body.settings,
        require_processing_in=body.require_processing_in,
    )
    if not await repository.add(session, department):
        raise DepartmentCodeTaken(body.code)
    await audit.record_event(
        session,
        "department.created",
        action="department_created",
        resource=("department", department.id),
        organization_id=principal.organization_id,
        actor=principal,
        details={
            "code": department.code,
            "name": department.name,
            "require_processing_in": department.require_processing_in,
        },
    )
    return department


async def update(
    session: AsyncSession, principal: Principal, department_id: uuid.UUID, body: DepartmentUpdate
) -> Department:
    """Rename, (de)activate or reconfigure a department, or set or lift where its generations must be
    processed (``require_processing_in``: null lifts it); the audit event lists what changed."""
    ensure(principal, Action.MANAGE_DEPARTMENTS)
    department = await repository.get(session, principal, department_id)
    wanted = {
        field: value
        for field, value in body.model_dump(exclude_unset=True).items()
        if value is not None or field == "require_processing_in"
    }
    changes = {
        field: {"from": getattr(department, field), "to": value}
        for field, value in wanted.items()
        if getattr(department, field) != value
    }
    if not changes:
        return department
    for field, change in changes.items():
        setattr(department, field, change["to"])
    await repository.flush(session, department)
    await audit.record_event(
        session,
        "department.updated",
        action="department_updated",
        resource=("department", department.id),
        organization_id=principal.organization_id,
        actor=principal,
        details={"changes": changes},
    )
    return department
