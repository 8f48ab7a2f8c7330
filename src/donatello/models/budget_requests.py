"""Requests for more budget: asked by a department's manager or by someone a budget refused, decided by
an org admin (new table)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from donatello.models.base import Base, Money2, created_at, organization_fk, tenant_table, updated_at, uuid_pk

SUBJECTS = ("department", "user_cap")
SCOPES = ("this_period", "permanent")
STATUSES = ("open", "approved", "declined", "expired")


class BudgetIncreaseRequest(Base):
    """One ask for more budget and, once decided, its decision.

    * ``subject``: ``department`` (the department's budget) or ``user_cap`` (the asker's per-user cap,
      asked straight from a cap refusal).
    * ``scope``: ``this_period`` raises only the period it was asked in (a top-up, kept apart from the
      monthly figure); ``permanent`` raises the monthly amount (or the department's per-user cap).
    * At most one open request per department, subject and scope (per user for ``user_cap``): a second
      ask is refused with 409 naming the open one, so an admin never decides an amount that changes
      under them.
    * ``status`` moves once from ``open`` (a conditional update, so concurrent decisions make one);
      an open request lapses at the end of ``period_start``'s period (expired).
    """

    __tablename__ = tenant_table("budget_increase_requests")

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = organization_fk()
    department_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("departments.id", ondelete="CASCADE"), comment="Department whose budget is asked for"
    )
    requested_by: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), comment="Who asked"
    )
    subject: Mapped[str] = mapped_column(String(20), comment="department or user_cap")
    scope: Mapped[str] = mapped_column(String(20), comment="this_period (top-up) or permanent")
    amount_aud: Mapped[Decimal] = mapped_column(Money2, comment="Amount asked for (AUD)")
    reason: Mapped[str] = mapped_column(Text, comment="Why the asker needs it")
    refusal_event_id: Mapped[uuid.UUID | None] = mapped_column(
        comment="Audit event of the refusal this request answers (budget.request_refused), if any"
    )
    period_start: Mapped[date] = mapped_column(comment="Budget period the request was made in")
    status: Mapped[str] = mapped_column(String(10), server_default=text("'open'"))
    approved_amount_aud: Mapped[Decimal | None] = mapped_column(
        Money2, comment="Amount granted (at most amount_aud) when approved"
    )
    decided_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None] = mapped_column()
    decision_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()

    __table_args__ = (
        CheckConstraint("amount_aud > 0", name="amount_positive"),
        CheckConstraint(
            "approved_amount_aud IS NULL OR (approved_amount_aud > 0 AND approved_amount_aud <= amount_aud)",
            name="approved_within_asked",
        ),
        CheckConstraint(f"subject IN {SUBJECTS}", name="subject"),
        CheckConstraint(f"scope IN {SCOPES}", name="scope"),
        CheckConstraint(f"status IN {STATUSES}", name="status"),
        CheckConstraint("(status = 'approved') = (approved_amount_aud IS NOT NULL)", name="approved_amount"),
        Index(
            "uq_budget_increase_requests_open_department",
            "department_id",
            "scope",
            unique=True,
            postgresql_where=text("status = 'open' AND subject = 'department'"),
        ),
        Index(
            "uq_budget_increase_requests_open_user_cap",
            "department_id",
            "requested_by",
            "scope",
            unique=True,
            postgresql_where=text("status = 'open' AND subject = 'user_cap'"),
        ),
        Index("ix_budget_increase_requests_queue", "organization_id", "status", "created_at"),
        {"comment": "Requests for more budget and their decisions"},
    )
