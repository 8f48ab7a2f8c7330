"""Cost events: the spend ledger."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from donatello.models.base import Base, Money4, Rate, created_at, organization_fk, tenant_table, uuid_pk

COST_EVENT_KINDS: tuple[str, ...] = ("charge", "refund", "correction")
USAGE_COMMENT = (
    "Metered usage the charge was computed from (token-priced models): "
    "{input_text_tokens, input_image_tokens, output_image_tokens, raw}; NULL when priced per image"
)


class CostEvent(Base):
    """One ledger entry: a charge for a generation, or a refund / correction of an earlier event.

    Additions and deviations (the seed's columns are all kept):

    * ``organization_id``: tenant-owned table; index (organization_id, created_at) serves the
      per-tenant period reports and also serves as the organization_id index.
    * ``kind`` (charge / refund / correction) with sign checks (a charge is >= 0, a refund <= 0) and
      ``corrects_event_id`` (required for refunds and corrections, forbidden on charges): amounts are
      never updated in place, so the ledger sums to the truth and every amendment says what it amends.
    * partial unique index: one ``charge`` per generation, so a retried worker cannot bill twice.
    * ``model_name``, ``size``, ``quality``, ``image_count``: what was billed, for reconciliation with
      provider invoices.
    * ``pricing_currency``, ``pricing_amount``, ``fx_rate``, ``fx_rate_source``, ``fx_rate_date``: the
      provider's price and the rate used to convert it to AUD, so an AUD amount can be audited.
    * ``department_code``, ``department_name``, ``user_email``, ``cost_center``: attribution frozen at
      spend time, so reports do not change when a department is renamed or a person moves.
    * ``currency`` NOT NULL with CHECK = 'AUD' (seed: nullable default 'AUD'): all ``*_aud`` amounts are
      AUD; a different value would be a bug. ``metadata`` (attribute ``details``, since ``metadata`` is
      reserved by SQLAlchemy) NOT NULL default ``{}``.
    * plain index on ``generation_id`` (the unique one covers charges only): refund look-ups and the
      ON DELETE CASCADE from ``generations`` would otherwise scan the table. ``image_count >= 0``.
    * amounts are NUMERIC(14,4) (seed DECIMAL(10,4)): same precision, more headroom.
    * ``usage``: the provider's metered usage a token-priced charge was computed from (NULL otherwise);
      ``metadata`` then says whether the charge was capped at the hold or the usage was missing.
    """

    __tablename__ = tenant_table("cost_events")

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = organization_fk(index=False)  # idx_cost_events_org_created_at
    generation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("generations.id", ondelete="CASCADE"))
    department_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("departments.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(
        String(20),
        server_default=text("'charge'"),
        comment="charge (>= 0), refund (<= 0) or correction (either sign) of corrects_event_id",
    )
    corrects_event_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("cost_events.id", ondelete="NO ACTION"),
        index=True,
        comment="Event a refund or correction amends",
    )
    model_provider: Mapped[str] = mapped_column(String(50))
    model_name: Mapped[str] = mapped_column(String(100), comment="Model billed")
    size: Mapped[str | None] = mapped_column(String(20), comment="Image size billed")
    quality: Mapped[str | None] = mapped_column(String(20), comment="Image quality billed")
    image_count: Mapped[int] = mapped_column(server_default=text("1"), comment="Images billed")
    estimated_cost_aud: Mapped[Decimal] = mapped_column(Money4)
    actual_cost_aud: Mapped[Decimal] = mapped_column(Money4)
    currency: Mapped[str] = mapped_column(
        String(3), server_default=text("'AUD'"), comment="Currency of the *_aud amounts: always AUD"
    )
    pricing_currency: Mapped[str] = mapped_column(
        String(3), server_default=text("'AUD'"), comment="ISO 4217 currency of the provider's price"
    )
    pricing_amount: Mapped[Decimal | None] = mapped_column(
        Money4, comment="Provider price in pricing_currency"
    )
    fx_rate: Mapped[Decimal] = mapped_column(
        Rate, server_default=text("1"), comment="AUD per unit of pricing_currency used for this event"
    )
    fx_rate_source: Mapped[str | None] = mapped_column(String(100), comment="Source of fx_rate")
    fx_rate_date: Mapped[date | None] = mapped_column(comment="Effective date of fx_rate")
    department_code: Mapped[str] = mapped_column(
        String(50), comment="Department code at spend time (frozen attribution)"
    )
    department_name: Mapped[str] = mapped_column(
        String(255), comment="Department name at spend time (frozen attribution)"
    )
    user_email: Mapped[str] = mapped_column(
        String(255), comment="User e-mail at spend time (frozen attribution)"
    )
    cost_center: Mapped[str | None] = mapped_column(
        String(100), comment="The person's cost centre at spend time (frozen attribution)"
    )
    usage: Mapped[dict[str, Any] | None] = mapped_column(JSONB(none_as_null=True), comment=USAGE_COMMENT)
    processed_in: Mapped[str | None] = mapped_column(
        String(2), comment="ISO 3166-1 alpha-2 country where inference ran; NULL = not known (anywhere)"
    )
    created_at: Mapped[datetime] = created_at()
    details: Mapped[dict[str, Any]] = mapped_column(
        "metadata",
        JSONB,
        server_default=text("'{}'::jsonb"),
        comment="JSON: {billing_period, invoice_id, tax_amount}",
    )

    __table_args__ = (
        CheckConstraint(f"kind IN ({', '.join(repr(k) for k in COST_EVENT_KINDS)})", name="kind"),
        CheckConstraint(
            "(kind <> 'charge' OR actual_cost_aud >= 0) AND (kind <> 'refund' OR actual_cost_aud <= 0)",
            name="amount_sign",
        ),
        CheckConstraint("(kind = 'charge') = (corrects_event_id IS NULL)", name="corrects_event"),
        CheckConstraint("currency = 'AUD'", name="currency"),
        CheckConstraint("pricing_currency ~ '^[A-Z]{3}$'", name="pricing_currency"),
        CheckConstraint("fx_rate > 0", name="fx_rate_positive"),
        CheckConstraint("image_count >= 0", name="image_count_nonneg"),
        Index("idx_cost_events_department_id", "department_id"),
        Index("idx_cost_events_user_id", "user_id"),
        Index("idx_cost_events_created_at", created_at.desc()),
        Index("idx_cost_events_model_provider", "model_provider"),
        Index("idx_cost_events_org_created_at", "organization_id", "created_at"),
        # per-user spend in a period (per-user caps, invariants)
        Index("idx_cost_events_dept_user_created_at", "department_id", "user_id", "created_at"),
        Index("idx_cost_events_generation_id", "generation_id"),
        Index(
            "uq_cost_events_one_charge_per_generation",
            "generation_id",
            unique=True,
            postgresql_where=text("kind = 'charge'"),
        ),
        {"comment": "Granular cost tracking for budgeting and analytics"},
    )


__all__ = ["COST_EVENT_KINDS", "CostEvent"]
