from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response

from donatello.auth.dependencies import SignedIn, SignedInPerson
from donatello.auth.errors import ApiKeyNotAllowed
from donatello.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from donatello.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page
from donatello.dependencies import DbSession
from donatello.models import User
from donatello.openapi import problem_responses
from donatello.tenancy import Role
from donatello.users import service
from donatello.users.dependencies import CanAddUsers, CanListUsers, CanManageUsers, CanReadUsers
from donatello.users.errors import CannotChangeOwnAccess, OrganizationRequired, RoleAboveYourOwn
from donatello.users.schemas import (
    PREFERENCE_KEY,
    Me,
    PreferenceRead,
    PreferenceWrite,
    UserCreate,
    UserFilters,
    UserRead,
    UserUpdate,
)

router = APIRouter(tags=["users"])

PreferenceKey = Annotated[str, Path(pattern=PREFERENCE_KEY, max_length=100)]


@router.get("/me", response_model=Me)
async def me(principal: SignedIn, session: DbSession) -> Me:
    """Who the access token belongs to, with the role and department read fresh from the database, and
    the organization's MFA rule with whether this sign-in met it."""
    return await service.me(session, principal)


@router.get(
    "/me/preferences", response_model=list[PreferenceRead], responses=problem_responses(ApiKeyNotAllowed)
)
async def my_preferences(principal: SignedInPerson, session: DbSession) -> list[PreferenceRead]:
    return await service.preferences(session, principal)


@router.put(
    "/me/preferences/{key}",
    response_model=PreferenceRead,
    responses=problem_responses(ValidationFailed, ApiKeyNotAllowed),
)
async def set_preference(
    key: PreferenceKey, body: PreferenceWrite, principal: SignedInPerson, session: DbSession
) -> PreferenceRead:
    return await service.set_preference(session, principal, key, body.value)


@router.delete(
    "/me/preferences/{key}", status_code=204, responses=problem_responses(NotFound, ApiKeyNotAllowed)
)
async def delete_preference(key: PreferenceKey, principal: SignedInPerson, session: DbSession) -> Response:
    await service.delete_preference(session, principal, key)
    return Response(status_code=204)


@router.get("/users", response_model=Page[UserRead], responses=problem_responses(Forbidden, ValidationFailed))
async def list_users(
    principal: CanListUsers,
    session: DbSession,
    role: Role | None = None,
    department_id: uuid.UUID | None = None,
    is_active: bool | None = None,
    email_contains: Annotated[str | None, Query(max_length=255)] = None,
    search: Annotated[
        str | None, Query(max_length=255, description="Part of the name or the e-mail, in any case")
    ] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[UserRead]:
    """Users of the organization (a department manager: of their department), filtered (``search``: part
    of the name or the e-mail), by e-mail."""
    filters = UserFilters(
        role=role,
        department_id=department_id,
        is_active=is_active,
        email_contains=email_contains,
        name_or_email_contains=search,
    )
    return await service.list_users(session, principal, filters, cursor, limit)


@router.post(
    "/users",
    status_code=201,
    response_model=UserRead,
    responses=problem_responses(
        Forbidden, NotFound, Conflict, RoleAboveYourOwn, OrganizationRequired, ValidationFailed
    ),
)
async def create_user(body: UserCreate, principal: CanAddUsers, session: DbSession) -> User:
    """Add a person before their first sign-in (audited). Their first Entra sign-in with this e-mail
    claims the account. A platform administrator must name `organization_id`."""
    return await service.create(session, principal, body)


@router.get("/users/{user_id}", response_model=UserRead, responses=problem_responses(Forbidden, NotFound))
async def get_user(user_id: uuid.UUID, principal: CanReadUsers, session: DbSession) -> User:
    return await service.get(session, principal, user_id)


@router.patch(
    "/users/{user_id}",
    response_model=UserRead,
    responses=problem_responses(
        Forbidden, NotFound, CannotChangeOwnAccess, RoleAboveYourOwn, ValidationFailed
    ),
)
async def update_user(
    user_id: uuid.UUID, body: UserUpdate, principal: CanManageUsers, session: DbSession
) -> Any:
    """Change a user's role, department or active state (audited). Deactivation takes effect at once: the
    user's sessions and API keys are revoked and their webhooks disabled, as with SCIM deprovisioning."""
    return await service.update(session, principal, user_id, body)
