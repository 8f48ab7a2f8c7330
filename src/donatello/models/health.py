"""How each model is doing, shared by every worker process: its circuit breaker and its recent calls."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from donatello.models.base import Base, uuid_pk

CIRCUIT_STATES = ("closed", "open", "half_open")


class ModelCircuit(Base):
    """A model's circuit breaker: open after a run of failed calls (no call is made), half open while
    one trial call is under way, closed again when it succeeds. Platform-wide, like the catalogue."""

    __tablename__ = "model_circuits"

    provider_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("model_providers.id", ondelete="CASCADE"), primary_key=True, comment="The model deployment"
    )
    state: Mapped[str] = mapped_column(
        String(10),
        server_default=text("'closed'"),
        comment="closed: calls flow; open: no calls; half_open: one trial call is under way",
    )
    consecutive_failures: Mapped[int] = mapped_column(
        server_default=text("0"), comment="Failed calls in a row since the last success"
    )
    opened_at: Mapped[datetime | None] = mapped_column(comment="When it last opened")
    trial_after: Mapped[datetime | None] = mapped_column(
        comment="When an open circuit lets one trial call through"
    )
    trial_started_at: Mapped[datetime | None] = mapped_column(
        comment="When the half-open trial call was granted"
    )
    updated_at: Mapped[datetime] = mapped_column(server_default=text("now()"))

    __table_args__ = (
        CheckConstraint(f"state IN ({', '.join(repr(s) for s in CIRCUIT_STATES)})", name="state"),
        {"comment": "Circuit breaker of each model, shared by every worker process"},
    )


class ModelCallOutcome(Base):
    """One finished call to a model (its retries included): whether it answered, and how fast. Rows older
    than the health window are deleted as new ones arrive."""

    __tablename__ = "model_call_outcomes"

    id: Mapped[uuid.UUID] = uuid_pk()
    provider_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("model_providers.id", ondelete="CASCADE"), comment="The model deployment called"
    )
    finished_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
    succeeded: Mapped[bool] = mapped_column(comment="Whether the model answered")
    latency_ms: Mapped[int] = mapped_column(comment="How long the call took")

    __table_args__ = (
        Index("idx_model_call_outcomes_provider_finished", "provider_id", "finished_at"),
        {"comment": "Recent calls of each model, for its rolling success rate and latency"},
    )
