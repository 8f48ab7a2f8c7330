from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from donatello.core.json_values import Settings as JsonSettings

DepartmentCode = str
#: ISO 3166-1 alpha-2, upper case
Country = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
REQUIRE_PROCESSING_IN = (
    "ISO 3166-1 alpha-2 country (e.g. AU) every generation of the department must be processed in: model "
    '"auto" chooses only models whose processing_country it is, and naming another model is refused '
    "(422). null: anywhere. Org admins only; audited."
)


class DepartmentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=255)
    code: str = Field(
        min_length=1, max_length=50, pattern=r"^[A-Z0-9][A-Z0-9_-]*$", description="e.g. MKTG, ENGG, SALES"
    )
    settings: JsonSettings = Field(default_factory=dict)
    require_processing_in: Country | None = Field(default=None, description=REQUIRE_PROCESSING_IN)


class DepartmentUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=255)
    is_active: bool | None = None
    settings: JsonSettings | None = None
    require_processing_in: Country | None = Field(
        default=None, description=REQUIRE_PROCESSING_IN + " Send null to lift the rule."
    )


class DepartmentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    organization_id: uuid.UUID
    name: str
    code: str
    is_active: bool
    settings: dict[str, Any]
    require_processing_in: str | None = Field(description=REQUIRE_PROCESSING_IN)
    created_at: datetime
    updated_at: datetime
