"""What a finished generation job records: its audit event and the safety score kept beside it."""

from __future__ import annotations

from typing import Any

from donatello import audit
from donatello.generations.job import Job


def safety_score(safety: dict[str, object] | None) -> str | None:
    if not safety:
        return None
    return str(safety.get("max_severity") or "")[:50] or None


def outcome_event(job: Job, event_type: str, action: str, **metadata: Any) -> audit.AuditEvent:
    status = "failure" if event_type == "generation.failed" else "success"
    return audit.event(
        event_type,
        action=action,
        resource=("generation", job.id),
        organization_id=job.organization_id,
        actor=audit.Actor(job.user_id, metadata.pop("user_email", None)),  # whose work it did, by name
        status=status,
        error=metadata.get("reason") if status == "failure" else None,
        details=metadata,
    )
