"""The models a claimed job may be made by: its admitted model first, then fallbacks priced no higher."""

from __future__ import annotations

from datetime import UTC

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from donatello.core.database import transaction
from donatello.generations.job import Job
from donatello.pricing.service import input_text_bound
from donatello.providers import (
    Availability,
    Candidate,
    CredentialSource,
    ImageRequest,
    UnavailableModels,
    candidates,
)


async def fallbacks(
    sessions: async_sessionmaker[AsyncSession],
    job: Job,
    request: ImageRequest,
    availability: Availability,
    credentials: CredentialSource | None,
) -> list[Candidate]:
    """The admitted model first, then fallbacks priced no higher per image than what was reserved,
    priced as admission priced them: the same prompt bound, price version and day's rates."""
    async with (
        UnavailableModels(sessions, job.organization_id) as unavailable,
        transaction(sessions, tenant=job.organization_id) as session,
    ):
        return await candidates(
            session,
            job.department_id,
            f"{job.provider}/{job.model}",
            job.size,
            job.quality,
            job.n,
            max_unit_price_aud=job.reserved_aud / job.n,
            user_id=job.user_id,
            availability=availability,
            input_bound=input_text_bound(request.prompt, request.negative_prompt),
            on=job.created_at.astimezone(UTC),  # the price version and rates of the admission
            credentials=credentials,
            on_unobtainable=unavailable.unobtainable,
        )
