from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request

from donatello.auth.dependencies import SignedInPerson
from donatello.auth.errors import ApiKeyNotAllowed
from donatello.core.errors import NotFound, Unauthenticated, ValidationFailed
from donatello.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page
from donatello.dependencies import DbSession, Device, resources_of
from donatello.openapi import problem_responses
from donatello.sessions import service
from donatello.sessions.errors import RefreshTokenInvalid, RefreshTokenReused
from donatello.sessions.schemas import RefreshRequest, RevokedCount, SessionRead, TokenPair

router = APIRouter(prefix="/auth", tags=["sessions"])


@router.post(
    "/refresh", response_model=TokenPair, responses=problem_responses(RefreshTokenInvalid, RefreshTokenReused)
)
async def refresh(body: RefreshRequest, request: Request, session: DbSession, device: Device) -> TokenPair:
    """Trade a refresh token for a new pair; the presented token stops working (rotation)."""
    return await service.refresh(
        session,
        resources_of(request).token_signer,
        body.refresh_token,
        device=device,
        lifetime=resources_of(request).settings.refresh_token_lifetime,
    )


@router.post(
    "/logout", response_model=RevokedCount, responses=problem_responses(Unauthenticated, ApiKeyNotAllowed)
)
async def logout(principal: SignedInPerson, session: DbSession) -> RevokedCount:
    """End this sign-in: its refresh token and access tokens stop working."""
    return RevokedCount(revoked=await service.logout(session, principal))


@router.get(
    "/sessions",
    response_model=Page[SessionRead],
    responses=problem_responses(Unauthenticated, ApiKeyNotAllowed, ValidationFailed),
)
async def list_sessions(
    principal: SignedInPerson,
    session: DbSession,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[SessionRead]:
    """The caller's live sessions (devices), the current one marked."""
    return await service.list_own(session, principal, cursor, limit)


@router.delete(
    "/sessions/{session_id}",
    response_model=RevokedCount,
    responses=problem_responses(NotFound, ApiKeyNotAllowed),
)
async def revoke_session(
    session_id: uuid.UUID, principal: SignedInPerson, session: DbSession
) -> RevokedCount:
    return RevokedCount(revoked=await service.revoke_one(session, principal, session_id))


@router.post(
    "/sessions/revoke-all",
    response_model=RevokedCount,
    responses=problem_responses(Unauthenticated, ApiKeyNotAllowed),
)
async def revoke_all(principal: SignedInPerson, session: DbSession) -> RevokedCount:
    """Sign out everywhere."""
    return RevokedCount(revoked=await service.revoke_all(session, principal))
