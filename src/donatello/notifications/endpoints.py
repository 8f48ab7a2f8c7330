from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from donatello.auth.dependencies import SignedIn
from donatello.core.errors import NotFound, ValidationFailed
from donatello.core.pagination import DEFAULT_LIMIT, MAX_LIMIT
from donatello.dependencies import DbSession
from donatello.notifications import service
from donatello.notifications.schemas import NotificationPage, NotificationRead, ReadAll
from donatello.openapi import problem_responses

router = APIRouter(prefix="/me/notifications", tags=["notifications"])


@router.get("", response_model=NotificationPage, responses=problem_responses(ValidationFailed))
async def list_notifications(
    principal: SignedIn,
    session: DbSession,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> NotificationPage:
    """Your notifications, newest first, with how many are unread."""
    return await service.inbox(session, principal, cursor, limit)


@router.post("/read-all", response_model=ReadAll)
async def read_all(principal: SignedIn, session: DbSession) -> ReadAll:
    """Mark every notification of yours read."""
    return ReadAll(marked=await service.mark_all_read(session, principal))


@router.post(
    "/{notification_id}/read", response_model=NotificationRead, responses=problem_responses(NotFound)
)
async def read_one(notification_id: uuid.UUID, principal: SignedIn, session: DbSession) -> NotificationRead:
    """Mark one of your notifications read."""
    return NotificationRead.model_validate(await service.mark_read(session, principal, notification_id))
