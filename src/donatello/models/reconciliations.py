"""Reconciliations: a provider's cost file compared with our ledger, day by day and model by model."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Numeric, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from donatello.models.base import Base, Rate, created_at, jsonb_object, organization_fk, tenant_table, uuid_pk

RECONCILIATION_FORMATS: tuple[str, ...] = ("focus", "generic")
RECONCILIATION_STATES: tuple[str, ...] = ("queued", "running", "done", "failed")
LINE_STATES: tuple[str, ...] = ("mapped", "unmapped", "no-rate", "outside-period")

Amount = Numeric(18, 4)  # AUD totals of a period: ledger precision, more headroom than a cost event
SourceAmount = Numeric(24, 8)  # the provider's own figures, at the precision its file carries
Quantity = Numeric(20, 4)


class Reconciliation(Base):
    """One imported provider cost file and its comparison's summary.

    ``content_sha256`` with ``config_sha256`` (mapping, tolerance and period, as used) makes an import
    idempotent: the same file under the same configuration is the same reconciliation. ``config`` holds
    that configuration, so a queued job runs with what the uploader saw, and a reader knows what was used.
    """

    __tablename__ = tenant_table("reconciliations")

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = organization_fk(index=False)  # uq leads with it
    requested_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    provider: Mapped[str] = mapped_column(
        String(100), comment="Provider whose bill this is, e.g. azure-openai"
    )
    format: Mapped[str] = mapped_column(String(20), comment="focus (FOCUS 1.x CSV or Parquet) or generic CSV")
    file_name: Mapped[str] = mapped_column(String(255))
    file_bytes: Mapped[int] = mapped_column(BigInteger)
    content_sha256: Mapped[str] = mapped_column(String(64), comment="SHA-256 of the uploaded file")
    config_sha256: Mapped[str] = mapped_column(String(64), comment="SHA-256 of config (canonical JSON)")
    config: Mapped[dict[str, Any]] = jsonb_object("Mapping, tolerances and period used")
    status: Mapped[str] = mapped_column(String(20), server_default=text("'queued'"))
    period_from: Mapped[date | None] = mapped_column(comment="First local day compared")
    period_to: Mapped[date | None] = mapped_column(comment="Last local day compared (inclusive)")
    rows_read: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    provider_total_aud: Mapped[Decimal | None] = mapped_column(Amount)
    charged_total_aud: Mapped[Decimal | None] = mapped_column(Amount)
    drift_total_aud: Mapped[Decimal | None] = mapped_column(Amount)
    compared_rows: Mapped[int] = mapped_column(server_default=text("0"))
    flagged_rows: Mapped[int] = mapped_column(server_default=text("0"))
    unmapped_lines: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    storage_name: Mapped[str | None] = mapped_column(String(500), comment="Upload staged for the job")
    error: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime] = created_at()
    finished_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None] = mapped_column(
        comment="Last sign of life of the worker running it; a running job silent too long is taken over"
    )

    __table_args__ = (
        UniqueConstraint(
            "organization_id", "content_sha256", "config_sha256", name="uq_reconciliations_fingerprint"
        ),
        CheckConstraint(f"format IN ({', '.join(repr(f) for f in RECONCILIATION_FORMATS)})", name="format"),
        CheckConstraint(f"status IN ({', '.join(repr(s) for s in RECONCILIATION_STATES)})", name="status"),
        Index("ix_reconciliations_org_created", "organization_id", "created_at", "id"),
        Index("ix_reconciliations_queued", "created_at", postgresql_where=text("status = 'queued'")),
        {"comment": "Provider cost files compared with the ledger"},
    )


class ReconciliationLine(Base):
    """What was kept of the provider's file: its cost summed per local day, mapping key and currency,
    with the model it maps to (none: unmapped) and the FX rate that converted it to AUD."""

    __tablename__ = tenant_table("reconciliation_lines")

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = organization_fk(index=False)  # reached through reconciliation
    reconciliation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("reconciliations.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(comment="Local day in the organization's time zone")
    source_key: Mapped[str] = mapped_column(String(500), comment="Deployment, meter or model as in the file")
    provider_name: Mapped[str | None] = mapped_column(String(100), comment="Mapped model's provider")
    model_name: Mapped[str | None] = mapped_column(String(100), comment="Mapped model (none: unmapped)")
    status: Mapped[str] = mapped_column(String(20))
    currency: Mapped[str] = mapped_column(String(3))
    cost: Mapped[Decimal] = mapped_column(SourceAmount, comment="Provider cost in currency")
    quantity: Mapped[Decimal | None] = mapped_column(Quantity, comment="Consumed quantity, when given")
    line_count: Mapped[int] = mapped_column(BigInteger)
    fx_rate: Mapped[Decimal | None] = mapped_column(Rate, comment="AUD per unit of currency used")
    fx_rate_date: Mapped[date | None]
    fx_rate_source: Mapped[str | None] = mapped_column(String(100))
    cost_aud: Mapped[Decimal | None] = mapped_column(Amount)

    __table_args__ = (
        CheckConstraint(f"status IN ({', '.join(repr(s) for s in LINE_STATES)})", name="status"),
        Index("ix_reconciliation_lines_reconciliation", "reconciliation_id", "status", "day", "source_key"),
        {"comment": "A provider cost file's daily totals per mapping key and currency"},
    )


class ReconciliationRow(Base):
    """One local day x model: the provider's cost (AUD) against ours (net of refunds and corrections)."""

    __tablename__ = tenant_table("reconciliation_rows")

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = organization_fk(index=False)  # reached through reconciliation
    reconciliation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("reconciliations.id", ondelete="CASCADE"))
    day: Mapped[date]
    provider_name: Mapped[str] = mapped_column(String(100))
    model_name: Mapped[str] = mapped_column(String(100))
    provider_aud: Mapped[Decimal] = mapped_column(Amount)
    charged_aud: Mapped[Decimal] = mapped_column(Amount, comment="Our ledger, net of refunds/corrections")
    provider_quantity: Mapped[Decimal | None] = mapped_column(Quantity)
    charged_images: Mapped[int] = mapped_column(BigInteger)
    drift_aud: Mapped[Decimal] = mapped_column(Amount, comment="provider_aud - charged_aud")
    drift_percent: Mapped[Decimal | None] = mapped_column(
        Numeric(12, 2), comment="drift_aud / charged_aud x 100; none when we charged nothing"
    )
    flagged: Mapped[bool]

    __table_args__ = (
        UniqueConstraint(
            "reconciliation_id", "day", "provider_name", "model_name", name="uq_reconciliation_rows_key"
        ),
        Index(
            "ix_reconciliation_rows_flagged",
            "reconciliation_id",
            "day",
            "provider_name",
            "model_name",
            postgresql_where=text("flagged"),
        ),
        {"comment": "Per day and model: provider cost against our charged cost"},
    )


__all__ = [
    "LINE_STATES",
    "RECONCILIATION_FORMATS",
    "RECONCILIATION_STATES",
    "Reconciliation",
    "ReconciliationLine",
    "ReconciliationRow",
]
