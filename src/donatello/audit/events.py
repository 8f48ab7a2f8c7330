"""The audit event: the seed's Cosmos document shape, plus the organization it belongs to."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from donatello.core import request_context
from donatello.core.clock import utcnow
from donatello.tenancy import Principal


@dataclass(frozen=True)
class Actor:
    """Who did it, as the audit log records it: a user (``user_id``, ``email``), a user's own work done by
    the system (``user_id`` only), or a credential or operator that is not a user (``user_id`` None,
    described in ``metadata``, which every event it causes carries)."""

    user_id: uuid.UUID | None
    email: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, principal: Principal) -> Actor:
        return cls(principal.user_id, principal.email)


@dataclass(frozen=True)
class AuditEvent:
    """One state change. ``event_type`` is dotted (``department.created``); ``action`` is the verb."""

    event_type: str
    action: str
    resource_type: str
    resource_id: uuid.UUID | str | None
    organization_id: uuid.UUID | None
    user_id: uuid.UUID | None
    user_email: str | None = None
    status: str = "success"
    error_message: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    timestamp: datetime = field(default_factory=utcnow)

    def document(self) -> dict[str, Any]:
        """The document as stored (outbox payload) and shipped (Cosmos), without the chain fields."""
        context = request_context.current()
        return {
            "id": str(self.id),
            # Cosmos partition key: platform events without a user go to one "system" partition.
            "user_id": str(self.user_id) if self.user_id else "system",
            "organization_id": str(self.organization_id) if self.organization_id else None,
            "timestamp": self.timestamp.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "event_type": self.event_type,
            "action": self.action,
            "resource_type": self.resource_type,
            "resource_id": str(self.resource_id) if self.resource_id is not None else None,
            "user_email": self.user_email,
            "ip_address": context.ip_address if context else None,
            "user_agent": context.user_agent if context else None,
            "request_id": context.request_id if context else None,
            "status": self.status,
            "error_message": self.error_message,
            "metadata": _jsonable(self.metadata),
        }


def outbox_row(event: AuditEvent) -> dict[str, Any]:
    """The ``audit_outbox`` row that records ``event``: the one place its columns are filled, whether the
    row is written through the ORM (``audit.record``) or by a Core statement on a hot path."""
    return {
        "event_id": event.id,
        "organization_id": event.organization_id,
        "user_id": event.user_id,
        "event_type": event.event_type,
        "payload": event.document(),
        "created_at": event.timestamp,
    }


def _jsonable(value: Any) -> Any:
    """Decimals and ids become strings (money never becomes a float)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def event(
    event_type: str,
    *,
    action: str | None = None,
    resource: tuple[str, uuid.UUID | str | None],
    organization_id: uuid.UUID | None,
    actor: Actor | Principal | None = None,
    details: dict[str, Any] | None = None,
    status: str = "success",
    error: str | None = None,
    at: datetime | None = None,
) -> AuditEvent:
    """ "``actor`` did ``action`` to ``resource`` (type, id) in an organization": the one way an event is
    made. The action is the event type's verb unless named (``webhook.created`` -> ``created``); no actor
    is the platform itself; an actor's own ``metadata`` comes first in the details."""
    who = Actor.of(actor) if isinstance(actor, Principal) else actor or Actor(None)
    return AuditEvent(
        event_type=event_type,
        action=action or event_type.split(".", 1)[1],
        resource_type=resource[0],
        resource_id=resource[1],
        organization_id=organization_id,
        user_id=who.user_id,
        user_email=who.email,
        status=status,
        error_message=error,
        metadata={**who.metadata, **(details or {})},
        timestamp=at or utcnow(),
    )
