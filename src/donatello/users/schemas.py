from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from donatello.core.json_values import PreferenceValue
from donatello.tenancy import Role


class Me(BaseModel):
    user_id: uuid.UUID
    organization_id: uuid.UUID
    department_id: uuid.UUID | None
    role: Role
    email: str


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    organization_id: uuid.UUID
    department_id: uuid.UUID | None
    email: str
    display_name: str | None
    role: Role
    is_active: bool
    mfa_enabled: bool
    mfa_grace_period_expires_at: datetime | None
    last_login_at: datetime | None
    created_at: datetime


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role | None = None
    department_id: uuid.UUID | None = None
    is_active: bool | None = None


class UserCreate(BaseModel):
    """A person added before their first sign-in; the first Entra sign-in with this e-mail claims it."""

    model_config = ConfigDict(extra="forbid")

    email: EmailStr = Field(max_length=255, description="The sign-in e-mail (Entra userPrincipalName)")
    role: Role = Role.STANDARD_USER
    department_id: uuid.UUID | None = None
    display_name: str | None = Field(default=None, max_length=255)


class UserFilters(BaseModel):
    role: Role | None = None
    department_id: uuid.UUID | None = None
    is_active: bool | None = None
    email_contains: str | None = Field(default=None, max_length=255)


class PreferenceRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    key: str = Field(validation_alias="preference_key")
    value: Any = Field(validation_alias="preference_value")
    updated_at: datetime


class PreferenceWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: PreferenceValue


PREFERENCE_KEY = r"^[a-z][a-z0-9_.-]{0,99}$"
