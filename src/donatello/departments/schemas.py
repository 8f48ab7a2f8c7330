from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

DepartmentCode = str


class DepartmentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=255)
    code: str = Field(
        min_length=1, max_length=50, pattern=r"^[A-Z0-9][A-Z0-9_-]*$", description="e.g. MKTG, ENGG, SALES"
    )
    settings: dict[str, Any] = Field(default_factory=dict)


class DepartmentUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=255)
    is_active: bool | None = None
    settings: dict[str, Any] | None = None


class DepartmentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    organization_id: uuid.UUID
    name: str
    code: str
    is_active: bool
    settings: dict[str, Any]
    created_at: datetime
    updated_at: datetime
