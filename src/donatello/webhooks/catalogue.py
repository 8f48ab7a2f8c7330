"""The event types a webhook may subscribe to, and how each is derived from an audit event.

Webhook events are not a second event system: they are read from the audit outbox, which every state
change writes in its own transaction, so an event is delivered exactly when its change committed.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

#: Subscribable event types (docs/webhooks.md lists the same).
EVENT_TYPES: dict[str, str] = {
    "generation.completed": "a generation finished and was charged",
    "generation.failed": "a generation failed (its budget hold was released)",
    "generation.cancelled": "a generation was cancelled before it ran",
    "budget.threshold_crossed": "a department's spend reached an alert threshold (once per period each)",
    "budget.exceeded": "a department's spend reached 100 % of its period budget (once per period)",
    "budget.request_refused": "a request was refused by a hard budget or a per-user cap",
    "budget.increase_requested": "someone asked for more budget (a top-up or a permanent raise)",
    "budget.increase_decided": "a request for more budget was approved (in full or in part) or declined",
    "provider.unavailable": "a model cannot run until an administrator changes it (its credential could "
    "not be obtained, or the provider answered 401/403/404); the reason says why",
    "provider.retiring": "a model retires in 30 or 7 days (once each, to the platform organization's "
    "webhooks); the metadata names its retirement date and replacement",
}

#: Not subscribable: sent to one webhook on request (``POST /v1/webhooks/{id}/ping``).
PING = "webhook.ping"

#: Audit event types the fan-out reads.
SOURCES: frozenset[str] = frozenset(
    {
        "generation.completed",
        "generation.failed",
        "generation.cancelled",
        "budget.threshold_crossed",
        "budget.request_refused",
        "budget.increase_requested",
        "budget.increase_decided",
        "provider.unavailable",
        "provider.retiring",
    }
)


def derived(audit_event_type: str, metadata: dict[str, Any]) -> list[str]:
    """The webhook event types one audit event yields."""
    types = [audit_event_type] if audit_event_type in EVENT_TYPES else []
    if audit_event_type == "budget.threshold_crossed" and _int(metadata.get("threshold_percent")) >= 100:
        types.append("budget.exceeded")
    return types


def body(event_type: str, document: dict[str, Any]) -> str:
    """The JSON body of an audit-derived event (no request details such as IP address or user agent)."""
    user_id = document.get("user_id")
    return _dump(
        {
            "id": document["id"],
            "type": event_type,
            "created_at": document["timestamp"],
            "organization_id": document["organization_id"],
            "data": {
                "resource_type": document.get("resource_type"),
                "resource_id": document.get("resource_id"),
                "user_id": None if user_id == "system" else user_id,
                "status": document.get("status"),
                "error_message": document.get("error_message"),
                "metadata": document.get("metadata") or {},
            },
        }
    )


def ping_body(event_id: uuid.UUID, organization_id: uuid.UUID, webhook_id: uuid.UUID, at: datetime) -> str:
    return _dump(
        {
            "id": str(event_id),
            "type": PING,
            "created_at": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "organization_id": str(organization_id),
            "data": {"webhook_id": str(webhook_id)},
        }
    )


def _dump(value: dict[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
