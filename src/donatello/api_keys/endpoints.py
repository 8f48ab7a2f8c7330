from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from donatello.api_keys import service
from donatello.api_keys.dependencies import CanCreateKeys, CanSeeKeys
from donatello.api_keys.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyRead
from donatello.core.errors import Forbidden, NotFound, ValidationFailed
from donatello.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page
from donatello.dependencies import DbSession
from donatello.openapi import problem_responses

router = APIRouter(prefix="/api-keys", tags=["api keys"])


@router.post(
    "",
    status_code=201,
    response_model=ApiKeyCreated,
    responses=problem_responses(Forbidden, ValidationFailed),
)
async def create_key(body: ApiKeyCreate, principal: CanCreateKeys, session: DbSession) -> ApiKeyCreated:
    """Create a key (power users and admins); the full key is in this response only."""
    return await service.create(session, principal, body)


@router.get("", response_model=Page[ApiKeyRead], responses=problem_responses(ValidationFailed))
async def list_keys(
    principal: CanSeeKeys,
    session: DbSession,
    user_id: uuid.UUID | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[ApiKeyRead]:
    """Your keys, newest first (an org admin may pass ``user_id`` or see every key of the organization)."""
    return await service.list_keys(session, principal, user_id, cursor, limit)


@router.delete("/{key_id}", response_model=ApiKeyRead, responses=problem_responses(NotFound))
async def revoke_key(key_id: uuid.UUID, principal: CanSeeKeys, session: DbSession) -> ApiKeyRead:
    return ApiKeyRead.model_validate(await service.revoke(session, principal, key_id))
