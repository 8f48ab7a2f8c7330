"""Webhook registrations: HTTPS endpoints of the caller's, for event types from the catalogue.

The signing secret is generated here, shown once (create, rotate) and stored **sealed** with the prompt
sealer (AES-256-GCM envelope under a KEK from the local key file or Key Vault, bound to
``org:<id>/webhook:<id>``): deliveries must sign with it, so a one-way hash would not do, and a copy of
the database alone does not reveal it. Users manage their own webhooks; holders of ``webhooks:manage``
(org admins) see and manage every webhook of their organization; anything else is not found (404).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from donatello import audit
from donatello.config import Settings
from donatello.core.clock import utcnow
from donatello.core.errors import Conflict, NotFound
from donatello.core.pagination import Page, decode_cursor, page_of
from donatello.models import Webhook, WebhookDelivery
from donatello.sealing import PromptSealer
from donatello.tenancy import Action, Permission, Principal, ensure
from donatello.webhooks import catalogue, repository, signing, targets
from donatello.webhooks.schemas import (
    DeliveryRead,
    PingAccepted,
    WebhookCreate,
    WebhookRead,
    WebhookUpdate,
    WebhookWithSecret,
)


@dataclass(frozen=True)
class Outbound:
    """What registering needs besides the database: settings, the sealer, and a DNS resolver."""

    settings: Settings
    sealer: PromptSealer
    resolver: targets.Resolver


def secret_context(organization_id: uuid.UUID, webhook_id: uuid.UUID) -> str:
    """The sealing context: a sealed secret copied to another webhook or tenant does not open."""
    return f"org:{organization_id}/webhook:{webhook_id}"


async def create(
    session: AsyncSession, principal: Principal, body: WebhookCreate, outbound: Outbound
) -> WebhookWithSecret:
    """Register the caller's webhook; the URL must reach a public address (unless allowed by settings)."""
    ensure(principal, Action.OWN_WEBHOOKS)
    await _check_target(body.webhook_url, outbound)
    secret = signing.new_secret()
    webhook_id = uuid.uuid4()
    sealed = await outbound.sealer.seal(secret, context=secret_context(principal.organization_id, webhook_id))
    webhook = await repository.add(
        session,
        Webhook(
            id=webhook_id,
            organization_id=principal.organization_id,
            user_id=principal.user_id,
            webhook_url=body.webhook_url,
            secret_hash=sealed.envelope,
            event_types=body.event_types,
            retry_count=outbound.settings.webhooks_retries,
        ),
    )
    await audit.record_event(
        session,
        "webhook.created",
        resource=("webhook", webhook.id),
        organization_id=webhook.organization_id,
        actor=principal,
        details=_details(webhook, {"event_types": webhook.event_types}),
    )
    return _with_secret(webhook, secret)


async def list_webhooks(
    session: AsyncSession, principal: Principal, user_id: uuid.UUID | None, cursor: str | None, limit: int
) -> Page[WebhookRead]:
    """Own webhooks; a ``webhooks:manage`` holder sees the organization's (or one user's: ``user_id``)."""
    if not principal.can(Permission.WEBHOOKS_MANAGE):
        user_id = principal.user_id
    rows = await repository.listing(session, principal, user_id, decode_cursor(cursor, 2), limit + 1)
    kept, next_cursor = page_of(rows, limit, key=lambda row: [row.created_at.isoformat(), row.id])
    return Page(items=[WebhookRead.model_validate(row) for row in kept], next_cursor=next_cursor)


async def get(session: AsyncSession, principal: Principal, webhook_id: uuid.UUID) -> Webhook:
    """One's own webhook (a ``webhooks:manage`` holder: any of the organization's); else not found."""
    webhook = await repository.get(session, principal, webhook_id)
    if webhook is None or (
        webhook.user_id != principal.user_id and not principal.can(Permission.WEBHOOKS_MANAGE)
    ):
        raise NotFound("webhook", webhook_id)
    return webhook


async def update(
    session: AsyncSession,
    principal: Principal,
    webhook_id: uuid.UUID,
    body: WebhookUpdate,
    outbound: Outbound,
) -> Webhook:
    """Change the URL (checked like a new one), the event types, or pause/re-enable deliveries."""
    ensure(principal, Action.OWN_WEBHOOKS)
    webhook = await get(session, principal, webhook_id)
    changed: dict[str, Any] = {}
    if body.webhook_url is not None and body.webhook_url != webhook.webhook_url:
        await _check_target(body.webhook_url, outbound)
        webhook.webhook_url = body.webhook_url
        changed["host"] = urlsplit(body.webhook_url).hostname
    if body.event_types is not None and body.event_types != webhook.event_types:
        webhook.event_types = body.event_types
        changed["event_types"] = body.event_types
    if body.is_active is not None and body.is_active != webhook.is_active:
        webhook.is_active = body.is_active
        if body.is_active:
            webhook.consecutive_failures = 0  # a fresh start: the failure run that disabled it is over
        changed["is_active"] = body.is_active
    if changed:
        await repository.refresh(session, webhook)
        await audit.record_event(
            session,
            "webhook.updated",
            resource=("webhook", webhook.id),
            organization_id=webhook.organization_id,
            actor=principal,
            details=_details(webhook, {"changed": changed}),
        )
    return webhook


async def rotate_secret(
    session: AsyncSession, principal: Principal, webhook_id: uuid.UUID, outbound: Outbound
) -> WebhookWithSecret:
    """Replace the signing secret at once (deliveries from now on are signed with the new one)."""
    ensure(principal, Action.OWN_WEBHOOKS)
    webhook = await get(session, principal, webhook_id)
    secret = signing.new_secret()
    sealed = await outbound.sealer.seal(secret, context=secret_context(webhook.organization_id, webhook.id))
    webhook.secret_hash = sealed.envelope
    await repository.refresh(session, webhook)
    await audit.record_event(
        session,
        "webhook.secret_rotated",
        resource=("webhook", webhook.id),
        organization_id=webhook.organization_id,
        actor=principal,
        details=_details(webhook, {}),
    )
    return _with_secret(webhook, secret)


async def delete(session: AsyncSession, principal: Principal, webhook_id: uuid.UUID) -> None:
    """Remove the webhook and its deliveries (pending ones are never sent)."""
    ensure(principal, Action.OWN_WEBHOOKS)
    webhook = await get(session, principal, webhook_id)
    await audit.record_event(
        session,
        "webhook.deleted",
        resource=("webhook", webhook.id),
        organization_id=webhook.organization_id,
        actor=principal,
        details=_details(webhook, {}),
    )
    await repository.delete(session, webhook)


async def ping(session: AsyncSession, principal: Principal, webhook_id: uuid.UUID) -> PingAccepted:
    """Queue a signed ``webhook.ping`` delivery to the webhook (the worker sends it like any event)."""
    ensure(principal, Action.OWN_WEBHOOKS)
    webhook = await get(session, principal, webhook_id)
    if not webhook.is_active:
        raise Conflict("The webhook is disabled; enable it before pinging it")
    event_id = uuid.uuid4()
    delivery = await repository.add_delivery(
        session,
        WebhookDelivery(
            organization_id=webhook.organization_id,
            webhook_id=webhook.id,
            event_id=event_id,
            event_type=catalogue.PING,
            body=catalogue.ping_body(event_id, webhook.organization_id, webhook.id, utcnow()),
        ),
    )
    await audit.record_event(
        session,
        "webhook.pinged",
        resource=("webhook", webhook.id),
        organization_id=webhook.organization_id,
        actor=principal,
        details=_details(webhook, {"delivery_id": delivery.id}),
    )
    return PingAccepted(delivery_id=delivery.id, event_type=catalogue.PING)


async def deliveries(
    session: AsyncSession,
    principal: Principal,
    webhook_id: uuid.UUID,
    status: str | None,
    cursor: str | None,
    limit: int,
) -> Page[DeliveryRead]:
    """A webhook's deliveries, newest first — for whoever may see the webhook."""
    webhook = await get(session, principal, webhook_id)
    rows = await repository.deliveries(session, webhook.id, status, decode_cursor(cursor, 2), limit + 1)
    kept, next_cursor = page_of(rows, limit, key=lambda row: [row.created_at.isoformat(), row.id])
    return Page(items=[DeliveryRead.model_validate(row) for row in kept], next_cursor=next_cursor)


async def redeliver(
    session: AsyncSession, principal: Principal, webhook_id: uuid.UUID, delivery_id: uuid.UUID
) -> DeliveryRead:
    """Send a delivered or failed event again, with a fresh series of attempts (same delivery id, so a
    receiver that deduplicates on Donatello-Delivery sees it as the same event)."""
    ensure(principal, Action.OWN_WEBHOOKS)
    webhook = await get(session, principal, webhook_id)
    if not webhook.is_active:
        raise Conflict("The webhook is disabled; enable it before redelivering")
    requeued = await repository.requeue(session, webhook.id, delivery_id, utcnow())
    if requeued is None:
        if await repository.delivery(session, webhook.id, delivery_id) is None:
            raise NotFound("delivery", delivery_id)
        raise Conflict("The delivery is already queued; it will be attempted when due")
    await audit.record_event(
        session,
        "webhook.redelivered",
        resource=("webhook", webhook.id),
        organization_id=webhook.organization_id,
        actor=principal,
        details=_details(webhook, {"delivery_id": str(delivery_id), "event_type": requeued.event_type}),
    )
    return DeliveryRead.model_validate(requeued)


async def _check_target(url: str, outbound: Outbound) -> None:
    await targets.resolve(
        url, outbound.resolver, allow_private=outbound.settings.webhooks_allow_private_targets
    )


def _with_secret(webhook: Webhook, secret: str) -> WebhookWithSecret:
    return WebhookWithSecret.model_validate(
        {**WebhookRead.model_validate(webhook).model_dump(), "secret": secret}
    )


def _details(webhook: Webhook, metadata: dict[str, Any]) -> dict[str, Any]:
    """Audit details name the host, never the full URL (it may carry a token) nor the secret."""
    return {"owner_id": str(webhook.user_id), "host": urlsplit(webhook.webhook_url).hostname, **metadata}
