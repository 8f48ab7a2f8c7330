from __future__ import annotations

from datetime import datetime

from donatello.core.errors import DomainError, Forbidden, Unauthenticated


class InvalidEntraToken(Unauthenticated):
    type = "invalid-token"
    title = "The token from Microsoft Entra ID is not valid"


class SignInFailed(Unauthenticated):
    type = "sign-in-failed"
    title = "Sign-in failed"


class SignInRefused(SignInFailed):
    """A sign-in that failed after it reached us: the failure is recorded in the audit log and that
    record commits (nothing else was written)."""

    keeps_transaction = True

    def __init__(self, cause: Unauthenticated) -> None:
        super().__init__(cause.detail, **cause.extensions)
        self.cause_type = cause.type


class SignInNotConfigured(DomainError):
    status = 503
    type = "sign-in-not-configured"
    title = "Sign-in with Microsoft Entra ID is not configured"


class MfaRequired(Forbidden):
    type = "mfa-required"
    title = "Multi-factor authentication required"

    def __init__(self, grace_period_expired_at: datetime | None) -> None:
        super().__init__(
            "Your MFA grace period has ended: sign in again with multi-factor authentication to generate "
            "images",
            grace_period_expired_at=grace_period_expired_at.isoformat() if grace_period_expired_at else None,
        )


class ApiKeyNotAllowed(Forbidden):
    """A route that acts on the caller's sign-ins or personal settings: an API key (made for calling the
    API from scripts, narrowed by its scopes) has no business there, whatever its scopes."""

    type = "api-key-not-allowed"
    title = "API keys cannot manage sign-ins or preferences"

    def __init__(self) -> None:
        super().__init__(
            "This route acts on your sign-ins or preferences: call it with the access token of a sign-in, "
            "not an API key"
        )
