from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from donatello.core.clock import Instant
from donatello.tenancy import Permission


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    scopes: list[Permission] = Field(
        min_length=1, description="Permissions the key carries (subset of yours)"
    )
    expires_at: Instant | None = None


class ApiKeyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    user_id: uuid.UUID
    name: str = Field(validation_alias=AliasChoices("key_name", "name"))
    prefix: str = Field(validation_alias=AliasChoices("key_prefix", "prefix"))
    scopes: list[str]
    is_active: bool
    expires_at: datetime | None
    last_used_at: datetime | None
    created_at: datetime
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyRead):
    key: str = Field(description="The full key: shown only in this response, store it now")
