from __future__ import annotations

from donatello.core.errors import DomainError


class TargetNotAllowed(DomainError):
    """The URL's host is (or resolves to) an address webhooks may not reach: private, loopback,
    link-local, multicast, reserved — or it does not resolve at all."""

    status = 422
    type = "webhook-target-not-allowed"
    title = "The webhook URL may not be used"
