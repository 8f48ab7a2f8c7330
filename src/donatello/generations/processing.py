"""The worker's side of a generation: claim, call the provider with no transaction open, store the
images, settle — or fail and release. Several workers (and processes) run this at once safely:

* a job is claimed with ``FOR UPDATE SKIP LOCKED`` and held by a lease the worker renews (heartbeat);
* a worker that dies stops renewing; once the lease lapses another worker reclaims the job (stuck-job
  detection), up to ``generation_max_attempts`` claims, then it fails and its hold is released;
* every outcome is written with a conditional update ("still processing, still mine"), so a cancelled
  or reclaimed job's late result is discarded, and settlement is exactly-once per generation anyway;
* every provider call is recorded before it is sent (``generations.calls``): one lost with a killed
  worker stays on record, possibly billed; an answer whose images cannot be stored is kept and saved
  later (``generations.saving``), never asked for again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from donatello import audit
from donatello.budgets import reservations, settlement
from donatello.config import Settings
from donatello.core import metrics
from donatello.core.clock import utcnow
from donatello.core.database import transaction
from donatello.core.jobs import JobContext
from donatello.generations import calls, pacing, repository
from donatello.generations.asking import asked_of, in_admitted_words
from donatello.generations.fallbacks import fallbacks
from donatello.generations.in_flight import keep_in_flight
from donatello.generations.job import Job
from donatello.generations.kept import KeptResults
from donatello.generations.outcomes import outcome_event, safety_score
from donatello.generations.queries import charge_basis
from donatello.generations.safety import content_filter, refusal_message
from donatello.generations.saving import save_later
from donatello.generations.sending import JobRequests, trace_sends
from donatello.generations.storing import ImagesNotStored, store_images
from donatello.models import GenerationMetadata
from donatello.providers import (
    Availability,
    Candidate,
    ContentFiltered,
    CredentialSource,
    ModelCannotRun,
    Outcome,
    ProviderError,
    ProviderRateLimited,
    ProvidersExhausted,
    UnavailableModels,
    arrive_in,
    generate_with_fallback,
    watched,
)
from donatello.sealing import PromptSealer
from donatello.storage import ImageStore

log = logging.getLogger(__name__)

#: what ``claim`` returns when it did work but has no job to process: it failed one for good (too many
#: attempts), or undid a claim whose model's quota another worker filled first
GAVE_UP = object()


class _NoRoom(Exception):
    pass


@dataclass
class Processor:
    sessions: async_sessionmaker[AsyncSession]
    settings: Settings
    sealer: PromptSealer
    store: ImageStore
    http: httpx.AsyncClient
    availability: Availability
    name: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}")
    sleep: Any = asyncio.sleep  # provider and store back-off; tests pass a fast one
    credentials: CredentialSource | None = None  # obtains each candidate's credential before its call

    def __post_init__(self) -> None:
        trace_sends(self.http)  # when each paced request was written (``generations.sending``)

    @property
    def kept(self) -> KeptResults:
        """Provider answers kept until stored (``generations.kept``), in the data directory."""
        return KeptResults(self.settings.data_dir / "generation-results")

    async def run_once(self) -> bool:
        """Claim and process one job; False when there was nothing to do."""
        claimed = await self.claim()
        if claimed is None:
            return False
        if isinstance(claimed, Job):
            await self._process(claimed)
        return True

    async def claim(self) -> Job | object | None:
        """Claim the next job in its own short transaction (``GAVE_UP`` when the claim failed a job
        that had used up its attempts); None when nothing is runnable."""
        now, window = utcnow(), self.settings.generation_quota_window_seconds
        with contextlib.suppress(_NoRoom):
            async with transaction(self.sessions, platform=True) as session:
                lease = self.settings.generation_lease
                row = await repository.claim_next(
                    session, self.name, now, lease, window, pacing.CLAIM_AHEAD_SECONDS
                )
                if row is None:
                    return None
                job = Job.of(row)
                if job.attempts > self.settings.generation_max_attempts:
                    await self._fail(session, job, f"gave up after {job.attempts - 1} attempts", now)
                    return GAVE_UP
                if not await pacing.take_call(session, job, now, window, lease):
                    raise _NoRoom  # another worker took the model's last call: the claim is undone
                await calls.reclaimed(session, job)  # an earlier attempt's call without an answer: lost
                return job
        return GAVE_UP

    async def serve(self, context: JobContext) -> None:
        """Keep up to ``generation_concurrency`` jobs in flight until told to stop, then let them finish."""
        await asyncio.to_thread(self.kept.sweep_arrivals)  # what a killed worker left arriving
        await keep_in_flight(
            self.claim,
            self._process,
            context,
            kind=Job,
            most=self.settings.generation_concurrency,
            idle=self.settings.worker_poll_seconds,
        )

    async def _process(self, job: Job) -> None:
        started = time.monotonic()
        arrive_in(self.kept.arrivals)  # this job's answers land beside the kept ones, on one disk
        heartbeat = asyncio.create_task(self._heartbeat(job))
        try:
            # An earlier attempt's answer, paid for but not yet stored, is not asked for again.
            requests: JobRequests | None = None
            if (outcome := self.kept.kept(job.id)) is None:
                request = await asked_of(job, self.sealer)
                options = await fallbacks(self.sessions, job, request, self.availability, self.credentials)
                request, options = in_admitted_words(request, options)
                requests = JobRequests(self.sessions, job, self.settings)  # each takes its quota's place
                work = asyncio.create_task(
                    generate_with_fallback(
                        options,
                        request,
                        http=self.http,
                        sleep=self.sleep,
                        availability=self.availability,
                        on_misconfigured=UnavailableModels(self.sessions, job.organization_id).misconfigured,
                        on_rate_limited=self._cool_down,
                        on_sending=requests.sending,
                    )
                )
                done, _ = await asyncio.wait({work, heartbeat}, return_when=asyncio.FIRST_COMPLETED)
                if heartbeat in done:  # the lease is gone: cancelled, or another worker took over
                    work.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await work
                    await calls.abandoned(self.sessions, job, requests.call)
                    await self._abandon(job)
                    return
                outcome = await calls.outcome_of(self.sessions, job, requests.call, work, requests.settle)
                await asyncio.to_thread(self.kept.keep, job.id, outcome)  # hard links to the arrived files
            names = await store_images(self.store, job.id, job.created_at, outcome.result.images, self.sleep)
            self.kept.release_arrived(outcome.result.images)
            unsent = requests.unsent if requests else True  # an earlier attempt's kept answer: none sent
            await self._complete(job, outcome, names, int((time.monotonic() - started) * 1000), unsent)
        except ContentFiltered as refusal:
            await self._finish_failed(job, refusal_message(refusal), refusal)
        except ProvidersExhausted as exhausted:
            bound = self.settings.generation_max_queue_wait_seconds
            if (until := pacing.wait_for_quota(exhausted.last, bound, utcnow())) is not None:
                await self._defer(job, until)
                return
            await self._finish_failed(
                job, "every eligible model failed: " + "; ".join(exhausted.failures), None
            )
        except ProviderError as error:  # e.g. no adapter / rejected request: final
            await self._finish_failed(job, error.reason, None)
        except ModelCannotRun as error:  # its credentials were removed since admission: final
            await self._finish_failed(job, error.detail, None)
        except ImagesNotStored:  # its answer is kept: a later claim stores it without a provider call
            log.warning("image store failing; job queued again", extra={"generation_id": str(job.id)})
            if self.kept.has(job.id):
                await save_later(self.sessions, self.settings, job, self.name, utcnow())
            else:  # the disk refused to keep it too: an ordinary retry, which asks the provider again
                await self._retry_later(job)
        except Exception:
            log.exception("generation job crashed; it will be retried", extra={"generation_id": str(job.id)})
            await self._retry_later(job)
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat

    async def _cool_down(self, candidate: Candidate, error: ProviderRateLimited) -> None:
        """A 429: no worker process calls the deployment again before its Retry-After has passed."""
        until = utcnow() + timedelta(seconds=pacing.cool_down_seconds(error))
        async with transaction(self.sessions, platform=True) as session:
            await pacing.cool_down(session, candidate.provider, candidate.model, until)

    async def _defer(self, job: Job, until: datetime) -> None:
        async with transaction(self.sessions, tenant=job.organization_id) as session:
            await repository.defer(session, job.id, self.name, until)
            await pacing.give_back(session, job)

    async def _heartbeat(self, job: Job) -> None:
        """Renew the lease (and the budget hold) every third of the lease; return when it is lost."""
        interval = self.settings.generation_lease.total_seconds() / 3
        while True:
            await asyncio.sleep(interval)
            now = utcnow()
            async with transaction(self.sessions, tenant=job.organization_id) as session:
                if not await repository.renew_lease(
                    session, job.id, self.name, now + self.settings.generation_lease
                ):
                    return
                await reservations.extend(session, job.id, now + self.settings.reservation_hold)

    async def _complete(
        self, job: Job, outcome: Outcome, names: list[tuple[str, str]], elapsed_ms: int, unsent: bool
    ) -> None:
        now = utcnow()
        chosen, usage = outcome.candidate, outcome.result.usage
        async with transaction(self.sessions, tenant=job.organization_id) as session:
            finished = await repository.finish(
                session,
                job.id,
                self.name,
                status="completed",
                completed_at=now,
                model_provider=chosen.provider,
                model_name=chosen.model,
                image_url=names[0][0],
                thumbnail_url=names[0][1],
                cost_aud=chosen.quote.total_aud,  # the charge's, below, once settled
                usage=settlement.usage_record(usage) if usage is not None else None,
                generation_time_ms=elapsed_ms,
                is_nsfw=outcome.result.is_nsfw,
                processed_in=outcome.processed_in,
                details={
                    **job.details,
                    "images": [image for image, _ in names],
                    "thumbnails": [thumbnail for _, thumbnail in names],
                    "provider_latency_ms": outcome.result.latency_ms,
                    "fallback_from": outcome.fallback_from.name if outcome.fallback_from else None,
                    # why the models tried before the one that made the images did not
                    "fallback_reason": "; ".join(outcome.failures) if outcome.fallback_from else None,
                },
            )
            if finished is None:
                await self._discard(session, job, names)
                return
            charge = await settlement.settle(
                session, job.id, chosen.quote, usage=usage, at=now, processed_in=outcome.processed_in
            )
            await pacing.answered(session, job, chosen.provider, chosen.model, outcome.result, unsent=unsent)
            finished.cost_aud = charge.actual_cost_aud
            finished.details = {**finished.details, "charge_basis": charge_basis(charge.details)}
            repository.add_metadata(
                session,
                GenerationMetadata(
                    organization_id=job.organization_id,
                    generation_id=job.id,
                    selected_model_reason=job.details.get("selected_model_reason"),
                    fallback_model=chosen.name if outcome.fallback_from is not None else None,
                    retry_count=outcome.retries,
                    model_parameters={
                        "size": job.size,
                        "quality": job.quality,
                        "n": job.n,
                        "style": job.details.get("style"),
                    },
                    content_safety_score=safety_score(outcome.result.safety),
                ),
            )
            await audit.record(
                session,
                outcome_event(
                    job,
                    "generation.completed",
                    "image_generated",
                    user_email=charge.user_email,
                    model_used=chosen.name,
                    fallback_from=outcome.fallback_from.name if outcome.fallback_from else None,
                    cost_aud=charge.actual_cost_aud,
                    generation_time_ms=elapsed_ms,
                    processed_in=outcome.processed_in,
                    department_id=job.department_id,
                ),
            )
        self.kept.discard(job.id)
        metrics.generation_finished("completed", chosen.provider)

    async def _discard(self, session: AsyncSession, job: Job, names: list[tuple[str, str]]) -> None:
        """Our result came too late: cancelled (nothing charged, images removed) or reclaimed by another
        worker (which writes the same names, so they stay)."""
        current = await repository.get(session, job.id)
        if current is not None and current.status == "cancelled":
            self.kept.discard(job.id)
            await pacing.give_back(session, job)  # a place its claim reserved and did not send
            await reservations.release(session, job.id, "cancelled")
            for image, thumbnail in names:
                await self.store.delete(image)
                await self.store.delete(thumbnail)

    async def _abandon(self, job: Job) -> None:
        async with transaction(self.sessions, tenant=job.organization_id) as session:
            await self._discard(session, job, [])

    async def _finish_failed(self, job: Job, reason: str, refusal: ContentFiltered | None) -> None:
        async with transaction(self.sessions, tenant=job.organization_id) as session:
            await self._fail(session, job, reason, utcnow(), refusal)

    async def _fail(
        self,
        session: AsyncSession,
        job: Job,
        reason: str,
        now: datetime,
        refusal: ContentFiltered | None = None,
    ) -> None:
        """Fail for good: no charge, the hold released, the reason kept."""
        finished = await repository.finish(
            session,
            job.id,
            self.name,
            status="failed",
            error_message=reason[:2000],
            completed_at=now,
            is_nsfw=bool(refusal and refusal.is_nsfw),
            **({"details": {**job.details, "content_filter": content_filter(refusal)}} if refusal else {}),
        )
        if finished is None:
            return
        self.kept.discard(job.id)
        await pacing.give_back(session, job)
        await reservations.release(session, job.id, "generation failed", at=now)
        if refusal is not None:
            repository.add_metadata(
                session,
                GenerationMetadata(
                    organization_id=job.organization_id,
                    generation_id=job.id,
                    selected_model_reason=job.details.get("selected_model_reason"),
                    content_safety_score=safety_score(refusal.safety),
                ),
            )
        refused = {"content_filter": content_filter(refusal)} if refusal else {}  # never the prompt
        failed = outcome_event(job, "generation.failed", "generation_failed", reason=reason[:500], **refused)
        await audit.record(session, failed)
        metrics.generation_finished("failed", job.provider)

    async def _retry_later(self, job: Job) -> None:
        """An unexpected error (storage down, a bug): back to the queue with back-off, or fail at last."""
        now = utcnow()
        async with transaction(self.sessions, tenant=job.organization_id) as session:
            if job.attempts >= self.settings.generation_max_attempts:
                await self._fail(session, job, f"gave up after {job.attempts} attempts", now)
                return
            await repository.finish(
                session,
                job.id,
                self.name,
                status="pending",
                next_attempt_at=now + timedelta(seconds=2**job.attempts),
            )
            await pacing.give_back(session, job)


async def run(
    context: JobContext, store: ImageStore, sealer: PromptSealer, redis: Redis | None, keys: CredentialSource
) -> None:
    """The worker job: up to ``generation_concurrency`` jobs in flight until told to stop."""
    settings, available = context.settings, watched(redis, context.sessions, context.settings)
    # One provider connection per job in flight, at most (httpx's default pool is 100).
    limits = httpx.Limits(
        max_connections=settings.generation_concurrency,
        max_keepalive_connections=settings.generation_concurrency,
    )
    async with httpx.AsyncClient(trust_env=False, limits=limits) as http:
        processor = Processor(context.sessions, settings, sealer, store, http, available, credentials=keys)
        await processor.serve(context)
