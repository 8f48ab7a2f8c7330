from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel


class AuditEventRead(BaseModel):
    """The seed's audit document, its organization, and its place in the chain once delivered."""

    id: uuid.UUID
    organization_id: uuid.UUID | None
    user_id: str
    timestamp: datetime
    event_type: str
    action: str
    resource_type: str
    resource_id: str | None
    user_email: str | None
    ip_address: str | None
    user_agent: str | None
    request_id: str | None
    status: str
    error_message: str | None
    metadata: dict[str, Any]
    chain_seq: int | None = None
    prev_hash: str | None = None
    chain_hash: str | None = None


class AuditFilters(BaseModel):
    user_id: uuid.UUID | None = None
    event_type: str | None = None
    resource_type: str | None = None
    resource_id: str | None = None
    status: str | None = None
    since: datetime | None = None
    until: datetime | None = None
