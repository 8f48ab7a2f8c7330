"""Departments: organizational units that own budgets and group users."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from donatello.models.base import (
    Base,
    created_at,
    jsonb_object,
    organization_fk,
    tenant_table,
    updated_at,
    uuid_pk,
)


class Department(Base):
    """Organizational department for budget allocation and user grouping.

    Deviations from the seed: ``is_active`` is NOT NULL (seed: nullable with default true) and
    ``settings`` is NOT NULL (default ``{}``), so no row is in an undefined state. Added
    ``require_processing_in``: the country its generations' inference must run in.
    """

    __tablename__ = tenant_table("departments")

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = organization_fk(index=False)  # idx_departments_organization_id
    name: Mapped[str] = mapped_column(String(255))
    code: Mapped[str] = mapped_column(
        String(50), comment="Short identifier for the department (e.g., MKTG, ENGG, SALES)"
    )
    is_active: Mapped[bool] = mapped_column(server_default=text("true"))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()
    settings: Mapped[dict[str, Any]] = jsonb_object("JSON: {default_model, quality_preference, cost_weight}")
    require_processing_in: Mapped[str | None] = mapped_column(
        String(2), comment="ISO 3166-1 alpha-2 country its generations must be processed in; NULL = anywhere"
    )

    __table_args__ = (
        UniqueConstraint("organization_id", "code", name="uq_dept_org_code"),
        CheckConstraint("require_processing_in ~ '^[A-Z]{2}$'", name="require_processing_in"),
        Index("idx_departments_organization_id", "organization_id"),
        Index("idx_departments_code", "code"),
        Index("idx_departments_is_active", "is_active", postgresql_where=text("is_active = true")),
        {"comment": "Organizational departments for budget allocation and user grouping"},
    )


__all__ = ["Department"]
