"""Image generation requests (the work queue) and their analytics metadata."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import CheckConstraint, Float, ForeignKey, Index, SmallInteger, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from donatello.models.base import (
    Base,
    Money4,
    created_at,
    organization_fk,
    tenant_table,
    uuid_pk,
)
from donatello.models.cost_events import USAGE_COMMENT

GENERATION_STATUSES: tuple[str, ...] = ("pending", "processing", "completed", "failed", "cancelled")


class Generation(Base):
    """An image generation request and its result; pending rows are the worker queue.

    Additions and deviations (the seed's columns are all kept):

    * ``organization_id``: tenant-owned table (row-level security, tenancy scoping).
    * ``idempotency_key`` + partial unique index on (user_id, idempotency_key): a retried POST must not
      create (and charge for) a second generation.
    * queue/lease columns ``priority``, ``attempts``, ``lease_owner``, ``lease_expires_at``,
      ``next_attempt_at``: workers claim rows with ``FOR UPDATE SKIP LOCKED`` and a lease, so a crashed
      worker's job is retried after the lease expires, with back-off, instead of staying ``processing``.
    * request shape ``size``, ``quality``, ``n``: price depends on them, so the reservation and the cost
      event must be computed from what was asked, not re-derived from free-form ``metadata``.
    * ``batch_id``: the batch request it belongs to (``generation_batches``); ``request_fingerprint``:
      SHA-256 of the canonical request body, so a retry with the same Idempotency-Key is recognised and
      a different body with the same key is refused (409).
    * ``reservation_aud`` / ``reservation_expires_at``: the budget hold of this request (summed into
      ``department_budgets.reserved_aud``), released on completion or when it expires.
    * ``is_over_budget``: admitted past the budget under soft/warn enforcement, for reporting.
    * ``prompt_key_id``: id (version) of the key that sealed ``prompt_encrypted``, needed to decrypt
      after key rotation.
    * ``cost_aud``, ``is_nsfw``, ``is_deleted`` NOT NULL (seed: nullable with defaults); ``metadata``
      NOT NULL default ``{}``. The Python attribute is ``details`` (``metadata`` is reserved by
      SQLAlchemy's declarative base); the column keeps the seed's name.
    * ``usage``: what the provider metered for it (token-priced models), as on its cost event.
    * ``idx_generations_queue`` (priority, next_attempt_at) WHERE status = 'pending' for the claim query,
      and ``idx_generations_lease`` (lease_expires_at) WHERE status = 'processing' to reclaim expired
      leases.
    """

    __tablename__ = tenant_table("generations")

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = organization_fk()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    department_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("departments.id", ondelete="CASCADE"))
    idempotency_key: Mapped[str | None] = mapped_column(
        String(255), comment="Client-supplied Idempotency-Key; unique per user when present"
    )
    model_provider: Mapped[str] = mapped_column(String(50))
    model_name: Mapped[str] = mapped_column(String(100))
    prompt_encrypted: Mapped[str] = mapped_column(
        Text, comment="Encrypted prompt using application-level encryption"
    )
    prompt_key_id: Mapped[str | None] = mapped_column(
        String(100), comment="Id (version) of the key that sealed prompt_encrypted"
    )
    status: Mapped[str] = mapped_column(String(20), server_default=text("'pending'"))
    size: Mapped[str] = mapped_column(
        String(20), server_default=text("'1024x1024'"), comment="Requested image size, e.g. 1024x1024"
    )
    quality: Mapped[str] = mapped_column(
        String(20), server_default=text("'standard'"), comment="Requested quality, e.g. standard, hd"
    )
    n: Mapped[int] = mapped_column(
        SmallInteger, server_default=text("1"), comment="Number of images requested (1-4)"
    )
    batch_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("generation_batches.id", ondelete="CASCADE"),
        index=True,
        comment="Batch request this generation belongs to",
    )
    request_fingerprint: Mapped[str | None] = mapped_column(
        String(64), comment="SHA-256 of the canonical request, to tell a retry from a different request"
    )
    priority: Mapped[int] = mapped_column(
        SmallInteger, server_default=text("5"), comment="Queue priority 0-9, lower is claimed first"
    )
    attempts: Mapped[int] = mapped_column(
        server_default=text("0"), comment="Number of times a worker has claimed this generation"
    )
    lease_owner: Mapped[str | None] = mapped_column(
        String(255), comment="Worker currently holding the lease (processing)"
    )
    lease_expires_at: Mapped[datetime | None] = mapped_column(
        comment="When the worker's lease lapses and the job may be reclaimed"
    )
    next_attempt_at: Mapped[datetime] = mapped_column(
        server_default=text("now()"), comment="Earliest time a worker may claim it (retry back-off)"
    )
    reservation_aud: Mapped[Decimal] = mapped_column(
        Money4, server_default=text("0"), comment="AUD held against the department budget for it"
    )
    reservation_expires_at: Mapped[datetime | None] = mapped_column(
        comment="When an unreleased reservation lapses"
    )
    is_over_budget: Mapped[bool] = mapped_column(
        server_default=text("false"), comment="Admitted past the budget under soft/warn enforcement"
    )
    image_url: Mapped[str | None] = mapped_column(String(500))
    thumbnail_url: Mapped[str | None] = mapped_column(String(500))
    cost_aud: Mapped[Decimal] = mapped_column(Money4, server_default=text("0"))
    generation_time_ms: Mapped[int | None] = mapped_column()
    error_message: Mapped[str | None] = mapped_column(Text)
    is_nsfw: Mapped[bool] = mapped_column(server_default=text("false"))
    is_deleted: Mapped[bool] = mapped_column(server_default=text("false"))
    usage: Mapped[dict[str, Any] | None] = mapped_column(JSONB(none_as_null=True), comment=USAGE_COMMENT)
    processed_in: Mapped[str | None] = mapped_column(
        String(2), comment="ISO 3166-1 alpha-2 country where inference ran; NULL = not known (anywhere)"
    )
    created_at: Mapped[datetime] = created_at()
    completed_at: Mapped[datetime | None] = mapped_column()
    deleted_at: Mapped[datetime | None] = mapped_column()
    details: Mapped[dict[str, Any]] = mapped_column(
        "metadata",
        JSONB,
        server_default=text("'{}'::jsonb"),
        comment="JSON: {resolution, style, negative_prompt, seed}",
    )

    __table_args__ = (
        CheckConstraint(f"status IN ({', '.join(repr(s) for s in GENERATION_STATUSES)})", name="status"),
        CheckConstraint(
            "(status = 'completed' AND completed_at IS NOT NULL AND image_url IS NOT NULL) "
            "OR (status != 'completed')",
            name="completed",
        ),
        CheckConstraint("priority BETWEEN 0 AND 9", name="priority"),
        CheckConstraint("n BETWEEN 1 AND 4", name="n"),
        CheckConstraint("attempts >= 0", name="attempts_nonneg"),
        CheckConstraint("reservation_aud >= 0", name="reservation_nonneg"),
        Index("idx_generations_user_id", "user_id"),
        Index("idx_generations_department_id", "department_id"),
        Index("idx_generations_status", "status"),
        Index("idx_generations_created_at", created_at.desc()),
        Index("idx_generations_model_provider", "model_provider"),
        Index(
            "idx_generations_active",
            "user_id",
            created_at.desc(),
            postgresql_where=text("is_deleted = false"),
        ),
        Index(
            "uq_generations_user_idempotency_key",
            "user_id",
            "idempotency_key",
            unique=True,
            postgresql_where=text("idempotency_key IS NOT NULL"),
        ),
        Index(
            "idx_generations_queue",
            "priority",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
        ),
        Index(
            "idx_generations_lease",
            "lease_expires_at",
            postgresql_where=text("status = 'processing'"),
        ),
        {"comment": "Image generation requests and results"},
    )


class GenerationMetadata(Base):
    """Analytics and model-selection details of one generation.

    Additions and deviations: ``organization_id`` (tenant-owned table); ``retry_count`` NOT NULL
    (seed: nullable with default 0, and ``WHERE retry_count > 0`` silently drops NULLs).
    """

    __tablename__ = tenant_table("generation_metadata")

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = organization_fk()
    generation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("generations.id", ondelete="CASCADE"), unique=True
    )
    prompt_language: Mapped[str | None] = mapped_column(String(10))
    prompt_complexity_score: Mapped[float | None] = mapped_column(Float)
    selected_model_reason: Mapped[str | None] = mapped_column(
        String(255), comment="Why this model was chosen (e.g., cost-optimized, quality-focused)"
    )
    fallback_model: Mapped[str | None] = mapped_column(String(100))
    retry_count: Mapped[int] = mapped_column(server_default=text("0"))
    model_parameters: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    post_processing_steps: Mapped[list[Any] | None] = mapped_column(JSONB)
    content_safety_score: Mapped[str | None] = mapped_column(String(50))
    created_at: Mapped[datetime] = created_at()

    __table_args__ = (
        CheckConstraint("prompt_complexity_score BETWEEN 0 AND 1", name="prompt_complexity_score"),
        Index("idx_gen_metadata_generation_id", "generation_id"),
        Index("idx_gen_metadata_complexity", "prompt_complexity_score"),
        Index("idx_gen_metadata_retry_count", "retry_count", postgresql_where=text("retry_count > 0")),
        {"comment": "Detailed analytics and decision tracking for generations"},
    )


__all__ = ["GENERATION_STATUSES", "Generation", "GenerationMetadata"]
