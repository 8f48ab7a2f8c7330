"""Every provider call a generation job makes, recorded for the reconciliation of the provider's invoice.

A call is written and committed *before* its request is sent (``sent``, in the transaction that takes
the request's place in its model's quota: ``generations.sending``), and its outcome once the worker has
it (``outcome_of``); a job whose requests were all held back (a cool-down, a circuit open) made none.
So a worker process killed mid-call (OOM, a node drained) leaves its call without an outcome; when the
job is reclaimed after its lease, the call is marked ``lost`` and ``possibly_billed`` (``reclaimed``):
the provider may have made — and billed — images nobody received.
A worker that loses its lease mid-call stops waiting and marks its call ``abandoned``, possibly billed
too. The generation itself is charged once (one cost event per generation): a possibly-billed call is
what explains a provider's invoice counting more calls than our cost events.

No idempotency key is sent: Azure OpenAI and OpenAI document none for image generation (the OpenAI
SDK sends none to it), and we found none for the other image APIs we call; a call made again is a new,
separately billed call, so recording it is what we can do.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from donatello.core.clock import utcnow
from donatello.core.database import transaction
from donatello.generations import calls_repository
from donatello.generations.job import Job
from donatello.models import ProviderCall
from donatello.providers import ContentFiltered, Outcome, ProviderError


async def reclaimed(session: AsyncSession, job: Job) -> None:
    """A claim: any call of an earlier attempt still without an outcome was lost with its worker."""
    if job.attempts > 1:
        await calls_repository.mark_unanswered_lost(session, job.id, utcnow())


async def sent(session: AsyncSession, job: Job) -> uuid.UUID:
    """Record the job's call to its admitted model, in flight, before the request goes out."""
    call = ProviderCall(
        organization_id=job.organization_id,
        generation_id=job.id,
        attempt=job.attempts,
        model=f"{job.provider}/{job.model}",
        started_at=utcnow(),
    )
    return await calls_repository.add(session, call)


#: more to write in the transaction that records a call's outcome (the quota places of its requests)
Also = Callable[[AsyncSession], Awaitable[None]]


async def outcome_of(
    sessions: async_sessionmaker[AsyncSession],
    job: Job,
    call_id: uuid.UUID | None,
    work: asyncio.Task[Outcome],
    also: Also | None = None,
) -> Outcome:
    """The finished call's result (or its error, raised), its outcome recorded first (None: no request was
    let go, nothing to record). When a fallback made the images, the call names the model that answered."""
    try:
        outcome = work.result()
    except ContentFiltered:
        await _record(sessions, job, call_id, "refused", also=also)
        raise
    except ProviderError:
        await _record(sessions, job, call_id, "failed", also=also)
        raise
    except Exception:  # a fault of ours mid-call: whether the provider answered is not known
        await _record(sessions, job, call_id, "lost", possibly_billed=True, also=also)
        raise
    await _record(sessions, job, call_id, "answered", model=outcome.candidate.name, also=also)
    return outcome


async def abandoned(sessions: async_sessionmaker[AsyncSession], job: Job, call_id: uuid.UUID | None) -> None:
    """The lease was lost mid-call (cancelled, or another worker took over): the call was not waited for."""
    await _record(sessions, job, call_id, "abandoned", possibly_billed=True)


async def _record(
    sessions: async_sessionmaker[AsyncSession],
    job: Job,
    call_id: uuid.UUID | None,
    outcome: str,
    *,
    possibly_billed: bool = False,
    model: str | None = None,
    also: Also | None = None,
) -> None:
    if call_id is None:  # nothing was sent
        return
    values: dict[str, object] = {
        "outcome": outcome,
        "possibly_billed": possibly_billed,
        "finished_at": utcnow(),
    }
    if model is not None:
        values["model"] = model
    async with transaction(sessions, tenant=job.organization_id) as session:
        await calls_repository.set_outcome(session, call_id, **values)
        if also is not None:
            await also(session)


async def of_generation(session: AsyncSession, generation_id: uuid.UUID) -> list[ProviderCall]:
    """The generation's calls, oldest first (the caller has already checked who may see it)."""
    return await calls_repository.of_generation(session, generation_id)
