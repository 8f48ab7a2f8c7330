from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)

from donatello.webhooks.catalogue import EVENT_TYPES


def _https_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme != "https":
        raise ValueError("the URL must start with https://")
    if not parts.hostname:
        raise ValueError("the URL must name a host")
    if parts.username is not None or parts.password is not None:
        raise ValueError("the URL must not carry credentials")
    if parts.fragment:
        raise ValueError("the URL must not have a fragment")
    try:
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError as error:
        raise ValueError("the URL's port is not valid") from error
    return value


def _event_types(values: list[str]) -> list[str]:
    unknown = sorted(set(values) - set(EVENT_TYPES))
    if unknown:
        raise ValueError(f"unknown event types {unknown}; known: {sorted(EVENT_TYPES)}")
    return sorted(set(values))


WebhookUrl = Annotated[str, Field(min_length=9, max_length=2048), AfterValidator(_https_url)]
EventTypes = Annotated[
    list[str],
    Field(min_length=1, max_length=len(EVENT_TYPES), description="Event types from the catalogue"),
    AfterValidator(_event_types),
]


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    webhook_url: WebhookUrl
    event_types: EventTypes


class WebhookUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    webhook_url: WebhookUrl | None = None
    event_types: EventTypes | None = None
    is_active: bool | None = Field(
        default=None, description="false pauses deliveries; true re-enables (resets the failure run)"
    )


class WebhookRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    organization_id: uuid.UUID
    user_id: uuid.UUID
    webhook_url: str
    event_types: list[str]
    is_active: bool
    max_retries: int = Field(
        validation_alias=AliasChoices("retry_count", "max_retries"),
        description="Retries of one delivery after its first attempt (setting)",
    )
    consecutive_failures: int = Field(
        description="Failed attempts in a row; the webhook is disabled at the limit"
    )
    created_at: datetime
    updated_at: datetime


class WebhookWithSecret(WebhookRead):
    secret: str = Field(description="The signing secret: shown only in this response, store it now")


class PingAccepted(BaseModel):
    delivery_id: uuid.UUID
    event_type: str


DeliveryStatus = Literal["pending", "delivered", "failed"]


class DeliveryRead(BaseModel):
    """One event's delivery to a webhook: where it stands, and why the last attempt failed."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID = Field(description="Sent as Donatello-Delivery on every attempt")
    event_id: uuid.UUID
    event_type: str
    status: DeliveryStatus
    attempts: int = Field(description="Attempts started so far")
    last_attempt_at: datetime | None
    last_status_code: int | None = Field(
        description="HTTP status the receiver answered last (none: no answer)"
    )
    last_error: str | None
    next_attempt_at: datetime | None = Field(description="When the next attempt is due (pending only)")
    delivered_at: datetime | None
    created_at: datetime

    @field_validator("next_attempt_at", mode="after")
    @classmethod
    def _only_when_pending(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        return value if info.data.get("status") == "pending" else None
