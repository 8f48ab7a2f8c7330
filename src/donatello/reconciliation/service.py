"""Importing a provider's cost file and comparing it with our ledger (what finance reads is in ``queries``).

An import is identified by its file's SHA-256 and the configuration it runs with (mapping, tolerances,
period): the same file under the same configuration is the same reconciliation, so importing it twice
changes nothing. Small files are compared in the request; larger ones are staged in storage and compared
by the ``reconciliations`` worker job (``tasks``). Either way, the file is read as a stream (``reading``),
only its daily totals are kept, and the comparison (``comparison``) is stored with the FX rate used for
every line. Imports and their outcome are audited.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import IO, Any

from sqlalchemy.ext.asyncio import AsyncSession

from donatello import audit
from donatello.budgets.periods import organization_timezone
from donatello.config import Settings
from donatello.core.clock import utcnow
from donatello.core.errors import NotFound
from donatello.models import Reconciliation
from donatello.models.reconciliations import RECONCILIATION_FORMATS
from donatello.reconciliation import comparison, reading, repository
from donatello.reconciliation.comparison import Config, RateBook
from donatello.reconciliation.errors import FileTooLarge, InvalidReconciliation
from donatello.reconciliation.reading import Totals
from donatello.storage import ImageStore
from donatello.tenancy import Action, Principal, ensure

CHUNK = 1 << 20


@dataclass(frozen=True)
class Upload:
    """A received file in scratch space, with what identifies it."""

    path: Path
    name: str
    size: int
    sha256: str


def receive(source: IO[bytes], name: str, scratch: Path, *, max_bytes: int | None = None) -> Upload:
    """Copy an uploaded stream to a private scratch file, hashing it on the way (blocking: run in a
    thread). Memory stays at one chunk; a stream over ``max_bytes`` is refused and nothing is kept."""
    scratch.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, temporary = tempfile.mkstemp(dir=scratch, prefix=".upload-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as target:
            sha256, size = _digest(source, target, max_bytes)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return Upload(Path(temporary), (name or "upload")[:255], size, sha256)


def fingerprint(path: Path) -> Upload:
    """An operator's file, identified as an upload of it would be (blocking)."""
    with path.open("rb") as handle:
        sha256, size = _digest(handle, None, None)
    return Upload(path, path.name[:255], size, sha256)


def _digest(source: IO[bytes], target: IO[bytes] | None, max_bytes: int | None) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    while chunk := source.read(CHUNK):
        size += len(chunk)
        if max_bytes is not None and size > max_bytes:
            raise FileTooLarge(f"cost files are accepted up to {max_bytes:,} bytes", max_bytes=max_bytes)
        digest.update(chunk)
        if target is not None:
            target.write(chunk)
    return digest.hexdigest(), size


def parse_period(text: str | None) -> tuple[date, date] | None:
    """``YYYY-MM`` (a month), ``YYYY-MM-DD..YYYY-MM-DD`` (inclusive local days) or nothing (the days the
    file covers)."""
    if not text or not text.strip():
        return None
    value = text.strip()
    try:
        if ".." in value:
            first, last = (date.fromisoformat(part.strip()) for part in value.split("..", 1))
        else:
            first = date.fromisoformat(value + "-01")
            last = (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    except ValueError:
        raise InvalidReconciliation(
            "period must be a month (YYYY-MM) or days (YYYY-MM-DD..YYYY-MM-DD)", field="period"
        ) from None
    if first > last:
        raise InvalidReconciliation("the period ends before it starts", field="period")
    return first, last


async def configure(
    session: AsyncSession, organization_id: uuid.UUID, provider: str, file_format: str, period: str | None
) -> Config:
    """What an import of this organization will run with, from its settings now."""
    if file_format not in RECONCILIATION_FORMATS:
        raise InvalidReconciliation(
            f"format must be one of {', '.join(RECONCILIATION_FORMATS)}", field="format"
        )
    provider = provider.strip()
    if not provider or len(provider) > 100:
        raise InvalidReconciliation("provider names the provider billed, e.g. azure-openai", field="provider")
    settings = await repository.organization_settings(session, organization_id)
    if settings is None:
        raise NotFound("organization", organization_id)
    return comparison.config_for(settings, provider, parse_period(period))


async def imported(
    session: AsyncSession, organization_id: uuid.UUID, upload: Upload, config: Config
) -> Reconciliation | None:
    """The reconciliation of this file under this configuration, if it was imported before."""
    return await repository.by_fingerprint(session, organization_id, upload.sha256, config.fingerprint)


async def submit(
    session: AsyncSession,
    organization_id: uuid.UUID,
    actor: Principal | None,
    upload: Upload,
    file_format: str,
    config: Config,
    *,
    queued: bool,
) -> tuple[Reconciliation, bool]:
    """The reconciliation of this file under this configuration: the existing one (and False), or a new
    one (and True), queued for the worker or ready to ``run`` now. Audited when new."""
    existing = await repository.by_fingerprint(session, organization_id, upload.sha256, config.fingerprint)
    if existing is not None:
        return existing, False
    # Two uploads of one file at once: the second insert waits for the first to commit, then inserts
    # nothing, and both answer with the same reconciliation.
    created_id = await repository.insert_if_new(
        session,
        organization_id=organization_id,
        requested_by=actor.user_id if actor else None,
        provider=config.provider,
        format=file_format,
        file_name=upload.name,
        file_bytes=upload.size,
        content_sha256=upload.sha256,
        config_sha256=config.fingerprint,
        config=config.as_json(),
        status="queued" if queued else "running",
        heartbeat_at=None if queued else utcnow(),
    )
    found = await repository.by_fingerprint(session, organization_id, upload.sha256, config.fingerprint)
    if found is None:
        raise NotFound("reconciliation")
    if created_id is None:
        return found, False
    reconciliation = found
    await audit.record_event(
        session,
        "reconciliation.imported",
        action="reconciliation_queued" if queued else "reconciliation_imported",
        resource=("reconciliation", reconciliation.id),
        organization_id=organization_id,
        actor=actor,
        details={
            "provider": config.provider,
            "format": file_format,
            "file_name": upload.name,
            "file_bytes": upload.size,
            "content_sha256": upload.sha256,
            "config": config.as_json(),
            **({} if actor else {"via": "cli"}),
        },
    )
    return reconciliation, True


async def read_totals(path: Path, file_format: str, organization_settings: dict[str, Any] | None) -> Totals:
    """The file's daily totals in the organization's time zone, read in a thread (the event loop stays
    free); no transaction needs to be open."""
    timezone = organization_timezone(organization_settings)
    return await asyncio.to_thread(reading.read, path, file_format, timezone)


async def organization_settings(session: AsyncSession, organization_id: uuid.UUID) -> dict[str, Any]:
    settings = await repository.organization_settings(session, organization_id)
    if settings is None:
        raise NotFound("organization", organization_id)
    return settings


async def complete(session: AsyncSession, reconciliation: Reconciliation, totals: Totals) -> Reconciliation:
    """Map, convert and compare the file's totals with our ledger; store the rows and the summary."""
    config = Config.from_json(reconciliation.config)
    catalogue = await repository.catalogue(session)
    first, last = comparison.period_of(totals, config)
    currencies = sorted({group.currency for group in totals.groups} - {"AUD"})
    rates = RateBook(await repository.rates(session, currencies, last) if last else {})
    mapped = sorted(
        {
            model
            for group in totals.groups
            if (model := comparison.resolve(group.keys, config, catalogue)) is not None
        }
    )
    charged = (
        await repository.charged(
            session, reconciliation.organization_id, first, last, config.provider, mapped
        )
        if first and last
        else {}
    )
    outcome = comparison.compare(totals, config, catalogue, rates, charged)
    await repository.save_outcome(session, reconciliation, outcome.lines, outcome.rows)
    reconciliation.status, reconciliation.error, reconciliation.storage_name = "done", None, None
    reconciliation.period_from, reconciliation.period_to = outcome.period_from, outcome.period_to
    reconciliation.rows_read = totals.rows
    reconciliation.provider_total_aud = outcome.provider_total_aud
    reconciliation.charged_total_aud = outcome.charged_total_aud
    reconciliation.drift_total_aud = outcome.provider_total_aud - outcome.charged_total_aud
    reconciliation.compared_rows = len(outcome.rows)
    reconciliation.flagged_rows = outcome.flagged
    reconciliation.unmapped_lines = outcome.unmapped
    reconciliation.finished_at = utcnow()
    await session.flush()
    await audit.record(session, _finished(reconciliation, "success"))
    return reconciliation


async def fail(session: AsyncSession, reconciliation_id: uuid.UUID, error: str) -> None:
    """A queued import that could not be compared ends failed with the reason (never one already done)."""
    reconciliation = await repository.for_update(session, reconciliation_id)
    if reconciliation is None:
        raise NotFound("reconciliation", reconciliation_id)
    if reconciliation.status != "running":
        return
    reconciliation.status, reconciliation.error = "failed", error[:1000]
    reconciliation.finished_at = utcnow()
    await audit.record(session, _finished(reconciliation, "failure"))


def _finished(reconciliation: Reconciliation, status: str) -> audit.AuditEvent:
    return audit.event(
        "reconciliation.completed",
        action="reconciliation_completed" if status == "success" else "reconciliation_failed",
        resource=("reconciliation", reconciliation.id),
        organization_id=reconciliation.organization_id,
        actor=audit.Actor(reconciliation.requested_by),
        status=status,
        error=reconciliation.error,
        details={
            "provider": reconciliation.provider,
            "period_from": reconciliation.period_from,
            "period_to": reconciliation.period_to,
            "rows_read": reconciliation.rows_read,
            "provider_total_aud": reconciliation.provider_total_aud,
            "charged_total_aud": reconciliation.charged_total_aud,
            "flagged_rows": reconciliation.flagged_rows,
            "unmapped_lines": reconciliation.unmapped_lines,
        },
    )


async def accept(
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    store: ImageStore,
    source: IO[bytes],
    file_name: str,
    provider: str,
    file_format: str,
    period: str | None,
) -> tuple[Reconciliation, bool]:
    """An uploaded provider file: compared now when small, staged in storage for the worker job when
    larger than ``reconciliation_inline_max_bytes``; the existing reconciliation when it was imported
    before under the same configuration (and False)."""
    ensure(principal, Action.RECONCILE)
    config = await configure(session, principal.organization_id, provider, file_format, period)
    upload = await asyncio.to_thread(
        receive,
        source,
        file_name,
        settings.data_dir / "reconciliations-tmp",
        max_bytes=settings.reconciliation_max_upload_bytes,
    )
    try:
        queued = upload.size > settings.reconciliation_inline_max_bytes
        reconciliation, created = await submit(
            session, principal.organization_id, principal, upload, file_format, config, queued=queued
        )
        if not created:
            return reconciliation, False
        if queued:
            name = job_storage_name(reconciliation)
            await store.put_file(name, upload.path, "application/octet-stream")
            await stage(session, reconciliation, name)
        else:
            org_settings = await organization_settings(session, principal.organization_id)
            totals = await read_totals(upload.path, file_format, org_settings)
            await complete(session, reconciliation, totals)
        return reconciliation, True
    finally:
        await asyncio.to_thread(upload.path.unlink, missing_ok=True)


def job_storage_name(reconciliation: Reconciliation) -> str:
    return f"reconciliations/{reconciliation.organization_id}/{reconciliation.id}/upload"


async def stage(session: AsyncSession, reconciliation: Reconciliation, name: str) -> None:
    reconciliation.storage_name = name
    await session.flush()


def describe_error(error: BaseException) -> str:
    first = (str(error).strip().splitlines() or [""])[0]
    return f"{type(error).__name__}: {first}" if first else type(error).__name__
