"""The audit log: every state change records one event in the same transaction (outbox), shipped later
to Cosmos DB. ``audit`` takes plain ids so any package may call it."""

from donatello.audit.events import AuditEvent, outbox_row
from donatello.audit.service import record, refusal

__all__ = ["AuditEvent", "outbox_row", "record", "refusal"]
