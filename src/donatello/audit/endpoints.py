from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from donatello.audit import service
from donatello.audit.dependencies import CanReadAuditLog, CanReadOwnEvents, Store
from donatello.audit.schemas import AuditEventRead, AuditFilters
from donatello.core.clock import Instant
from donatello.core.errors import Forbidden, NotFound, Unauthenticated, ValidationFailed
from donatello.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page
from donatello.dependencies import DbSession
from donatello.openapi import problem_responses

router = APIRouter(prefix="/audit-events", tags=["audit"])

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]


@router.get(
    "",
    response_model=Page[AuditEventRead],
    responses=problem_responses(Unauthenticated, Forbidden, NotFound, ValidationFailed),
)
async def list_audit_events(
    principal: CanReadAuditLog,
    session: DbSession,
    store: Store,
    user_id: uuid.UUID | None = None,
    event_type: str | None = None,
    resource_type: str | None = None,
    resource_id: str | None = None,
    status: str | None = None,
    since: Annotated[Instant | None, Query(alias="from")] = None,
    until: Annotated[Instant | None, Query(alias="to")] = None,
    cursor: str | None = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[AuditEventRead]:
    """The organization's audit log, newest first; ``cursor`` is the previous page's ``next_cursor``."""
    filters = AuditFilters(
        user_id=user_id,
        event_type=event_type,
        resource_type=resource_type,
        resource_id=resource_id,
        status=status,
        since=since,
        until=until,
    )
    return await service.list_events(session, store, principal, filters, cursor, limit)


@router.get(
    "/me", response_model=Page[AuditEventRead], responses=problem_responses(Unauthenticated, ValidationFailed)
)
async def my_audit_events(
    principal: CanReadOwnEvents,
    session: DbSession,
    store: Store,
    event_type: str | None = None,
    since: Annotated[Instant | None, Query(alias="from")] = None,
    until: Annotated[Instant | None, Query(alias="to")] = None,
    cursor: str | None = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[AuditEventRead]:
    """The caller's own audit events, newest first."""
    filters = AuditFilters(user_id=principal.user_id, event_type=event_type, since=since, until=until)
    return await service.list_events(session, store, principal, filters, cursor, limit)
