"""Outgoing webhooks: registration, the fan-out from the audit outbox, and signed, retried deliveries."""
