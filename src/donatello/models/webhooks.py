"""Outgoing webhook subscriptions."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, String, text
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


__all__ = ["Webhook"]
