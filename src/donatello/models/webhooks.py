"""Outgoing webhook subscriptions."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, SmallInteger, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from donatello.models.base import (
    Base,
    created_at,
    organization_fk,
    tenant_table,
    updated_at,
    uuid_pk,
)


class Webhook(Base):
    """A user's webhook subscription (seed: ERD only).

    Additions and deviations: ``organization_id`` (tenant-owned table); CHECK that ``webhook_url`` is an
    http(s) URL; ``consecutive_failures`` (to disable a dead endpoint, while ``retry_count`` is the
    per-delivery retry setting). ``secret_hash`` keeps the ERD's name but holds the signing secret
    **envelope-encrypted**, not a one-way hash: deliveries are signed (HMAC) with the secret, which a hash
    could not do.
    """

    __tablename__ = tenant_table("webhooks")

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = organization_fk()
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True, comment="Owner of the subscription"
    )
    webhook_url: Mapped[str] = mapped_column(String(2048), comment="Endpoint deliveries are POSTed to")
    secret_hash: Mapped[str] = mapped_column(
        String(255),
        comment="Signing secret, envelope-encrypted (not a hash, despite the name): needed to sign",
    )
    event_types: Mapped[list[Any]] = mapped_column(
        JSONB, server_default=text("'[]'::jsonb"), comment="JSON array of subscribed event types"
    )
    is_active: Mapped[bool] = mapped_column(server_default=text("true"))
    retry_count: Mapped[int] = mapped_column(server_default=text("0"), comment="Retries per delivery")
    consecutive_failures: Mapped[int] = mapped_column(
        server_default=text("0"), comment="Failed deliveries in a row; reset on success"
    )
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()

    __table_args__ = (
        CheckConstraint(
            "webhook_url LIKE 'https://%' OR webhook_url LIKE 'http://%'", name="webhook_url_scheme"
        ),
        CheckConstraint("retry_count >= 0", name="retry_count_nonneg"),
        CheckConstraint("consecutive_failures >= 0", name="consecutive_failures_nonneg"),
        CheckConstraint("jsonb_typeof(event_types) = 'array'", name="event_types_array"),
        {"comment": "Outgoing webhook subscriptions"},
    )


DELIVERY_STATUSES = ("pending", "delivered", "failed")


class WebhookDelivery(Base):
    """One event to deliver to one webhook (new table): the durable retry state.

    Rows are written by the fan-out (from committed audit outbox rows) or by a test ping; the delivery job
    claims due rows (``FOR UPDATE SKIP LOCKED``), pushes ``next_attempt_at`` out by a lease before the
    HTTP call (so a crashed worker's claim comes due again) and records the outcome afterwards. ``body`` is
    the exact JSON sent on every attempt (only the signature's timestamp changes). Unique (webhook, event,
    type): re-running the fan-out never delivers an event twice.
    """

    __tablename__ = tenant_table("webhook_deliveries")

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = organization_fk(index=False)
    webhook_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    event_id: Mapped[uuid.UUID] = mapped_column(comment="Audit event id (a ping: its own id)")
    event_type: Mapped[str] = mapped_column(String(100), comment="Webhook event type (catalogue)")
    outbox_id: Mapped[int | None] = mapped_column(
        BigInteger, comment="audit_outbox.id it was derived from (no FK: the outbox has its own retention)"
    )
    body: Mapped[str] = mapped_column(Text, comment="The JSON body POSTed on every attempt")
    status: Mapped[str] = mapped_column(String(20), server_default=text("'pending'"))
    attempts: Mapped[int] = mapped_column(server_default=text("0"), comment="Attempts started so far")
    next_attempt_at: Mapped[datetime] = mapped_column(
        server_default=text("now()"), comment="Due time (pending); pushed out by a lease while attempting"
    )
    last_attempt_at: Mapped[datetime | None] = mapped_column()
    last_status_code: Mapped[int | None] = mapped_column(comment="HTTP status of the last attempt")
    last_error: Mapped[str | None] = mapped_column(String(500), comment="Why the last attempt failed")
    delivered_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = created_at()

    __table_args__ = (
        CheckConstraint("status IN (" + ", ".join(f"'{s}'" for s in DELIVERY_STATUSES) + ")", name="status"),
        CheckConstraint("attempts >= 0", name="attempts_nonneg"),
        Index("uq_webhook_deliveries_event", "webhook_id", "event_id", "event_type", unique=True),
        Index("ix_webhook_deliveries_org_created", "organization_id", "created_at"),
        Index(
            "ix_webhook_deliveries_due",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
        ),
        {"comment": "Durable webhook deliveries: one per (webhook, event), with retry state"},
    )


class WebhookFanoutState(Base):
    """Where the fan-out has read the audit outbox (new table, one row, platform-wide).

    Every outbox id up to ``settled_outbox_id`` has been fanned out for good. Ids in
    (``settled_outbox_id``, ``scanned_outbox_id``] were read once but are re-read on every pass, because a
    transaction still open when they were read may commit a lower id later. ``checkpoint_outbox_id`` becomes
    settled once every transaction that was running at ``checkpoint_xmax`` (a ``pg_snapshot_xmax``) ended.
    """

    __tablename__ = "webhook_fanout_state"

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, server_default=text("1"))
    settled_outbox_id: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    scanned_outbox_id: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    checkpoint_outbox_id: Mapped[int | None] = mapped_column(BigInteger)
    checkpoint_xmax: Mapped[int | None] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = updated_at()

    __table_args__ = (
        CheckConstraint("id = 1", name="single_row"),
        {"comment": "The webhook fan-out's position in audit_outbox (one row)"},
    )


__all__ = ["Webhook", "WebhookDelivery", "WebhookFanoutState"]
