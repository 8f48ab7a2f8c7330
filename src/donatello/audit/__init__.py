"""The audit log: every state change records one event in the same transaction (outbox), shipped later
to Cosmos DB. ``audit`` takes plain ids so any package may call it."""

from donatello.audit.events import Actor, AuditEvent, event, outbox_row
from donatello.audit.service import record, record_event, refusal

__all__ = ["Actor", "AuditEvent", "event", "outbox_row", "record", "record_event", "refusal"]
