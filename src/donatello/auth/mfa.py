"""The MFA rule for generation: after a person's 7-day grace period (from their first sign-in), the
sign-in behind the request must have met the organization's MFA rule (``organizations.MfaRule``: the
token's ``amr``, the identity provider's Conditional Access, or listed authentication contexts).

A credential with no sign-in that speaks for MFA (an API key, an operator token, local sign-in) falls back
to whether the person has met the rule before (``mfa_enabled``)."""

from __future__ import annotations

from datetime import datetime

from donatello.auth.errors import MfaRequired
from donatello.core.clock import utcnow
from donatello.tenancy import Principal


def refusal(principal: Principal, now: datetime | None = None) -> MfaRequired | None:
    """What a generation request would be refused with under the MFA rule (None: it may generate), so a
    page can say so before anything is typed."""
    if principal.mfa_proved or principal.in_mfa_grace(now or utcnow()):
        return None
    return MfaRequired(principal.mfa_grace_period_expires_at)


def ensure_may_generate(principal: Principal, now: datetime | None = None) -> None:
    """Refuse (403 ``mfa-required``) a request whose sign-in did not meet the MFA rule once the person's
    grace period has ended."""
    if (refused := refusal(principal, now)) is not None:
        raise refused
