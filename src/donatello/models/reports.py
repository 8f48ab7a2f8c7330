"""Reporting tables: daily spend rollups (maintained with every cost event) and export jobs."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from donatello.models.base import Base, Money4, created_at, organization_fk, tenant_table, uuid_pk

EXPORT_FORMATS: tuple[str, ...] = ("csv", "parquet", "focus", "focus-csv")
EXPORT_JOB_STATES: tuple[str, ...] = ("queued", "running", "done", "failed")


class CostDailyRollup(Base):
    """Spend per (organization, department, user, provider, model, local day), kept in step with the
    ledger: every cost event adds itself here in the transaction that writes it, so reports never scan
    ``cost_events``. ``day`` is the event's date in the organization's time zone (so a day and a budget
    period agree, DST included). Attribution columns hold the most recent frozen attribution seen.
    ``charges_aud + refunds_aud + corrections_aud`` is the net spend; amounts are NUMERIC, never float.
    """

    __tablename__ = tenant_table("cost_daily_rollups")

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = organization_fk(index=False)  # uq leads with it
    department_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("departments.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(String(50))
    model: Mapped[str] = mapped_column(String(100))
    day: Mapped[date] = mapped_column(comment="Local date in the organization's time zone")
    department_code: Mapped[str] = mapped_column(String(50), comment="Latest frozen attribution")
    department_name: Mapped[str] = mapped_column(String(255), comment="Latest frozen attribution")
    user_email: Mapped[str] = mapped_column(String(255), comment="Latest frozen attribution")
    charges_aud: Mapped[Decimal] = mapped_column(Money4, server_default=text("0"))
    refunds_aud: Mapped[Decimal] = mapped_column(Money4, server_default=text("0"), comment="<= 0")
    corrections_aud: Mapped[Decimal] = mapped_column(Money4, server_default=text("0"))
    estimated_aud: Mapped[Decimal] = mapped_column(Money4, server_default=text("0"))
    images: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    events: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    charge_count: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    over_budget_count: Mapped[int] = mapped_column(
        BigInteger, server_default=text("0"), comment="Charges admitted over budget (soft/warn)"
    )

    __table_args__ = (
        UniqueConstraint(
            "organization_id",
            "department_id",
            "user_id",
            "provider",
            "model",
            "day",
            name="uq_cost_daily_rollups_key",
        ),
        Index("ix_cost_daily_rollups_department_day", "department_id", "day"),
        Index("ix_cost_daily_rollups_org_day", "organization_id", "day"),
        {"comment": "Daily spend rollups maintained with every cost event (reports read these)"},
    )


class ExportJob(Base):
    """A cost export too large to stream in one request: a worker writes the file to storage and leaves
    its progress and storage name here."""

    __tablename__ = tenant_table("export_jobs")

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = organization_fk()
    requested_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    department_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("departments.id", ondelete="CASCADE"))
    range_from: Mapped[datetime]
    range_to: Mapped[datetime]
    format: Mapped[str] = mapped_column(String(20))
    focus_version: Mapped[str | None] = mapped_column(String(5), comment="FOCUS version of a FOCUS export")
    status: Mapped[str] = mapped_column(String(20), server_default=text("'queued'"))
    rows_estimate: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    rows_written: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    storage_name: Mapped[str | None] = mapped_column(String(500))
    error: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime] = created_at()
    finished_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None] = mapped_column(
        comment="Last sign of life of the worker running it; a running job silent too long is taken over"
    )

    __table_args__ = (
        CheckConstraint(f"format IN ({', '.join(repr(f) for f in EXPORT_FORMATS)})", name="format"),
        CheckConstraint(f"status IN ({', '.join(repr(s) for s in EXPORT_JOB_STATES)})", name="status"),
        CheckConstraint(
            "(focus_version IS NULL) = (format NOT IN ('focus', 'focus-csv'))"
            " AND (focus_version IS NULL OR focus_version IN ('1.2', '1.3'))",
            name="focus_version",
        ),
        Index("ix_export_jobs_queued", "created_at", postgresql_where=text("status = 'queued'")),
        {"comment": "Background cost exports and their progress"},
    )


__all__ = ["EXPORT_FORMATS", "EXPORT_JOB_STATES", "CostDailyRollup", "ExportJob"]
