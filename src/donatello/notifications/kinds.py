"""What each audit event tells whom: the notification kinds, their wording and who receives them.

Derived from the audit outbox like webhook events, never a second event system: a notification exists
exactly when the change it describes committed. Wording never includes a prompt.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

#: Kinds a person may be told about, with the label their preferences show and the e-mail default.
KINDS: dict[str, tuple[str, bool]] = {
    "budget_request_decided": ("Your request for more budget was decided", True),
    "budget_request_waiting": ("A request for more budget is waiting for your decision", False),
    "budget_threshold_crossed": ("Your department's spend crossed an alert threshold", False),
    "export_ready": ("Your cost export is ready", False),
    "generation_failed": ("Your generation failed or was refused by the safety system", True),
    "provider_retiring": ("A model is about to be retired (platform administrators)", True),
}

#: Audit event types the fan-out reads.
SOURCES: frozenset[str] = frozenset(
    {
        "budget.increase_decided",
        "budget.increase_requested",
        "budget.threshold_crossed",
        "cost_events.export_completed",
        "generation.failed",
        "provider.retiring",
    }
)


@dataclass(frozen=True)
class Audience:
    """Who receives it: one person, the organization's deciders, or a department's managers."""

    user_id: str | None = None
    deciders: bool = False
    managers_of: str | None = None
    except_user: str | None = None  # never tell the person who caused it that they did


@dataclass(frozen=True)
class Message:
    kind: str
    title: str
    body: str
    link: str | None
    audience: Audience


def message(document: dict[str, Any], department_name: str | None) -> Message | None:
    """The notification one audit document yields, or None (an event nobody needs to hear about)."""
    event_type = document.get("event_type")
    meta = document.get("metadata") or {}
    actor = document.get("user_id")
    department = department_name or "your department"
    if event_type == "budget.increase_decided":
        return _decided(meta, department)
    if event_type == "budget.increase_requested":
        whose = "a person's cap" if meta.get("subject") == "user_cap" else "the department's budget"
        return Message(
            "budget_request_waiting",
            f"{department} asks for {money(meta.get('amount_aud'))} more",
            f"{document.get('user_email') or 'Someone'} asked for {money(meta.get('amount_aud'))} more on "
            f"{whose} in {department}. Their reason: {meta.get('reason') or '—'}",
            "/budget-requests",
            Audience(deciders=True, except_user=actor),
        )
    if event_type == "budget.threshold_crossed":
        percent = meta.get("threshold_percent")
        return Message(
            "budget_threshold_crossed",
            f"{department} has spent {percent}% of its budget",
            f"{department} has spent {money(meta.get('spent_aud'))} of its {money(meta.get('budget_aud'))} "
            f"budget this period, crossing the {percent}% alert threshold.",
            "/reports",
            Audience(managers_of=str(meta.get("department_id") or "")),
        )
    if event_type == "cost_events.export_completed" and document.get("status") == "success":
        return Message(
            "export_ready",
            "Your cost export is ready",
            f"Your {meta.get('format')} export from {meta.get('from')} to {meta.get('to')} is ready to "
            f"download ({meta.get('rows_written')} rows).",
            "/exports",
            Audience(user_id=actor),
        )
    if event_type == "generation.failed":
        return _failed(document, meta)
    if event_type == "provider.retiring":
        return _retiring(meta)
    return None


def _retiring(meta: dict[str, Any]) -> Message:
    """To the platform's administrators (the event is recorded in the platform organization)."""
    model = f"{meta.get('provider')}/{meta.get('model')}"
    instead = (
        f"Its replacement: {meta['replaced_by']}." if meta.get("replaced_by") else "It names no replacement."
    )
    return Message(
        "provider_retiring",
        f"{model} retires on {meta.get('retires_on')}",
        f"{model} retires on {meta.get('retires_on')}, in {meta.get('days_left')} days. From that day model "
        f"auto stops choosing it and requests naming it are refused. {instead}",
        "/models",
        Audience(deciders=True),
    )


def _decided(meta: dict[str, Any], department: str) -> Message:
    asked = money(meta.get("amount_aud"))
    reason = meta.get("reason") or "No reason was given."
    what = "your cap" if meta.get("subject") == "user_cap" else f"{department}'s budget"
    if meta.get("status") == "approved":
        granted = meta.get("approved_amount_aud")
        partly = _decimal(granted) < _decimal(meta.get("amount_aud"))
        title = f"{money(granted)} of {asked} approved" if partly else f"{asked} approved"
        body = f"Your request for {asked} more on {what} was approved: {money(granted)} of {asked}."
    else:
        title = f"Your request for {asked} was declined"
        body = f"Your request for {asked} more on {what} was declined."
    return Message(
        "budget_request_decided",
        title,
        f"{body} Reason: {reason}",
        "/usage",
        Audience(user_id=str(meta.get("requested_by") or "")),
    )


def _failed(document: dict[str, Any], meta: dict[str, Any]) -> Message:
    generation = document.get("resource_id")
    if meta.get("content_filter"):
        title = "Your generation was refused by the safety system"
        body = "The model's safety system refused this generation; nothing was charged."
    else:
        title = "Your generation failed"
        body = f"The generation failed and nothing was charged. {meta.get('reason') or ''}".strip()
    return Message(
        "generation_failed",
        title,
        body,
        f"/gallery/{generation}" if generation else "/gallery",
        Audience(user_id=document.get("user_id")),
    )


def money(amount: Any) -> str:
    """Money as every page shows it: A$1,234.50 (cents, half up)."""
    value = _decimal(amount).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return f"{'-' if value < 0 else ''}A${abs(value):,.2f}"


def _decimal(amount: Any) -> Decimal:
    try:
        return Decimal(str(amount))
    except (InvalidOperation, ValueError):
        return Decimal(0)
