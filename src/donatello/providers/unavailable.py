"""Models that cannot run until an administrator changes them.

A model whose provider answers 401/403/404 (a wrong credential, a missing permission or deployment) or
whose credential cannot be obtained would fail every call the same way: it is made unavailable with a
reason in plain words and the error behind it (never a secret). Selection skips it (``cannot_run``) and a
request naming it is refused with the reason, until an administrator's ``PUT /config`` or ``PATCH`` clears
it. The first to notice records ``provider.unavailable`` (audit, and the webhook event of that name) in the
organization whose generation found it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Self

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from donatello import audit
from donatello.core.clock import utcnow
from donatello.core.database import transaction
from donatello.providers import repository
from donatello.providers.errors import CredentialUnavailable, ProviderMisconfigured
from donatello.providers.selection import Candidate

#: how the reason of a model whose credential could not be obtained begins (``health`` tries it again)
CREDENTIAL_REASON = "its credential could not be obtained"
_MISCONFIGURED = {
    401: "the provider refused its credential",
    403: "the provider denied its credential access to the model",
    404: "the provider has no such deployment or model",
}


async def make_unavailable(
    session: AsyncSession,
    provider: str,
    model: str,
    *,
    reason: str,
    error: str,
    status: int | None,
    organization_id: uuid.UUID,
) -> bool:
    """Record why the model cannot run; True when this call made it unavailable (and audited it)."""
    row = await repository.mark_unavailable(session, provider, model, reason, error, utcnow())
    if row is None:
        return False
    await audit.record_event(
        session,
        "provider.unavailable",
        action="provider_unavailable",
        resource=("model_provider", row.id),
        organization_id=organization_id,
        status="failure",
        error=row.unavailable_reason,
        details={"provider": provider, "model": model, "reason": row.unavailable_reason, "status": status},
    )
    return True


def misconfigured(error: ProviderMisconfigured) -> tuple[str, str]:
    """(reason, last error) for a 401/403/404 answer."""
    status = error.status_code or 0
    reason = _MISCONFIGURED.get(status, "the provider refused the model's configuration")
    return f"{reason} (HTTP {status})" if status else reason, f"HTTP {status}: {error.reason}"


def unobtainable(error: CredentialUnavailable) -> tuple[str, str]:
    """(reason, last error) for a credential that could not be obtained."""
    return f"{CREDENTIAL_REASON}: {error.reason}", error.detail


@dataclass
class UnavailableModels:
    """What a generation job found about the models it tried, each recorded in a transaction of its own
    for the job's organization: a 401/403/404 answer at once (``misconfigured``, the ``on_misconfigured``
    of ``generate_with_fallback``); a credential that could not be obtained during selection
    (``unobtainable``, the ``on_unobtainable`` of ``candidates``) when the ``async with`` block around the
    selection's transaction ends — so it is kept even when no candidate is left."""

    sessions: async_sessionmaker[AsyncSession]
    organization_id: uuid.UUID
    _noted: list[tuple[str, str, CredentialUnavailable]] = field(default_factory=list)

    def unobtainable(self, provider: str, model: str, error: CredentialUnavailable) -> None:
        self._noted.append((provider, model, error))

    async def misconfigured(self, candidate: Candidate, error: ProviderMisconfigured) -> None:
        reason, detail = misconfigured(error)
        await self._record(candidate.provider, candidate.model, reason, detail, error.status_code)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_: object) -> None:
        noted, self._noted = self._noted, []
        for provider, model, error in noted:
            await self._record(provider, model, *unobtainable(error), None)

    async def _record(self, provider: str, model: str, reason: str, detail: str, status: int | None) -> None:
        async with transaction(self.sessions, tenant=self.organization_id) as session:
            await make_unavailable(
                session,
                provider,
                model,
                reason=reason,
                error=detail,
                status=status,
                organization_id=self.organization_id,
            )
