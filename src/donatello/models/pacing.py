"""The queue's shared state: calls made to each model deployment (so every worker process together keeps
to its quota) and when each department and person was last served (so they take turns)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, text
from sqlalchemy.orm import Mapped, mapped_column

from donatello.models.base import Base, uuid_pk


class ModelCall(Base):
    """One provider call's place in a model deployment's quota window: taken by the claim of a generation
    job (not yet sent), then as each request is sent (``sent_at``).

    Platform-wide, like the catalogue: a deployment's quota is shared by every tenant. Rows out of the
    quota window are deleted by the next claim on the same model."""

    __tablename__ = "model_calls"

    id: Mapped[uuid.UUID] = uuid_pk()
    provider_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("model_providers.id", ondelete="CASCADE"), comment="The model deployment called"
    )
    generation_id: Mapped[uuid.UUID] = mapped_column(comment="The generation job making the call")
    called_at: Mapped[datetime] = mapped_column(
        server_default=text("now()"),
        comment="The latest the provider can have received the call: far ahead while that is not known "
        "(claimed, or not yet written), then when its request was written plus the arrival allowance",
    )
    sent_at: Mapped[datetime | None] = mapped_column(
        comment="When its place was taken, right before the request was sent (the earliest the provider "
        "can have received it); NULL while the job that claimed it has not sent it"
    )
    tokens: Mapped[int | None] = mapped_column(
        comment="Tokens the call counts against a token quota: its bound while in flight, then what "
        "the provider reported"
    )

    __table_args__ = (
        Index("idx_model_calls_provider_called_at", "provider_id", "called_at"),
        {"comment": "Provider calls in the current quota window of each model deployment"},
    )


class ModelPace(Base):
    """Pacing state of one model deployment that every worker process shares: a cool-down after the
    provider answered 429 (no claim of the model before it ends), and how long its calls take lately."""

    __tablename__ = "model_pacing"

    provider_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("model_providers.id", ondelete="CASCADE"),
        primary_key=True,
        comment="The model deployment",
    )
    cool_down_until: Mapped[datetime | None] = mapped_column(
        comment="No call is claimed before this: the provider answered 429 and said when to return"
    )
    seconds_per_call: Mapped[float | None] = mapped_column(
        comment="How long its calls take lately (a moving average), for estimated starts"
    )

    __table_args__ = (
        {"comment": "Shared pacing state of each model deployment: cool-downs and recent call times"},
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
