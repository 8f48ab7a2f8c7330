from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from donatello.core.json_values import PreferenceValue
from donatello.tenancy import Role


class MfaStatus(BaseModel):
    """Which MFA rule applies to the caller and where they stand with it."""

    rule: str = Field(description="amr, conditional-access or authentication-context (the organization's)")
    contexts: list[str] = Field(description="The authentication contexts (acrs) that prove MFA, if listed")
    this_sign_in: bool | None = Field(
        description="Whether the sign-in behind this request met the rule (null: no sign-in says: an API "
        "key or operator token, where having met it before counts)"
    )
    mfa_enabled: bool = Field(description="The person has met the rule at a sign-in before")
    grace_period_expires_at: datetime | None = Field(
        description="Until then generation needs no MFA (7 days from the first sign-in)"
    )
    satisfied: bool = Field(description="MFA does not stand in the way of generating with this credential")


class Me(BaseModel):
    user_id: uuid.UUID
    organization_id: uuid.UUID
    department_id: uuid.UUID | None
    role: Role
    email: str
    mfa: MfaStatus


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
    name_or_email_contains: str | None = Field(
        default=None, max_length=255, description="Part of the display name or the e-mail, any case"
    )


class PreferenceRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    key: str = Field(validation_alias="preference_key")
    value: Any = Field(validation_alias="preference_value")
    updated_at: datetime


class PreferenceWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: PreferenceValue


PREFERENCE_KEY = r"^[a-z][a-z0-9_.-]{0,99}$"
