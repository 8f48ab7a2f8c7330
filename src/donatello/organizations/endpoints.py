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
from donatello.organizations.dependencies import CanChangeOrganizationSettings, CanManageOrganizations
from donatello.organizations.errors import OrganizationTaken
from donatello.organizations.schemas import MfaRule, OrganizationCreate, OrganizationRead, OrganizationUpdate

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


@router.get(
    "/{organization_id}/mfa", response_model=MfaRule, responses=problem_responses(Forbidden, NotFound)
)
async def get_mfa_rule(
    organization_id: uuid.UUID, principal: CanChangeOrganizationSettings, session: DbSession
) -> MfaRule:
    """How the organization's sign-ins prove MFA (your own organization; a platform admin any)."""
    return service.mfa_rule(await service.get(session, principal, organization_id))


@router.put(
    "/{organization_id}/mfa",
    response_model=MfaRule,
    responses=problem_responses(Forbidden, NotFound, ValidationFailed),
)
async def set_mfa_rule(
    organization_id: uuid.UUID, body: MfaRule, principal: CanChangeOrganizationSettings, session: DbSession
) -> MfaRule:
    """Declare how sign-ins prove MFA: `amr` (the token says so), `conditional-access` (Entra's Conditional
    Access requires MFA for this app: trust it), or `authentication-context` with `contexts` (the token's
    `acrs` claim holds one of them, e.g. `c1`). Audited; applies from each person's next sign-in."""
    return await service.set_mfa_rule(session, principal, organization_id, body)
