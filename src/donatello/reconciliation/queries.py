"""What finance reads: an organization's reconciliations, their day x model rows and provider lines
(cursor pages), the CSV of the comparison, and the mapping and tolerances imports run with."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from donatello import audit
from donatello.core.errors import NotFound
from donatello.core.pagination import decode_cursor, decode_time_cursor, page_of
from donatello.models import Reconciliation, ReconciliationLine, ReconciliationRow
from donatello.reconciliation import comparison, repository
from donatello.reconciliation.errors import InvalidReconciliation
from donatello.reconciliation.schemas import ReconciliationSettings
from donatello.reconciliation.service import organization_settings
from donatello.tenancy import Action, Principal, ensure


async def current_settings(session: AsyncSession, principal: Principal) -> ReconciliationSettings:
    """The organization's mapping and tolerances (defaults where it set none)."""
    config = comparison.config_for(
        await organization_settings(session, principal.organization_id), "any", None, keep_case=True
    )
    return ReconciliationSettings(
        mappings=config.mappings,
        tolerance_aud=config.tolerance_aud,
        tolerance_percent=config.tolerance_percent,
    )


async def change_settings(
    session: AsyncSession, principal: Principal, wanted: ReconciliationSettings
) -> ReconciliationSettings:
    """Replace the organization's mapping and tolerances; every target must be a catalogue model.
    Audited with the settings before and after."""
    ensure(principal, Action.RECONCILE)
    catalogue = await repository.catalogue(session)
    unknown = sorted({t for t in wanted.mappings.values() if tuple(t.partition("/")[::2]) not in catalogue})
    blank = [key for key in wanted.mappings if not key.strip() or len(key) > 500]
    if unknown or blank:
        raise InvalidReconciliation(
            "every mapping needs a key (at most 500 characters) and a catalogue model (provider/model)",
            field="mappings",
            unknown_models=unknown,
        )
    org = await repository.organization_for_update(session, principal.organization_id)
    if org is None:
        raise NotFound("organization", principal.organization_id)
    before = (org.settings or {}).get("reconciliation")
    after = wanted.model_dump(mode="json")
    org.settings = {**(org.settings or {}), "reconciliation": after}
    await session.flush()
    await audit.record_event(
        session,
        "reconciliation.settings_changed",
        action="reconciliation_settings_changed",
        resource=("organization", org.id),
        organization_id=org.id,
        actor=principal,
        details={"before": before, "after": after},
    )
    return wanted


async def find(session: AsyncSession, principal: Principal, reconciliation_id: uuid.UUID) -> Reconciliation:
    """One of the principal's organization's reconciliations; another tenant's is not found."""
    found = await repository.find(session, principal, reconciliation_id)
    if found is None:
        raise NotFound("reconciliation", reconciliation_id)
    return found


async def listing(
    session: AsyncSession, principal: Principal, cursor: str | None, limit: int
) -> tuple[list[Reconciliation], str | None]:
    found = await repository.page(session, principal, decode_time_cursor(cursor), limit + 1)
    return page_of(found, limit, key=lambda row: [row.created_at.isoformat(), row.id])


async def requesters(
    session: AsyncSession, principal: Principal, reconciliations: list[Reconciliation]
) -> dict[uuid.UUID, str]:
    """The e-mail of whoever requested each reconciliation (one left by the CLI has none)."""
    ids = sorted({r.requested_by for r in reconciliations if r.requested_by is not None})
    return await repository.emails(session, principal, ids)


async def rows(
    session: AsyncSession,
    reconciliation: Reconciliation,
    *,
    flagged_only: bool,
    cursor: str | None,
    limit: int,
) -> tuple[list[ReconciliationRow], str | None]:
    after = decode_cursor(cursor, 3)
    key = (date.fromisoformat(after[0]), str(after[1]), str(after[2])) if after else None
    found = await repository.rows_page(
        session, reconciliation.id, flagged_only=flagged_only, after=key, limit=limit + 1
    )
    return page_of(found, limit, key=lambda row: [row.day, row.provider_name, row.model_name])


async def unlisted_lines(
    session: AsyncSession, reconciliation: Reconciliation, cursor: str | None, limit: int
) -> tuple[list[ReconciliationLine], str | None]:
    after = decode_cursor(cursor, 3)
    key = (date.fromisoformat(after[0]), str(after[1]), uuid.UUID(after[2])) if after else None
    found = await repository.unlisted_lines_page(session, reconciliation.id, key, limit + 1)
    return page_of(found, limit, key=lambda line: [line.day, line.source_key, line.id])


async def comparison_table(
    session: AsyncSession, reconciliation: Reconciliation
) -> tuple[list[ReconciliationRow], list[ReconciliationLine]]:
    """Everything the CSV download holds: each day x model, and each provider line with its FX rate."""
    return (
        list(await repository.all_rows(session, reconciliation.id)),
        list(await repository.all_lines(session, reconciliation.id)),
    )


def summary_lines(reconciliation: Reconciliation) -> list[str]:
    """The summary as the CLI prints it."""
    r = reconciliation
    return [
        f"reconciliation {r.id} ({r.provider}, {r.format}, {r.file_name}): {r.status}",
        f"period {r.period_from} .. {r.period_to}, {r.rows_read:,} provider lines read",
        f"provider {r.provider_total_aud} AUD, charged {r.charged_total_aud} AUD,"
        f" drift {r.drift_total_aud} AUD",
        f"{r.compared_rows} day x model rows compared, {r.flagged_rows} beyond tolerance, "
        f"{r.unmapped_lines} provider lines not compared (unmapped, no FX rate or outside the period)",
        *([f"error: {r.error}"] if r.error else []),
    ]


def needs_attention(reconciliation: Reconciliation) -> bool:
    return reconciliation.status == "failed" or bool(
        reconciliation.flagged_rows or reconciliation.unmapped_lines
    )
