"""Every provider call a generation job makes: recorded before it is sent, its outcome once known."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from donatello.models.base import Base, organization_fk, tenant_table, uuid_pk

#: ``lost``: no answer recorded (the worker process died mid-call); ``abandoned``: the worker lost its
#: lease mid-call and stopped waiting. Both are possibly billed.
CALL_OUTCOMES: tuple[str, ...] = ("answered", "refused", "failed", "lost", "abandoned")


class ProviderCall(Base):
    """One provider call of a generation job. Written and committed before the request is sent, so a
    worker killed mid-call leaves it behind: the next attempt marks it lost and possibly billed."""

    __tablename__ = tenant_table("provider_calls")

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = organization_fk()
    generation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("generations.id", ondelete="CASCADE"), comment="The generation job making the call"
    )
    attempt: Mapped[int] = mapped_column(comment="The job's attempt that made the call")
    model: Mapped[str] = mapped_column(String(151), comment="provider/model called")
    started_at: Mapped[datetime] = mapped_column(
        server_default=text("now()"), comment="When the call was sent (recorded before it)"
    )
    outcome: Mapped[str | None] = mapped_column(
        String(20),
        comment="answered, refused, failed; lost (no answer recorded: the worker died) or abandoned "
        "(the lease was lost mid-call); NULL while in flight",
    )
    finished_at: Mapped[datetime | None] = mapped_column(comment="When the outcome was recorded")
    possibly_billed: Mapped[bool] = mapped_column(
        server_default=text("false"),
        comment="Sent, and no answer recorded: the provider may have billed it without an image kept",
    )

    __table_args__ = (
        CheckConstraint("outcome IN ('answered', 'refused', 'failed', 'lost', 'abandoned')", name="outcome"),
        Index("ix_provider_calls_generation_started", "generation_id", "started_at"),
        {"comment": "Provider calls of generation jobs, each recorded before it is sent, with its outcome"},
    )
