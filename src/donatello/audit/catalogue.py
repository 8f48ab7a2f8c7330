"""The event types the service records, for people to pick from (the audit log page's filter). A type
missing here can still be typed; the browser story checks that every event it causes is listed."""

from __future__ import annotations

EVENT_TYPES: tuple[str, ...] = tuple(
    sorted(
        {
            "api_key.created", "api_key.revoked",
            "auth.sign_in_failed", "auth.signed_in", "auth.throttled",
            "budget.changed", "budget.created", "budget.increase_decided", "budget.increase_request_expired",
            "budget.increase_requested", "budget.mode_changed", "budget.period_closed",
            "budget.request_refused", "budget.reservation_expired", "budget.reservation_released",
            "budget.threshold_crossed",
            "cost.charged", "cost.correction", "cost.refund",
            "cost_events.export_completed", "cost_events.exported",
            "department.created", "department.updated",
            "export_schedule.created", "export_schedule.deleted", "export_schedule.run_completed",
            "export_schedule.updated",
            "generation.batch_requested", "generation.cancelled", "generation.completed",
            "generation.deleted", "generation.failed", "generation.prompt_read", "generation.requested",
            "generation.usage_missing",
            "notification.read", "notification.read_all",
            "organization.created", "organization.mfa_rule_changed", "organization.updated",
            "provider.available", "provider.configured", "provider.created", "provider.price_scheduled",
            "provider.retiring", "provider.unavailable", "provider.updated",
            "provisioning_token.issued",
            "reconciliation.completed", "reconciliation.imported", "reconciliation.settings_changed",
            "scim_group.created", "scim_group.deleted", "scim_group.updated",
            "session.expired_deleted", "session.refresh_reuse_detected", "session.refreshed",
            "session.revoked", "session.revoked_all", "session.signed_out",
            "user.claimed", "user.created", "user.deactivated", "user.deleted", "user.preference_deleted",
            "user.preference_set", "user.provisioned", "user.reactivated", "user.role_changed",
            "user.updated",
            "webhook.created", "webhook.deleted", "webhook.disabled", "webhook.pinged", "webhook.redelivered",
            "webhook.secret_rotated", "webhook.updated",
        }
    )
)  # fmt: skip
