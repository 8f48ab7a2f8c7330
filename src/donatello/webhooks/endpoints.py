from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from donatello.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from donatello.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page
from donatello.dependencies import DbSession
from donatello.openapi import problem_responses
from donatello.webhooks import service
from donatello.webhooks.dependencies import CanOwnWebhooks, OutboundDeps
from donatello.webhooks.errors import TargetNotAllowed
from donatello.webhooks.schemas import (
    DeliveryRead,
    DeliveryStatus,
    PingAccepted,
    WebhookCreate,
    WebhookRead,
    WebhookUpdate,
    WebhookWithSecret,
)

router = APIRouter(prefix="/webhooks", tags=["webhooks"])


@router.post(
    "",
    status_code=201,
    response_model=WebhookWithSecret,
    responses=problem_responses(Forbidden, ValidationFailed, TargetNotAllowed),
)
async def create_webhook(
    body: WebhookCreate, principal: CanOwnWebhooks, session: DbSession, outbound: OutboundDeps
) -> WebhookWithSecret:
    """Register an HTTPS endpoint; the signing secret is in this response only."""
    return await service.create(session, principal, body, outbound)


@router.get("", response_model=Page[WebhookRead], responses=problem_responses(Forbidden, ValidationFailed))
async def list_webhooks(
    principal: CanOwnWebhooks,
    session: DbSession,
    user_id: uuid.UUID | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[WebhookRead]:
    """Your webhooks (an org admin: the organization's, or one user's with ``user_id``), newest first."""
    return await service.list_webhooks(session, principal, user_id, cursor, limit)


@router.get("/{webhook_id}", response_model=WebhookRead, responses=problem_responses(Forbidden, NotFound))
async def get_webhook(webhook_id: uuid.UUID, principal: CanOwnWebhooks, session: DbSession) -> WebhookRead:
    return WebhookRead.model_validate(await service.get(session, principal, webhook_id))


@router.patch(
    "/{webhook_id}",
    response_model=WebhookRead,
    responses=problem_responses(Forbidden, NotFound, ValidationFailed, TargetNotAllowed),
)
async def update_webhook(
    webhook_id: uuid.UUID,
    body: WebhookUpdate,
    principal: CanOwnWebhooks,
    session: DbSession,
    outbound: OutboundDeps,
) -> WebhookRead:
    return WebhookRead.model_validate(await service.update(session, principal, webhook_id, body, outbound))


@router.post(
    "/{webhook_id}/rotate-secret",
    response_model=WebhookWithSecret,
    responses=problem_responses(Forbidden, NotFound),
)
async def rotate_webhook_secret(
    webhook_id: uuid.UUID, principal: CanOwnWebhooks, session: DbSession, outbound: OutboundDeps
) -> WebhookWithSecret:
    """A new signing secret, in this response only; the old one stops signing at once."""
    return await service.rotate_secret(session, principal, webhook_id, outbound)


@router.delete("/{webhook_id}", status_code=204, responses=problem_responses(Forbidden, NotFound))
async def delete_webhook(webhook_id: uuid.UUID, principal: CanOwnWebhooks, session: DbSession) -> Response:
    await service.delete(session, principal, webhook_id)
    return Response(status_code=204)


@router.post(
    "/{webhook_id}/ping",
    status_code=202,
    response_model=PingAccepted,
    responses=problem_responses(Forbidden, NotFound, Conflict),
)
async def ping_webhook(webhook_id: uuid.UUID, principal: CanOwnWebhooks, session: DbSession) -> PingAccepted:
    """Queue a signed ``webhook.ping`` delivery (sent by the worker like any event)."""
    return await service.ping(session, principal, webhook_id)


@router.get(
    "/{webhook_id}/deliveries",
    response_model=Page[DeliveryRead],
    responses=problem_responses(Forbidden, NotFound, ValidationFailed),
)
async def list_deliveries(
    webhook_id: uuid.UUID,
    principal: CanOwnWebhooks,
    session: DbSession,
    status: DeliveryStatus | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[DeliveryRead]:
    """Deliveries of the webhook, newest first: status, attempts, the last answer or error, next attempt."""
    return await service.deliveries(session, principal, webhook_id, status, cursor, limit)


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/redeliver",
    status_code=202,
    response_model=DeliveryRead,
    responses=problem_responses(Forbidden, NotFound, Conflict),
)
async def redeliver(
    webhook_id: uuid.UUID, delivery_id: uuid.UUID, principal: CanOwnWebhooks, session: DbSession
) -> DeliveryRead:
    """Queue a delivered or failed delivery again (same delivery id); 409 while it is still pending."""
    return await service.redeliver(session, principal, webhook_id, delivery_id)
