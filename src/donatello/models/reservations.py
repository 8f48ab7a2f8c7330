"""Budget reservations: money held for in-flight generations."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from donatello.models.base import Base, Money4, created_at, organization_fk, tenant_table, uuid_pk

RESERVATION_STATUSES = ("held", "settled", "released", "expired")


class BudgetReservation(Base):
    """A hold on a department's budget for one generation, from admission until settlement (new table).

    ``department_budgets.reserved_aud`` is the sum of the ``held`` rows of its department (an invariant
    checked by ``budgets.invariants``); the rows say *which* generation holds what and until when, so:

    * settlement and release are idempotent (a reservation changes state once, under the budget lock);
    * a hold past ``expires_at`` stops counting at once, even if no job ran, because every reader and
      writer subtracts overdue holds and writers sweep them (a crashed worker cannot leak budget);
    * a batch reserves all its generations in one transaction, all or nothing.

    ``generation_id``'s foreign key is deferred: admission reserves first and inserts the generation row
    later in the same transaction, so a refusal never leaves a half-written generation behind.
    """

    __tablename__ = tenant_table("budget_reservations")

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = organization_fk(index=False)
    department_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("departments.id", ondelete="CASCADE"), comment="Department whose budget is held"
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), comment="User the hold is for (per-user caps)"
    )
    generation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("generations.id", ondelete="CASCADE", deferrable=True, initially="DEFERRED"),
        unique=True,
        comment="Generation the money is held for (one reservation per generation)",
    )
    amount_aud: Mapped[Decimal] = mapped_column(Money4, comment="Quoted amount held (AUD)")
    status: Mapped[str] = mapped_column(
        String(10), server_default=text("'held'"), comment="held, settled, released or expired"
    )
    is_over_budget: Mapped[bool] = mapped_column(
        server_default=text("false"), comment="Admitted past the budget (soft or warn mode)"
    )
    period_start: Mapped[date] = mapped_column(comment="Budget period in which the hold was taken")
    expires_at: Mapped[datetime] = mapped_column(comment="After this instant the hold no longer counts")
    created_at: Mapped[datetime] = created_at()
    closed_at: Mapped[datetime | None] = mapped_column(comment="When it was settled, released or expired")

    __table_args__ = (
        CheckConstraint("amount_aud >= 0", name="amount_nonneg"),
        CheckConstraint(f"status IN ({', '.join(repr(s) for s in RESERVATION_STATUSES)})", name="status"),
        CheckConstraint("(status = 'held') = (closed_at IS NULL)", name="closed_at"),
        Index(
            "ix_budget_reservations_held",
            "department_id",
            "expires_at",
            postgresql_where=text("status = 'held'"),
        ),
        Index("ix_budget_reservations_organization_id", "organization_id"),
        {"comment": "Money held on department budgets by in-flight generations"},
    )
