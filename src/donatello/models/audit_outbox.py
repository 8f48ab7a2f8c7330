"""Transactional outbox for audit events (shipped to the append-only audit store)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Identity, Index, String, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from donatello.models.base import Base, created_at, tenant_table


class AuditOutbox(Base):
    """An audit event written in the same transaction as the change it records (new table).

    Writing audit events straight to Cosmos DB can lose them (crash after commit) or record changes
    that rolled back; the outbox row commits atomically with the change and a relay delivers it.

    * ``id`` is a BIGINT identity: delivery order. ``event_id`` is the idempotency key downstream.
    * ``organization_id`` / ``user_id`` have **no foreign keys** on purpose: audit events must outlive
      the tenant and user they describe (7-year retention), so neither a cascade nor SET NULL may touch
      them. ``organization_id`` is NULL for platform-level events; the table is still registered as a
      tenant table (its RLS policy must treat NULL as platform-only).
    * ``prev_hash`` / ``chain_hash``: hash chain (SHA-256 hex) that makes deletion or edits detectable.
    * ``chain_seq``: the event's position in its organization's chain, assigned by the relay with the
      hashes (the order the chain was computed in, which verification follows). Like the hashes it can
      only be written by the single delivery update: the trigger refuses any update once delivered.
    """

    __tablename__ = tenant_table("audit_outbox")

    id: Mapped[int] = mapped_column(
        BigInteger, Identity(always=True), primary_key=True, comment="Outbox (delivery) order"
    )
    event_id: Mapped[uuid.UUID] = mapped_column(
        unique=True, comment="Globally unique event id (idempotency key downstream)"
    )
    organization_id: Mapped[uuid.UUID | None] = mapped_column(
        comment="Tenant of the event (no FK: audit outlives the tenant); NULL = platform-level"
    )
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        comment="Acting user (no FK: audit outlives the user); NULL = system"
    )
    event_type: Mapped[str] = mapped_column(String(100), comment="e.g. generation.completed")
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, comment="The audit event document")
    created_at: Mapped[datetime] = created_at()
    delivered_at: Mapped[datetime | None] = mapped_column(
        comment="When the relay delivered it to the audit store; NULL = pending"
    )
    chain_hash: Mapped[str | None] = mapped_column(
        String(64), comment="SHA-256 (hex) over prev_hash and this event"
    )
    prev_hash: Mapped[str | None] = mapped_column(String(64), comment="chain_hash of the preceding event")
    chain_seq: Mapped[int | None] = mapped_column(
        BigInteger, comment="Position in its organization's chain (1-based), set with delivery"
    )

    __table_args__ = (
        Index("idx_audit_outbox_undelivered", "id", postgresql_where=text("delivered_at IS NULL")),
        Index("idx_audit_outbox_org_id", "organization_id", "id"),
        Index(
            "idx_audit_outbox_chain",
            "organization_id",
            "chain_seq",
            unique=True,
            postgresql_nulls_not_distinct=True,  # the platform chain (NULL organization) is one chain too
            postgresql_where=text("chain_seq IS NOT NULL"),
        ),
        Index("idx_audit_outbox_org_created", "organization_id", "created_at", "id"),
        # A refused client quotes its refusal to ask for more budget; only refusals are indexed.
        Index(
            "idx_audit_outbox_refusals",
            "event_id",
            postgresql_where=text("event_type = 'budget.request_refused'"),
        ),
        {"comment": "Transactional outbox of audit events awaiting delivery to the audit store"},
    )


__all__ = ["AuditOutbox"]
