"""In-app notifications and their e-mail, derived from the audit outbox."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, SmallInteger, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from donatello.models.base import Base, created_at, organization_fk, tenant_table, updated_at, uuid_pk

NOTIFICATION_KINDS = (
    "budget_request_decided",
    "budget_request_waiting",
    "budget_threshold_crossed",
    "export_ready",
    "generation_failed",
    "provider_retiring",
)
EMAIL_STATUSES = ("none", "pending", "sent", "failed")


class Notification(Base):
    """One thing one person is told (new table), in the app and, if they chose it, by e-mail.

    Written by the notification fan-out from committed audit outbox rows; unique (user, event, kind), so
    re-reading the outbox never tells anyone twice. The e-mail's retry state lives on the row: ``pending``
    rows are claimed (``FOR UPDATE SKIP LOCKED``) by the mail job, which sends and records the outcome.
    """

    __tablename__ = tenant_table("notifications")

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = organization_fk(index=False)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    event_id: Mapped[uuid.UUID] = mapped_column(comment="Audit event it was derived from")
    kind: Mapped[str] = mapped_column(String(50))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, comment="Plain text; never a prompt")
    link: Mapped[str | None] = mapped_column(String(500), comment="Path of the page it is about")
    read_at: Mapped[datetime | None] = mapped_column()
    email_status: Mapped[str] = mapped_column(String(20), server_default=text("'none'"))
    email_attempts: Mapped[int] = mapped_column(server_default=text("0"))
    email_next_attempt_at: Mapped[datetime | None] = mapped_column(
        comment="Due time of the next e-mail attempt (pending); pushed out by a lease while sending"
    )
    email_last_error: Mapped[str | None] = mapped_column(String(500))
    emailed_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = created_at()

    __table_args__ = (
        CheckConstraint("kind IN (" + ", ".join(f"'{k}'" for k in NOTIFICATION_KINDS) + ")", name="kind"),
        CheckConstraint(
            "email_status IN (" + ", ".join(f"'{s}'" for s in EMAIL_STATUSES) + ")", name="email_status"
        ),
        CheckConstraint("email_attempts >= 0", name="email_attempts_nonneg"),
        Index("uq_notifications_event", "user_id", "event_id", "kind", unique=True),
        Index("ix_notifications_user_created", "user_id", "created_at"),
        Index(
            "ix_notifications_email_due",
            "email_next_attempt_at",
            postgresql_where=text("email_status = 'pending'"),
        ),
        {"comment": "In-app notifications, one per (person, event, kind), with e-mail retry state"},
    )


class NotificationFanoutState(Base):
    """Where the notification fan-out has read the audit outbox (new table, one row, platform-wide);
    the same settle-point cursor as ``webhook_fanout_state``."""

    __tablename__ = "notification_fanout_state"

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, server_default=text("1"))
    settled_outbox_id: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    scanned_outbox_id: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    checkpoint_outbox_id: Mapped[int | None] = mapped_column(BigInteger)
    checkpoint_xmax: Mapped[int | None] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = updated_at()

    __table_args__ = (
        CheckConstraint("id = 1", name="single_row"),
        {"comment": "The notification fan-out's position in audit_outbox (one row)"},
    )


__all__ = ["NOTIFICATION_KINDS", "Notification", "NotificationFanoutState"]
