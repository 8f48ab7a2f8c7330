"""API keys for programmatic access."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, String, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from donatello.models.base import Base, created_at, organization_fk, tenant_table, uuid_pk


class ApiKey(Base):
    """A user's API key; only its hash and display prefix are stored (seed: ERD only).

    Additions: ``organization_id`` (tenant-owned table); ``scopes`` (what the key may do — a key must
    not silently carry every permission of its owner); UNIQUE ``key_hash`` (authentication looks the key
    up by hash, which must identify one key); index on ``key_prefix`` (shown in UIs and used to narrow
    look-ups); CHECK ``is_active OR revoked_at IS NOT NULL`` so every deactivated key records when.
    ``user_id`` cascades: a deleted user's keys must stop working.
    """

    __tablename__ = tenant_table("api_keys")

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = organization_fk()
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True, comment="Owner of the key"
    )
    key_name: Mapped[str] = mapped_column(String(100), comment="Label chosen by the owner")
    key_hash: Mapped[str] = mapped_column(
        String(255), unique=True, comment="Hash of the full key; the key itself is never stored"
    )
    key_prefix: Mapped[str] = mapped_column(
        String(16), index=True, comment="First characters of the key, shown to identify it"
    )
    scopes: Mapped[list[Any]] = mapped_column(
        JSONB, server_default=text("'[]'::jsonb"), comment="JSON array of granted scopes"
    )
    is_active: Mapped[bool] = mapped_column(server_default=text("true"))
    expires_at: Mapped[datetime | None] = mapped_column(comment="NULL = does not expire")
    last_used_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = created_at()
    revoked_at: Mapped[datetime | None] = mapped_column()

    __table_args__ = (
        CheckConstraint("is_active OR revoked_at IS NOT NULL", name="inactive_revoked"),
        CheckConstraint("jsonb_typeof(scopes) = 'array'", name="scopes_array"),
        {"comment": "API keys for programmatic access (hashed)"},
    )


__all__ = ["ApiKey"]
