from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from donatello.core.errors import Forbidden, NotFound, Unauthenticated, ValidationFailed
from donatello.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page
from donatello.departments import service
from donatello.departments.dependencies import CanAddDepartments, CanManageDepartments, CanReadDepartments
from donatello.departments.errors import DepartmentCodeTaken
from donatello.departments.schemas import DepartmentCreate, DepartmentRead, DepartmentUpdate
from donatello.dependencies import DbSession
from donatello.models import Department
from donatello.openapi import problem_responses

router = APIRouter(prefix="/departments", tags=["departments"])


@router.get(
    "", response_model=Page[DepartmentRead], responses=problem_responses(Unauthenticated, ValidationFailed)
)
async def list_departments(
    principal: CanReadDepartments,
    session: DbSession,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[DepartmentRead]:
    return await service.list_departments(session, principal, cursor, limit)


@router.get("/{department_id}", response_model=DepartmentRead, responses=problem_responses(NotFound))
async def get_department(
    department_id: uuid.UUID, principal: CanReadDepartments, session: DbSession
) -> Department:
    return await service.get(session, principal, department_id)


@router.post(
    "",
    status_code=201,
    response_model=DepartmentRead,
    responses=problem_responses(Forbidden, DepartmentCodeTaken, ValidationFailed),
)
async def create_department(
    body: DepartmentCreate, principal: CanAddDepartments, session: DbSession
) -> Department:
    return await service.create(session, principal, body)


@router.patch(
    "/{department_id}",
    response_model=DepartmentRead,
    responses=problem_responses(Forbidden, NotFound, ValidationFailed),
)
async def update_department(
    department_id: uuid.UUID, body: DepartmentUpdate, principal: CanManageDepartments, session: DbSession
) -> Department:
    return await service.update(session, principal, department_id, body)
