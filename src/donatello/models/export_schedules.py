"""Scheduled cost exports: what finance asked to be dropped into storage, and each file a schedule owes."""

from __future__ import annotations

import uuid
from datetime import datetime, time

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from donatello.models.base import Base, created_at, organization_fk, tenant_table, updated_at, uuid_pk

EXPORT_RUN_KINDS: tuple[str, ...] = ("daily", "month-to-date", "month-close")
#: ``superseded``: a month's file a later run owes too (the next day's month to date), so never written.
EXPORT_RUN_STATES: tuple[str, ...] = ("due", "running", "done", "failed", "superseded")


class ExportSchedule(Base):
    """A cost export written to storage every day at a local time: the previous day's file and/or the
    month to date (and the closed month once more, a few days after it ends)."""

    __tablename__ = tenant_table("export_schedules")

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = organization_fk()
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(String(100))
    format: Mapped[str] = mapped_column(String(20))
    focus_version: Mapped[str | None] = mapped_column(String(5))
    daily_at: Mapped[time] = mapped_column(comment="Local time of day the schedule runs")
    daily: Mapped[bool] = mapped_column(comment="Writes the previous day's file")
    month_to_date: Mapped[bool] = mapped_column(comment="Writes the month so far")
    enabled: Mapped[bool] = mapped_column(server_default=text("true"))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()

    __table_args__ = (
        CheckConstraint("format IN ('csv', 'parquet', 'focus', 'focus-csv')", name="format"),
        CheckConstraint(
            "(focus_version IS NULL) = (format NOT IN ('focus', 'focus-csv'))"
            " AND (focus_version IS NULL OR focus_version IN ('1.2', '1.3'))",
            name="focus_version",
        ),
        CheckConstraint("daily OR month_to_date", name="writes_something"),
        {"comment": "Cost exports dropped into storage on a schedule (FinOps hubs layout)"},
    )


class ExportScheduleRun(Base):
    """One file a schedule owes: planned once (unique per schedule, kind and range), run by a worker,
    retried with back-off when it fails, and where it was written once done."""

    __tablename__ = tenant_table("export_schedule_runs")

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = organization_fk()
    schedule_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("export_schedules.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    range_from: Mapped[datetime]
    range_to: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(20), server_default=text("'due'"))
    attempts: Mapped[int] = mapped_column(server_default=text("0"))
    next_attempt_at: Mapped[datetime] = mapped_column(comment="When it is (next) due")
    path: Mapped[str | None] = mapped_column(String(500), comment="Where the file was written")
    rows_written: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    error: Mapped[str | None] = mapped_column(String(1000))
    heartbeat_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at()

    __table_args__ = (
        CheckConstraint(f"kind IN ({', '.join(repr(k) for k in EXPORT_RUN_KINDS)})", name="kind"),
        CheckConstraint(f"status IN ({', '.join(repr(s) for s in EXPORT_RUN_STATES)})", name="status"),
        CheckConstraint("attempts >= 0", name="attempts_nonneg"),
        UniqueConstraint("schedule_id", "kind", "range_from", "range_to"),  # planned once
        Index(
            "ix_export_schedule_runs_due",
            "next_attempt_at",
            postgresql_where=text("status IN ('due', 'failed', 'running')"),
        ),
        {"comment": "Each file a schedule owes, and its outcome"},
    )


__all__ = ["EXPORT_RUN_KINDS", "EXPORT_RUN_STATES", "ExportSchedule", "ExportScheduleRun"]
