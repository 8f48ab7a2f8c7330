"""Department budgets: the current period, closed periods, and threshold alerts."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column

from donatello.models.base import (
    Base,
    Money2,
    Spend,
    created_at,
    organization_fk,
    tenant_table,
    updated_at,
    uuid_pk,
)

ENFORCEMENT_MODES_CHECK = "enforcement_mode IN ('hard', 'soft', 'warn')"
ENFORCEMENT_MODE_COMMENT = "hard: block, soft: allow+log, warn: alert+allow"


def period_budget(monthly: Decimal, top_up: Decimal) -> Decimal:
    """What a period may spend: its monthly amount plus the top-ups approved for that period alone.

    The one spelling of the rule: plain ``+``, so it reads Decimals in Python and columns in SQL (the
    ``period_budget_aud`` hybrids below, the admission gate's ``UPDATE``, the reports)."""
    return monthly + top_up  # on the class, the hybrids pass columns: the same + builds the SQL


class DepartmentBudget(Base):
    """A department's budget and spend for the current period (one row per department).

    Additions and deviations:

    * ``organization_id``: tenant-owned table (row-level security, tenancy scoping).
    * ``current_spend_aud`` is NUMERIC(12,4) NOT NULL (seed: DECIMAL(10,2), nullable): spend accrues from
      cost events at 4 dp, and rounding every event to cents would drift from the sum of cost events
      (e.g. 0.0425 per image); NULL spend would make the budget check ``spend + cost <= budget`` NULL.
    * ``reserved_aud`` (added): money held by in-flight generations, so concurrent requests cannot
      together overspend a hard budget (check is ``spend + reserved + estimate <= budget``).
    * ``alert_thresholds`` (added): utilization percentages that raise an alert (once per period, see
      ``BudgetThresholdAlert``).
    * ``per_user_monthly_cap_aud`` (added): optional cap per user per period within the department.
    * ``monthly_budget_aud`` is NUMERIC(12,2) (seed DECIMAL(10,2)): headroom, still whole cents.
    * no ``current_spend_aud >= 0`` CHECK (seed has one): spend is the sum of the period's cost events,
      and a refund of last month's charge early in a new month makes that sum negative; the CHECK would
      force either dropping the refund or rewriting a closed period. (Migration 0004.)
    """

    __tablename__ = tenant_table("department_budgets")

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = organization_fk()
    department_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("departments.id", ondelete="CASCADE"), unique=True
    )
    monthly_budget_aud: Mapped[Decimal] = mapped_column(Money2)
    current_spend_aud: Mapped[Decimal] = mapped_column(
        Spend,
        server_default=text("0"),
        comment="Spend accrued in the current period from cost events (AUD, 4 dp)",
    )
    reserved_aud: Mapped[Decimal] = mapped_column(
        Spend,
        server_default=text("0"),
        comment="AUD held by in-flight generations (reservations), released on completion or expiry",
    )
    budget_period_start: Mapped[date] = mapped_column()
    budget_period_end: Mapped[date] = mapped_column()
    enforcement_mode: Mapped[str] = mapped_column(
        String(10), server_default=text("'hard'"), comment=ENFORCEMENT_MODE_COMMENT
    )
    alert_thresholds: Mapped[list[Any]] = mapped_column(
        JSONB,
        server_default=text("'[50, 80, 100]'::jsonb"),
        comment="Utilization percentages (JSON array of integers) that raise a budget alert",
    )
    per_user_monthly_cap_aud: Mapped[Decimal | None] = mapped_column(
        Money2, comment="Optional spend cap per user per period (AUD); NULL = no per-user cap"
    )
    period_top_up_aud: Mapped[Decimal] = mapped_column(
        Money2,
        server_default=text("0"),
        comment="Approved top-ups for the current period only (AUD); the period's budget is monthly + top-up",
    )
    last_reset_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()

    __table_args__ = (
        CheckConstraint("monthly_budget_aud >= 0", name="monthly_budget_nonneg"),
        CheckConstraint("reserved_aud >= 0", name="reserved_nonneg"),
        CheckConstraint("per_user_monthly_cap_aud >= 0", name="per_user_cap_nonneg"),
        CheckConstraint("period_top_up_aud >= 0", name="period_top_up_nonneg"),
        CheckConstraint(ENFORCEMENT_MODES_CHECK, name="enforcement_mode"),
        CheckConstraint("budget_period_end > budget_period_start", name="budget_period"),
        CheckConstraint("jsonb_typeof(alert_thresholds) = 'array'", name="alert_thresholds_array"),
        Index("idx_dept_budgets_department_id", "department_id"),
        Index("idx_dept_budgets_period", "budget_period_start", "budget_period_end"),
        Index(
            "idx_dept_budgets_utilization",
            text("(current_spend_aud / NULLIF(monthly_budget_aud, 0))"),
            postgresql_where=text("monthly_budget_aud > 0"),
        ),
        {"comment": "Monthly budget allocations and spend tracking"},
    )

    @hybrid_property
    def period_budget_aud(self) -> Decimal:
        """What the stored period may spend (``period_budget``); a column expression in SQL."""
        return period_budget(self.monthly_budget_aud, self.period_top_up_aud)


class DepartmentBudgetPeriod(Base):
    """A department's budget period, written when the period closes (new table).

    ``department_budgets`` holds only the current period and is reset at rollover; without this table
    last month's budget, spend and enforcement mode are lost, so closed periods could not be reported
    or reconciled against cost events.
    """

    __tablename__ = tenant_table("department_budget_periods")

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = organization_fk()
    department_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("departments.id", ondelete="CASCADE"), comment="Department the period belongs to"
    )
    period_start: Mapped[date] = mapped_column(comment="First day of the period (inclusive)")
    period_end: Mapped[date] = mapped_column(comment="End of the period, as in department_budgets")
    monthly_budget_aud: Mapped[Decimal] = mapped_column(Money2, comment="Budget of the period (AUD)")
    top_up_aud: Mapped[Decimal] = mapped_column(
        Money2, server_default=text("0"), comment="Top-ups approved for this period only (AUD)"
    )
    spent_aud: Mapped[Decimal] = mapped_column(
        Spend, server_default=text("0"), comment="Spend accrued in the period (AUD, 4 dp)"
    )
    reserved_at_close_aud: Mapped[Decimal] = mapped_column(
        Spend,
        server_default=text("0"),
        comment="Reservations still held when the period closed (AUD, 4 dp)",
    )
    enforcement_mode: Mapped[str] = mapped_column(
        String(10), comment=f"Enforcement mode during the period ({ENFORCEMENT_MODE_COMMENT})"
    )
    closed_at: Mapped[datetime | None] = mapped_column(comment="When the period was closed")
    created_at: Mapped[datetime] = created_at()

    __table_args__ = (
        UniqueConstraint("department_id", "period_start"),
        CheckConstraint("period_end > period_start", name="period"),
        CheckConstraint("monthly_budget_aud >= 0", name="monthly_budget_nonneg"),
        CheckConstraint("reserved_at_close_aud >= 0", name="reserved_nonneg"),
        CheckConstraint(ENFORCEMENT_MODES_CHECK, name="enforcement_mode"),
        {"comment": "Closed (historical) department budget periods"},
    )

    @hybrid_property
    def period_budget_aud(self) -> Decimal:
        """What the closed period could spend (``period_budget``); a column expression in SQL."""
        return period_budget(self.monthly_budget_aud, self.top_up_aud)


class BudgetThresholdAlert(Base):
    """A budget threshold crossed in a period (new table).

    The unique (department_id, period_start, threshold_percent) makes each alert fire once per period
    even when concurrent cost events cross the threshold together (insert ... ON CONFLICT DO NOTHING).
    """

    __tablename__ = tenant_table("budget_threshold_alerts")

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = organization_fk()
    department_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("departments.id", ondelete="CASCADE"), comment="Department whose budget was crossed"
    )
    period_start: Mapped[date] = mapped_column(comment="Start of the budget period the alert belongs to")
    threshold_percent: Mapped[int] = mapped_column(comment="Threshold crossed, percent of the budget")
    crossed_at: Mapped[datetime] = mapped_column(
        server_default=text("now()"), comment="When the threshold was crossed"
    )
    spent_aud: Mapped[Decimal] = mapped_column(Spend, comment="Spend when the threshold was crossed")
    budget_aud: Mapped[Decimal] = mapped_column(Money2, comment="Budget when the threshold was crossed")

    __table_args__ = (
        UniqueConstraint(
            "department_id",
            "period_start",
            "threshold_percent",
            name="uq_budget_threshold_alerts_dept_period_threshold",
        ),
        CheckConstraint("threshold_percent BETWEEN 1 AND 1000", name="threshold_percent"),
        {"comment": "Budget threshold alerts, at most one per threshold per department and period"},
    )


__all__ = ["BudgetThresholdAlert", "DepartmentBudget", "DepartmentBudgetPeriod"]


class BudgetDecisionCount(Base):
    """How many requests a department's budget refused (hard) or admitted past the limit (soft/warn) in
    a period (new table).

    Kept in the transaction of each decision (a refusal's commits with its audit event), so reports read
    one row per department and period instead of scanning the audit log, whatever its size.
    """

    __tablename__ = tenant_table("budget_decision_counts")

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = organization_fk(index=False)  # the unique key leads with it
    department_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("departments.id", ondelete="CASCADE"))
    period_start: Mapped[date] = mapped_column(comment="Budget period the decisions were taken in")
    refused: Mapped[int] = mapped_column(server_default=text("0"), comment="Requests refused (hard mode)")
    over_budget: Mapped[int] = mapped_column(
        server_default=text("0"), comment="Requests admitted past the budget or a user's cap (soft/warn)"
    )

    __table_args__ = (
        UniqueConstraint(
            "organization_id", "department_id", "period_start", name="uq_budget_decision_counts_key"
        ),
        CheckConstraint("refused >= 0 AND over_budget >= 0", name="counts_nonneg"),
        {"comment": "Budget refusals and over-budget admissions per department and period"},
    )
