"""Notifications: what people are told, in the app and by e-mail, derived from the audit outbox."""
