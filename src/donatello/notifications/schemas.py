from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class NotificationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: str = Field(
        description="budget_request_decided, budget_request_waiting, budget_threshold_crossed, "
        "export_ready, generation_failed or provider_retiring"
    )
    title: str
    body: str
    link: str | None = Field(description="Path of the page it is about")
    created_at: datetime
    read_at: datetime | None


class NotificationPage(BaseModel):
    items: list[NotificationRead]
    next_cursor: str | None = None
    unread: int = Field(description="Unread notifications in all")


class ReadAll(BaseModel):
    marked: int = Field(description="How many were unread and are read now")


class EmailChoice(BaseModel):
    kind: str
    label: str
    email: bool
