"""The queue's shared state: calls made to each model deployment (so every worker process together keeps
to its quota) and when each department and person was last served (so they take turns)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, text
from sqlalchemy.orm import Mapped, mapped_column

from donatello.models.base import Base, uuid_pk


class ModelCall(Base):
    """One provider call a worker made (a claim of a generation job on a model with a quota).

    Platform-wide, like the catalogue: a deployment's quota is shared by every tenant. Rows older than the
    quota window are deleted by the next claim on the same model."""

    __tablename__ = "model_calls"

    id: Mapped[uuid.UUID] = uuid_pk()
    provider_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("model_providers.id", ondelete="CASCADE"), comment="The model deployment called"
    )
    generation_id: Mapped[uuid.UUID] = mapped_column(comment="The generation job making the call")
    called_at: Mapped[datetime] = mapped_column(
        server_default=text("now()"),
        comment="When the call was made: its claim, stamped again just before the request is sent",
    )

    __table_args__ = (
        Index("idx_model_calls_provider_called_at", "provider_id", "called_at"),
        {"comment": "Provider calls in the current quota window of each model deployment"},
    )


class QueueTurn(Base):
    """When a department or a person last had a generation job claimed: the claim serves, within a
    priority, the department served longest ago, then its person served longest ago (round robin)."""

    __tablename__ = "queue_turns"

    subject_id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, comment="A department's or a user's id (random UUIDs: they never collide)"
    )
    served_at: Mapped[datetime] = mapped_column(comment="When its latest job was claimed")

    __table_args__ = ({"comment": "Round-robin turns of departments and people in the generation queue"},)
