"""What users see of generations: each one, their history, prompt read-back, batches and usage."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from donatello import audit
from donatello.budgets.periods import BadBound, organization_timezone, query_range
from donatello.config import Settings
from donatello.core.clock import utcnow
from donatello.core.errors import Forbidden, NotFound, ValidationFailed
from donatello.core.money import to_cents
from donatello.core.pagination import Page, decode_cursor, page_of
from donatello.generations import calls, repository, waiting
from donatello.generations.admission import prompt_context
from donatello.generations.schemas import (
    BatchRead,
    ChargeBasis,
    GenerationRead,
    MeteredUsageRead,
    PromptHistoryItem,
    PromptRead,
    ProviderCallRead,
    UsageStats,
)
from donatello.generations.waiting import Place
from donatello.models import Generation, GenerationBatch
from donatello.sealing import PromptSealer
from donatello.storage import ImageStore
from donatello.tenancy import Principal
from donatello.tenancy.permissions import Permission


def may_see(principal: Principal, generation: Generation | GenerationBatch) -> bool:
    """Own generations always; a department's for its manager; the organization's for admins."""
    if generation.organization_id != principal.organization_id and not principal.platform_wide:
        return False
    if generation.user_id == principal.user_id:
        return True
    if not principal.can(Permission.GENERATIONS_READ_OTHERS):
        return False
    return principal.reaches_department(generation.department_id)


async def visible(session: AsyncSession, principal: Principal, generation_id: uuid.UUID) -> Generation:
    """The generation if this principal may see it; otherwise (or deleted) it does not exist for them."""
    generation = await repository.get(session, generation_id)
    if generation is None or generation.is_deleted or not may_see(principal, generation):
        raise NotFound("generation", generation_id)
    return generation


async def read(generation: Generation, store: ImageStore, place: Place | None = None) -> GenerationRead:
    """What a generation looks like to its readers; ``place`` (``waiting.places``) while it waits."""
    images = list(generation.details.get("images", []))
    thumbnails = list(generation.details.get("thumbnails", []))
    details = generation.details
    started = details.get("started_at")
    return GenerationRead(
        id=generation.id,
        user_id=generation.user_id,
        status=generation.status,
        model_provider=generation.model_provider,
        model_name=generation.model_name,
        requested_model=details.get("requested_model"),
        model=f"{generation.model_provider}/{generation.model_name}",
        selection_reason=details.get("selected_model_reason"),
        fallback_from=details.get("fallback_from"),
        fallback_reason=details.get("fallback_reason"),
        size=generation.size,
        quality=generation.quality,
        n=generation.n,
        batch_id=generation.batch_id,
        image_urls=[await store.read_url(name) for name in images],
        thumbnail_urls=[await store.read_url(name) for name in thumbnails],
        reserved_aud=generation.reservation_aud,
        cost_aud=generation.cost_aud,
        is_over_budget=generation.is_over_budget,
        is_nsfw=generation.is_nsfw,
        error_message=generation.error_message,
        content_filter=details.get("content_filter"),
        usage=_metered(generation.usage),
        charge_basis=details.get("charge_basis"),
        processed_in=generation.processed_in,
        created_at=generation.created_at,
        started_at=datetime.fromisoformat(started) if started else None,
        completed_at=generation.completed_at,
        generation_time_ms=generation.generation_time_ms,
        queue_position=place.position if place else None,
        estimated_start_at=place.estimated_start_at if place else None,
    )


async def read_placed(
    session: AsyncSession, generation: Generation, store: ImageStore, settings: Settings
) -> GenerationRead:
    """``read`` with its place in line while it waits, and the provider calls made for it."""
    placed = await waiting.places(session, [generation], settings, utcnow())
    shown = await read(generation, store, placed.get(generation.id))
    recorded = await calls.of_generation(session, generation.id)
    made = [ProviderCallRead.model_validate(call, from_attributes=True) for call in recorded]
    unfinished = generation.status in ("pending", "processing")
    saving = unfinished and any(call.outcome == "answered" for call in made)
    return shown.model_copy(update={"provider_calls": made, "saving": saving})


def charge_basis(charge_details: dict[str, Any]) -> ChargeBasis:
    """How a charge was worked out, from what its cost event says about it (``budgets.settlement``)."""
    if charge_details.get("pricing_unit") != "token":
        return "per-image"
    if charge_details.get("usage_missing"):
        return "hold-usage-missing"
    if charge_details.get("capped_at_hold"):
        return "usage-capped-at-hold"
    return "usage"


def _metered(usage: dict[str, Any] | None) -> MeteredUsageRead | None:
    if usage is None:
        return None
    return MeteredUsageRead(
        input_text_tokens=usage["input_text_tokens"],
        input_image_tokens=usage["input_image_tokens"],
        output_image_tokens=usage["output_image_tokens"],
    )


async def history(
    session: AsyncSession,
    principal: Principal,
    store: ImageStore,
    *,
    settings: Settings | None = None,
    department_id: uuid.UUID | None,
    status: str | None,
    model: str | None,
    created_from: str | None,
    created_to: str | None,
    cursor: str | None,
    limit: int,
) -> Page[GenerationRead]:
    """Newest first. Everyone sees their own; ``department_id`` asks for a department's (managers of it,
    org admins). With ``settings``, waiting ones carry their place in line."""
    user_id: uuid.UUID | None = principal.user_id
    if department_id is not None:
        allowed = principal.can(Permission.GENERATIONS_READ_OTHERS) and principal.reaches_department(
            department_id
        )
        if not allowed:
            raise Forbidden("Only the department's manager or an org admin may list its generations")
        user_id = None
    begin, finish = await date_range(session, principal, created_from, created_to)
    after = decode_cursor(cursor, 2)
    rows = await repository.page(
        session,
        organization_id=principal.organization_id,
        user_id=user_id,
        department_id=department_id,
        status=status,
        model=model,
        created_from=begin,
        created_to=finish,
        after=(datetime.fromisoformat(after[0]), uuid.UUID(after[1])) if after else None,
        limit=limit + 1,
    )
    kept, next_cursor = page_of(rows, limit, key=lambda row: [row.created_at.isoformat(), row.id])
    # one read of the queue for the page, when its places are wanted (the API's list)
    placed = await waiting.places(session, kept, settings, utcnow()) if settings else {}
    items = [await read(row, store, placed.get(row.id)) for row in kept]
    return Page[GenerationRead](items=items, next_cursor=next_cursor)


async def prompt(
    session: AsyncSession, principal: Principal, sealer: PromptSealer, generation_id: uuid.UUID
) -> PromptRead:
    """The owner reads their prompt back; an org admin may too, and that read is audited."""
    generation = await visible(session, principal, generation_id)
    if generation.user_id != principal.user_id:
        if not principal.can(Permission.GENERATIONS_MANAGE_OTHERS):
            raise Forbidden(
                "Only its owner or an org admin may read this generation's prompt",
                required_permission=Permission.GENERATIONS_MANAGE_OTHERS.value,
            )
        await audit.record_event(
            session,
            "generation.prompt_read",
            action="prompt_read_by_admin",
            resource=("generation", generation.id),
            organization_id=generation.organization_id,
            actor=principal,
            details={"owner_id": generation.user_id},
        )
    secret = json.loads(
        await sealer.open(
            generation.prompt_encrypted, context=prompt_context(generation.organization_id, generation.id)
        )
    )
    return PromptRead(
        generation_id=generation.id, prompt=secret["prompt"], negative_prompt=secret["negative_prompt"]
    )


async def prompt_history(
    session: AsyncSession, principal: Principal, sealer: PromptSealer, cursor: str | None, limit: int
) -> Page[PromptHistoryItem]:
    after = decode_cursor(cursor, 2)
    rows = await repository.page(
        session,
        organization_id=principal.organization_id,
        user_id=principal.user_id,
        department_id=None,
        status=None,
        model=None,
        created_from=None,
        created_to=None,
        after=(datetime.fromisoformat(after[0]), uuid.UUID(after[1])) if after else None,
        limit=limit + 1,
    )
    kept, next_cursor = page_of(rows, limit, key=lambda row: [row.created_at.isoformat(), row.id])
    items = []
    for row in kept:
        secret = json.loads(
            await sealer.open(row.prompt_encrypted, context=prompt_context(row.organization_id, row.id))
        )
        items.append(
            PromptHistoryItem(
                generation_id=row.id,
                prompt=secret["prompt"],
                model=f"{row.model_provider}/{row.model_name}",
                status=row.status,
                created_at=row.created_at,
            )
        )
    return Page[PromptHistoryItem](items=items, next_cursor=next_cursor)


async def batch(session: AsyncSession, principal: Principal, batch_id: uuid.UUID) -> BatchRead:
    found = await repository.batch(session, batch_id)
    if found is None or not may_see(principal, found):
        raise NotFound("batch", batch_id)
    members = await repository.batch_members(session, batch_id)
    counts = {status: 0 for status in ("pending", "processing", "completed", "failed", "cancelled")}
    for member in members:
        counts[member.status] += 1
    finished = counts["completed"] + counts["failed"] + counts["cancelled"]
    return BatchRead(
        id=found.id,
        total=found.total,
        **counts,
        done=finished == found.total,
        progress_percent=to_cents(Decimal(finished * 100) / Decimal(found.total)),
        reserved_aud=sum(
            (m.reservation_aud for m in members if m.status in ("pending", "processing")), Decimal(0)
        ),
        created_at=found.created_at,
        generation_ids=[m.id for m in members],
    )


@dataclass(frozen=True)
class ModelSpend:
    model: str
    images: int
    spend_aud: Decimal


@dataclass(frozen=True)
class MonthlyUsage:
    since: datetime
    images: int
    spend_aud: Decimal
    by_model: list[ModelSpend]


async def monthly_usage(session: AsyncSession, principal: Principal, since: datetime) -> MonthlyUsage:
    """The caller's own ledger since the start of the budget period: images and net spend by model."""
    rows = [
        ModelSpend(model, int(images), Decimal(spend))
        for model, images, spend in await repository.spend_by_model_since(session, principal.user_id, since)
    ]
    return MonthlyUsage(
        since=since,
        images=sum(row.images for row in rows),
        spend_aud=sum((row.spend_aud for row in rows), Decimal(0)),
        by_model=rows,
    )


async def usage(
    session: AsyncSession, principal: Principal, created_from: str | None, created_to: str | None
) -> UsageStats:
    begin, finish = await date_range(session, principal, created_from, created_to)
    return UsageStats(**await repository.usage(session, principal.user_id, begin, finish))


async def date_range(
    session: AsyncSession, principal: Principal, starts: str | None, ends: str | None
) -> tuple[datetime | None, datetime | None]:
    """``from``/``to`` by the rule every endpoint shares (local days of the organization, ``to``
    inclusive, or ISO datetimes)."""
    if starts is None and ends is None:
        return None, None
    timezone = organization_timezone(
        await repository.organization_settings(session, principal.organization_id)
    )
    try:
        return query_range(starts, ends, timezone)
    except BadBound as bad:
        raise ValidationFailed(str(bad), field=bad.field) from None
