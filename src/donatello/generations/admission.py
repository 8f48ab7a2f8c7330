"""Admitting a generation: one short transaction from request to 202.

principal -> MFA -> model -> quote -> prompt sealed -> the model's queue short enough -> rate limits
charged -> budget hold + generation row + audit event (one statement when the request plainly fits the
budget) -> commit. The provider is never called here; the worker picks the row up.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from donatello import audit
from donatello.audit.backlog import BacklogGate
from donatello.budgets import reservations
from donatello.budgets.errors import NoDepartment
from donatello.config import Settings
from donatello.core.clock import utcnow
from donatello.core.errors import Forbidden
from donatello.generations import pacing, repository, waiting
from donatello.generations.errors import BatchTooLarge, IdempotencyKeyReused
from donatello.generations.schemas import LISTED_SIZES, BatchCreate, GenerationCreate
from donatello.models import Generation, GenerationBatch
from donatello.pricing.service import input_text_bound
from donatello.providers import Availability, Candidate, candidates
from donatello.providers.options import first_accepting
from donatello.providers.request_fit import refuse_free_size_not_taken
from donatello.ratelimit import Check, RateLimited, RateLimiter, charged, checks_for
from donatello.sealing import PromptSealer
from donatello.tenancy import Principal
from donatello.tenancy.permissions import Permission

#: the dearest quality words (``hd`` is ``high`` on gpt-image): for those allowed HD generations
HIGH_QUALITIES = frozenset({"hd", "high"})


@dataclass(frozen=True)
class Admission:
    """What admission needs besides the request: configuration and the clients it talks to."""

    settings: Settings
    sealer: PromptSealer
    limiter: RateLimiter
    availability: Availability
    audit_backlog: BacklogGate | None = None  # None: no bound on the audit outbox


def prompt_context(organization_id: uuid.UUID, generation_id: uuid.UUID) -> str:
    """Binds a sealed prompt to its row: moved anywhere else, it no longer opens."""
    return f"org:{organization_id}/generation:{generation_id}"


async def request(
    session: AsyncSession,
    principal: Principal,
    body: GenerationCreate,
    idempotency_key: str | None,
    admission: Admission,
) -> Generation:
    """Accept one generation, or return the one this Idempotency-Key already created (same body only)."""
    if idempotency_key:
        await repository.lock_idempotency_key(session, principal.user_id, idempotency_key)
        if existing := await repository.by_idempotency_key(session, principal.user_id, idempotency_key):
            if existing.request_fingerprint != body.fingerprint():
                raise IdempotencyKeyReused(idempotency_key)
            return existing
    [generation] = await _admit(session, principal, [body], admission, idempotency_key=idempotency_key)
    return generation


async def request_batch(
    session: AsyncSession,
    principal: Principal,
    body: BatchCreate,
    idempotency_key: str | None,
    admission: Admission,
) -> GenerationBatch:
    """Accept a batch: the whole batch's quote is held at once, or nothing is."""
    if not principal.can(Permission.GENERATIONS_BATCH):
        raise Forbidden(
            "Batch generation is for power users and admins", required_permission="generations:batch"
        )
    limit = admission.settings.max_batch_size
    if len(body.items) > limit:
        raise BatchTooLarge(len(body.items), limit)
    fingerprint = body.fingerprint()
    if idempotency_key:
        await repository.lock_idempotency_key(session, principal.user_id, f"batch:{idempotency_key}")
        if existing := await repository.batch_by_idempotency_key(session, principal.user_id, idempotency_key):
            if existing.request_fingerprint != fingerprint:
                raise IdempotencyKeyReused(idempotency_key)
            return existing
    if principal.department_id is None:
        raise NoDepartment()
    batch = GenerationBatch(
        id=uuid.uuid4(),
        organization_id=principal.organization_id,
        user_id=principal.user_id,
        department_id=principal.department_id,
        idempotency_key=idempotency_key,
        request_fingerprint=fingerprint,
        total=len(body.items),
    )
    generations = await _admit(session, principal, body.items, admission, batch=batch)
    await audit.record_event(
        session,
        "generation.batch_requested",
        action="batch_requested",
        resource=("generation_batch", batch.id),
        organization_id=principal.organization_id,
        actor=principal,
        details={"total": batch.total, "generation_ids": [g.id for g in generations]},
    )
    return batch


async def _admit(
    session: AsyncSession,
    principal: Principal,
    bodies: Sequence[GenerationCreate],
    admission: Admission,
    *,
    idempotency_key: str | None = None,
    batch: GenerationBatch | None = None,
) -> list[Generation]:
    if principal.department_id is None:
        raise NoDepartment()
    if admission.audit_backlog is not None:
        await admission.audit_backlog.admit()
    if any(body.quality in HIGH_QUALITIES for body in bodies) and not principal.can(
        Permission.GENERATIONS_HD
    ):
        raise Forbidden(
            "HD (high) quality is for power users and admins", required_permission="generations:hd"
        )
    choices: list[Candidate] = []
    for body in bodies:
        await refuse_free_size_not_taken(session, body.model, body.size, LISTED_SIZES)
        offered = await candidates(
            session,
            principal.department_id,
            body.model,
            body.size,
            body.quality,
            body.n,
            user_id=principal.user_id,
            availability=admission.availability,
            input_bound=input_text_bound(body.prompt, body.negative_prompt),
        )
        choices.append(first_accepting(offered, body.negative_prompt, body.seed, named=body.model != "auto"))

    now = utcnow()
    rows = [
        Generation(
            id=uuid.uuid4(),
            organization_id=principal.organization_id,
            user_id=principal.user_id,
            department_id=principal.department_id,
            idempotency_key=idempotency_key,
            request_fingerprint=body.fingerprint(),
            batch_id=batch.id if batch else None,
            model_provider=choice.provider,
            model_name=choice.model,
            size=body.size,
            quality=body.quality,
            n=body.n,
            priority=body.priority,
            prompt_encrypted="",
            reservation_aud=choice.quote.total_aud,
            created_at=now,
            next_attempt_at=now,
            details={
                "style": body.style,
                "seed": body.seed,
                "selected_model_reason": choice.reason,
                "requested_model": body.model,
                "admitted_model": choice.name,
                # what a call counts against a token quota until the provider reports its usage
                **({"token_bound": bound} if (bound := pacing.call_token_bound(choice.quote)) else {}),
                # Members of a batch share created_at: their place in the request orders them.
                **({"position": position} if batch else {}),
            },
        )
        for position, (body, choice) in enumerate(zip(bodies, choices, strict=True))
    ]
    # Sealed before the budget row is locked: the key provider (Key Vault in Azure) is never called while
    # other admissions to the department wait on that lock.
    for row, body in zip(rows, bodies, strict=True):
        secret = json.dumps({"prompt": body.prompt, "negative_prompt": body.negative_prompt})
        sealed = await admission.sealer.seal(secret, context=prompt_context(row.organization_id, row.id))
        row.prompt_encrypted, row.prompt_key_id = sealed.envelope, sealed.key_id
    await _within_queue_bound(session, bodies, choices, admission.settings)
    checks = _rate_limits(principal, bodies, admission.settings)
    # The allowances are charged before the budget row is locked, and given back if the budget then
    # refuses (or anything else fails): between the lock and the commit nothing waits on Redis.
    async with charged(admission.limiter, checks):
        return await hold_and_write(
            session, principal, rows, at=now, hold_for=admission.settings.reservation_hold, batch=batch
        )


async def hold_and_write(
    session: AsyncSession,
    principal: Principal,
    rows: list[Generation],
    *,
    at: datetime,
    hold_for: timedelta,
    batch: GenerationBatch | None = None,
) -> list[Generation]:
    """The budget hold and the new generations (with their audit rows), written together: through the
    budget's gate when the request plainly fits, else after the budget decided under its lock."""
    # A batch takes the slow way: its row must exist before its members, and a refusal commits
    # (its audit event), which must not keep a batch row with nothing in it.
    if batch is not None:
        return await _admit_after_deciding(session, principal, rows, at, hold_for, batch, gate=None)
    admitted, verdict = await _admit_within_budget(session, principal, rows, at, hold_for)
    if verdict.held:
        return admitted
    return await _admit_after_deciding(session, principal, rows, at, hold_for, None, gate=verdict)


async def _admit_within_budget(
    session: AsyncSession, principal: Principal, rows: list[Generation], at: datetime, hold_for: timedelta
) -> tuple[list[Generation], reservations.GateVerdict]:
    """The common case in one statement: the budget row is locked, checked and raised by the statement
    that writes the holds, the generations and their audit rows, so it stays locked only until the
    commit. When the budget has more to decide than "it fits", nothing is written and the verdict names
    why (the row stays locked for the decision)."""
    hold = reservations.hold_if_within_budget(
        principal,
        [reservations.HoldRequest(row.id, row.reservation_aud) for row in rows],
        at=at,
        hold_for=hold_for,
    )
    for row in rows:
        row.is_over_budget = False
        row.reservation_expires_at = hold.expires_at
    admitted, verdict = await repository.add_admitted_if(
        session,
        rows,
        _requested_events(principal, rows),
        along=(hold.ctes, hold.parameters),
        gate=hold.gate.held,
        verdict=hold.gate.verdict,
    )
    return admitted, reservations.verdict_of(verdict)


async def _admit_after_deciding(
    session: AsyncSession,
    principal: Principal,
    rows: list[Generation],
    at: datetime,
    hold_for: timedelta,
    batch: GenerationBatch | None,
    *,
    gate: reservations.GateVerdict | None,
) -> list[Generation]:
    """Every other case: the budget decides under its row lock (refuses with its audit, flags a soft or
    warn pass-through, sweeps lapsed holds, rolls the period over), told why the gate stepped aside, and
    the holds are written by the same statement as the generations and their audit rows."""
    pending = await reservations.decide(
        session,
        principal,
        [reservations.HoldRequest(row.id, row.reservation_aud) for row in rows],
        at=at,
        hold_for=hold_for,
        gate=gate,
    )
    held = pending.hold
    for row in rows:
        row.is_over_budget = held.flagged
        row.reservation_expires_at = held.holds[0].expires_at
    if batch is not None:
        await repository.add(session, batch)
    admitted = await repository.add_admitted(
        session, rows, _requested_events(principal, rows), along=(pending.ctes, pending.parameters)
    )
    pending.written()
    return admitted


def _requested_events(principal: Principal, rows: Sequence[Generation]) -> list[dict[str, Any]]:
    return [
        audit.outbox_row(
            audit.event(
                "generation.requested",
                action="generation_requested",
                resource=("generation", row.id),
                organization_id=row.organization_id,
                actor=principal,
                details={
                    "model": f"{row.model_provider}/{row.model_name}",
                    "size": row.size,
                    "quality": row.quality,
                    "n": row.n,
                    "reserved_aud": row.reservation_aud,
                    "over_budget": row.is_over_budget,
                    "department_id": row.department_id,
                    "batch_id": row.batch_id,
                },
            )
        )
        for row in rows
    ]


def _rate_limits(principal: Principal, bodies: Sequence[GenerationCreate], settings: Settings) -> list[Check]:
    """The allowances the request is charged against — the user's and the organization's — checked in one
    all-or-nothing step. A model's own quota is not one of them: it paces the worker's calls (``pacing``)."""
    images = sum(body.n for body in bodies)
    return checks_for(
        principal, provider=None, provider_limit_per_minute=None, settings=settings, images=images
    )


async def _within_queue_bound(
    session: AsyncSession,
    bodies: Sequence[GenerationCreate],
    choices: Sequence[Candidate],
    settings: Settings,
) -> None:
    """Queue behind a model's quotas rather than refuse — unless the estimated start of the last of these
    calls (one per generation; ``waiting.calls_start``, what a waiting generation shows) is further away
    than ``generation_max_queue_wait_seconds``: then 429, retry when it would not be."""
    now = utcnow()
    for choice in {c.name: c for c in choices}.values():
        per_minute, tokens = choice.target.rate_limit_per_minute, choice.target.token_limit_per_minute
        if not per_minute and not tokens:
            continue
        bounds = [pacing.call_token_bound(c.quote) or 0 for c in choices if c.name == choice.name]
        start = await waiting.calls_start(session, choice.provider, choice.model, bounds, settings, now)
        wait = (start - now).total_seconds()
        if wait > settings.generation_max_queue_wait_seconds:
            limit = per_minute or tokens or 0
            raise RateLimited("provider", limit, 60, wait - settings.generation_max_queue_wait_seconds)
