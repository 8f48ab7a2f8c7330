"""The ``model-health`` worker job: a model made unavailable because its credential could not be obtained
(Key Vault unreachable, the identity endpoint down, the variable not yet mounted) has it tried again every
``provider_health_check_seconds``; once it is obtained the model is available again, audited as
``provider.available``. Cheap (no provider call, nothing generated) and never on a request path. A model a
provider refused (401/403/404) stays unavailable until an administrator changes it.

The same job warns platform administrators of models about to retire (``providers.retirement``): each
model once 30 days and once 7 days before its ``retires_on`` (UTC dates).
"""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from donatello import audit
from donatello.core.clock import utcnow
from donatello.core.database import transaction
from donatello.core.jobs import JobContext
from donatello.providers import repository, retirement
from donatello.providers.errors import CredentialUnavailable
from donatello.providers.selection import CredentialSource
from donatello.providers.unavailable import CREDENTIAL_REASON

log = logging.getLogger(__name__)


async def probe(sessions: async_sessionmaker[AsyncSession], credentials: CredentialSource) -> int:
    """Try each waiting model's credential once; how many models are available again."""
    async with transaction(sessions, platform=True) as session:
        waiting = await repository.waiting_for_credentials(session, CREDENTIAL_REASON)
    recovered = 0
    for model_id, since, credential in waiting:
        try:
            await credentials.resolve(credential)
        except CredentialUnavailable:
            continue
        async with transaction(sessions, platform=True) as session:
            row = await repository.mark_available(session, model_id, since)
            if row is None:  # an administrator changed it meanwhile
                continue
            await audit.record_event(
                session,
                "provider.available",
                action="provider_available",
                resource=("model_provider", row.id),
                organization_id=None,
                details={"provider": row.provider_name, "model": row.model_name, "checked": "credential"},
            )
        recovered += 1
        log.info("model available again", extra={"provider": row.provider_name, "model": row.model_name})
    return recovered


async def warn_of_retirements(sessions: async_sessionmaker[AsyncSession]) -> int:
    """Record ``provider.retiring`` for each model entering a warning window today; how many."""
    async with transaction(sessions, platform=True) as session:
        platform = await repository.platform_organization_id(session)
        if platform is None:  # no platform organization yet: nobody to warn
            return 0
        return await retirement.warn(session, platform, utcnow().date())


async def run(context: JobContext, credentials: CredentialSource) -> None:
    async def step() -> bool:
        await probe(context.sessions, credentials)
        await warn_of_retirements(context.sessions)
        return False  # then wait a whole interval

    await context.repeat(step, idle=context.settings.provider_health_check_seconds, what="model health check")
