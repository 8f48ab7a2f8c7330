"""Batches of generations requested together."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from donatello.models.base import Base, created_at, organization_fk, tenant_table, uuid_pk


class GenerationBatch(Base):
    """A batch request (new table): its generations carry ``batch_id``.

    The whole batch's quote is reserved in one transaction, all or nothing; progress (total, pending,
    processing, completed, failed, cancelled) is counted from its generations, so it can never drift.
    """

    __tablename__ = tenant_table("generation_batches")

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = organization_fk(index=False)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), comment="Requester"
    )
    department_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("departments.id", ondelete="CASCADE"), comment="Department charged"
    )
    idempotency_key: Mapped[str | None] = mapped_column(
        String(255), comment="Client-supplied Idempotency-Key; unique per user when present"
    )
    request_fingerprint: Mapped[str] = mapped_column(
        String(64), comment="SHA-256 of the canonical request, to tell a retry from a different request"
    )
    total: Mapped[int] = mapped_column(comment="Number of generations in the batch")
    created_at: Mapped[datetime] = created_at()

    __table_args__ = (
        CheckConstraint("total >= 1", name="total_positive"),
        Index("ix_generation_batches_organization_id", "organization_id"),
        Index("ix_generation_batches_user_created", "user_id", "created_at"),
        Index(
            "uq_generation_batches_user_idempotency_key",
            "user_id",
            "idempotency_key",
            unique=True,
            postgresql_where=text("idempotency_key IS NOT NULL"),
        ),
        {"comment": "Batch generation requests; progress is counted from their generations"},
    )
