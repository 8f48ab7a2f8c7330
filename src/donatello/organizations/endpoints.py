from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from donatello.core.errors import Forbidden, NotFound, ValidationFailed
from donatello.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page
from donatello.dependencies import DbSession
from donatello.models import Organization
from donatello.openapi import problem_responses
from donatello.organizations import service
from donatello.organizations.dependencies import CanManageOrganizations
from donatello.organizations.errors import OrganizationTaken
from donatello.organizations.schemas import OrganizationCreate, OrganizationRead, OrganizationUpdate

router = APIRouter(prefix="/organizations", tags=["organizations"])


@router.get(
    "", response_model=Page[OrganizationRead], responses=problem_responses(Forbidden, ValidationFailed)
)
async def list_organizations(
    principal: CanManageOrganizations,
    session: DbSession,
    is_active: bool | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[OrganizationRead]:
    return await service.list_organizations(session, is_active, cursor, limit)


@router.post(
    "",
    status_code=201,
    response_model=OrganizationRead,
    responses=problem_responses(Forbidden, OrganizationTaken, ValidationFailed),
)
async def create_organization(
    body: OrganizationCreate, principal: CanManageOrganizations, session: DbSession
) -> Organization:
    return await service.create(session, principal, body)


@router.get(
    "/{organization_id}", response_model=OrganizationRead, responses=problem_responses(Forbidden, NotFound)
)
async def get_organization(
    organization_id: uuid.UUID, principal: CanManageOrganizations, session: DbSession
) -> Organization:
    return await service.get(session, principal, organization_id)


@router.patch(
    "/{organization_id}",
    response_model=OrganizationRead,
    responses=problem_responses(Forbidden, NotFound, OrganizationTaken, ValidationFailed),
)
async def update_organization(
    organization_id: uuid.UUID,
    body: OrganizationUpdate,
    principal: CanManageOrganizations,
    session: DbSession,
) -> Organization:
    return await service.update(session, principal, organization_id, body)
