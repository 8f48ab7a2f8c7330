"""The MFA rule for generation: after a new user's 7-day grace period, MFA must be on."""

from __future__ import annotations

from datetime import datetime

from donatello.auth.errors import MfaRequired
from donatello.core.clock import utcnow
from donatello.tenancy import Principal


def ensure_may_generate(principal: Principal, now: datetime | None = None) -> None:
    """Refuse (403 ``mfa-required``) a user without MFA whose grace period has ended."""
    if principal.mfa_enabled:
        return
    deadline = principal.mfa_grace_period_expires_at
    if deadline is not None and deadline > (now or utcnow()):
        return
    raise MfaRequired(deadline)
