from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from donatello.core.json_values import Settings as JsonSettings

DepartmentCode = str


class DepartmentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=255)
    code: str = Field(
        min_length=1, max_length=50, pattern=r"^[A-Z0-9][A-Z0-9_-]*$", description="e.g. MKTG, ENGG, SALES"
    )
    settings: JsonSettings = Field(default_factory=dict)


class DepartmentUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=255)
    is_active: bool | None = None
    settings: JsonSettings | None = None


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
