from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class TokenPair(BaseModel):
    token_type: str = "Bearer"
    access_token: str
    expires_in: int = Field(description="Seconds until the access token expires")
    refresh_token: str = Field(description="Shown once; rotate it with POST /v1/auth/refresh")
    session_id: uuid.UUID


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh_token: str = Field(min_length=1, max_length=512)


class SessionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    device_info: dict[str, Any] | None
    current: bool = False


class RevokedCount(BaseModel):
    revoked: int
