"""Recording audit events (the transactional outbox), reading them back, and verifying the chain."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from donatello.audit import chain, repository
from donatello.audit.cosmos import AuditStore, chain_filter, chain_parameters
from donatello.audit.events import Actor, AuditEvent, event
from donatello.audit.schemas import AuditEventRead, AuditFilters
from donatello.core.pagination import Page, decode_cursor, encode_cursor, page_of
from donatello.models import AuditOutbox
from donatello.tenancy import Principal


async def record(session: AsyncSession, event: AuditEvent) -> None:
    """Write ``event`` to the outbox inside the caller's transaction.

    The business change and its audit event commit together or not at all; the relay ships committed
    rows to Cosmos DB afterwards and computes the tamper-evident chain there, in outbox order, so requests
    never queue behind a per-organization chain head.
    """
    await repository.add_to_outbox(session, event)


async def record_event(
    session: AsyncSession,
    event_type: str,
    *,
    action: str | None = None,
    resource: tuple[str, uuid.UUID | str | None],
    organization_id: uuid.UUID | None,
    actor: Actor | Principal | None = None,
    details: dict[str, Any] | None = None,
    status: str = "success",
    error: str | None = None,
    at: datetime | None = None,
) -> uuid.UUID:
    """Record "``actor`` did ``action`` to ``resource``" (``events.event``) in the caller's transaction;
    returns the event's id (a refusal's id is what a client quotes)."""
    made = event(
        event_type,
        action=action,
        resource=resource,
        organization_id=organization_id,
        actor=actor,
        details=details,
        status=status,
        error=error,
        at=at,
    )
    await record(session, made)
    return made.id


async def refusal(session: AsyncSession, event_id: uuid.UUID) -> dict[str, Any] | None:
    """A budget refusal's event document (``budget.request_refused``), visible in the caller's tenant."""
    return await repository.event_document(session, event_id, "budget.request_refused")


async def history(
    session: AsyncSession,
    organization_id: uuid.UUID,
    event_types: tuple[str, ...],
    resource_ids: list[uuid.UUID],
    since: datetime,
    until: datetime,
) -> list[tuple[datetime, dict[str, Any]]]:
    """(instant, document) of a resource's events of ``event_types`` in ``[since, until)``, oldest first:
    the recorded history of a change that keeps no history table of its own (a budget's amount)."""
    rows = await repository.events_about(
        session, organization_id, event_types, [str(r) for r in resource_ids], since, until
    )
    return [(row.created_at, row.payload) for row in rows]


async def list_events(
    session: AsyncSession,
    store: AuditStore | None,
    principal: Principal,
    filters: AuditFilters,
    cursor: str | None,
    limit: int,
) -> Page[AuditEventRead]:
    """An organization's audit events, newest first, one page at a time.

    The principal's organization (a platform admin's chosen one, ``in_organization``). Reads the
    audit store (Cosmos DB) when configured, else the outbox table; filtering by user is a single-partition
    query there.
    """
    organization = principal.organization_id
    after = decode_cursor(cursor, 2)
    if store is None:
        return await _page_from_outbox(session, organization, filters, after, limit)
    return await _page_from_store(store, organization, filters, after, limit)


async def _page_from_outbox(
    session: AsyncSession,
    organization_id: uuid.UUID,
    filters: AuditFilters,
    after: list[Any] | None,
    limit: int,
) -> Page[AuditEventRead]:
    stmt = repository.events_query(
        organization_id,
        filters.model_dump(exclude={"since", "until"}, exclude_none=True),
        filters.since,
        filters.until,
        (datetime.fromisoformat(after[0]), int(after[1])) if after else None,
    )
    rows = await repository.events_page(session, stmt, limit + 1)
    kept, next_cursor = page_of(rows, limit, key=lambda row: [row.created_at.isoformat(), row.id])
    return Page[AuditEventRead](items=[_read(row.payload, row) for row in kept], next_cursor=next_cursor)


async def _page_from_store(
    store: AuditStore,
    organization_id: uuid.UUID,
    filters: AuditFilters,
    after: list[Any] | None,
    limit: int,
) -> Page[AuditEventRead]:
    clauses = ["c.organization_id = @org"]
    parameters: dict[str, Any] = {"@org": str(organization_id)}
    for name in ("user_id", "event_type", "resource_type", "resource_id", "status"):
        value = getattr(filters, name)
        if value is not None:
            clauses.append(f"c.{name} = @{name}")
            parameters[f"@{name}"] = str(value)
    if filters.since:
        clauses.append("c.timestamp >= @since")
        parameters["@since"] = _stamp(filters.since)
    if filters.until:
        clauses.append("c.timestamp < @until")
        parameters["@until"] = _stamp(filters.until)
    if after:
        clauses.append("(c.timestamp < @after_ts OR (c.timestamp = @after_ts AND c.id < @after_id))")
        parameters.update({"@after_ts": after[0], "@after_id": after[1]})
    sql = (
        f"SELECT TOP {limit + 1} * FROM c WHERE {' AND '.join(clauses)} "  # noqa: S608 - values are parameters
        "ORDER BY c.timestamp DESC, c.id DESC"
    )
    partition = str(filters.user_id) if filters.user_id is not None else None
    documents = await store.query(sql, parameters, partition_key=partition)
    items = [_read(document) for document in documents[:limit]]
    last = documents[limit - 1] if len(documents) > limit else None
    return Page[AuditEventRead](
        items=items, next_cursor=encode_cursor([last["timestamp"], last["id"]]) if last else None
    )


def _read(document: dict[str, Any], row: AuditOutbox | None = None) -> AuditEventRead:
    fields = {k: v for k, v in document.items() if not k.startswith("_")}
    if row is not None:
        fields.update(chain_seq=row.chain_seq, prev_hash=row.prev_hash, chain_hash=row.chain_hash)
    return AuditEventRead.model_validate(fields)


def _stamp(moment: datetime) -> str:
    """The documents' timestamp format (UTC, milliseconds, Z), so string order is time order."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def verify(
    session: AsyncSession,
    store: AuditStore | None,
    organization_id: uuid.UUID | None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> chain.Verification:
    """Recompute one organization's chain (None: the platform chain) from the audit store — Cosmos DB
    when given, else the outbox table — and report the first break. Without an end of range the chain
    must also reach the head the relay recorded, so events deleted from the end are caught too."""
    head_seq = await repository.delivered_head(session, organization_id)
    expected_last = head_seq if until is None else None
    if store is None:
        rows = await repository.chain_rows(session, organization_id, since, until)
        documents = [
            {
                **row.payload,
                "chain_seq": row.chain_seq,
                "prev_hash": row.prev_hash,
                "chain_hash": row.chain_hash,
            }
            for row in rows
        ]
        return chain.verify(documents, expected_last_seq=expected_last)
    # Up to the recorded head: a batch being shipped concurrently may not be complete yet.
    clauses = [chain_filter(organization_id), "IS_DEFINED(c.chain_seq)", "c.chain_seq <= @head"]
    parameters: dict[str, Any] = {**chain_parameters(organization_id), "@head": head_seq}
    if since:
        clauses.append("c.timestamp >= @since")
        parameters["@since"] = _stamp(since)
    if until:
        clauses.append("c.timestamp < @until")
        parameters["@until"] = _stamp(until)
    # Clauses are fixed strings; every value is a query parameter.
    documents = await store.query(f"SELECT * FROM c WHERE {' AND '.join(clauses)}", parameters)  # noqa: S608
    return chain.verify(documents, expected_last_seq=expected_last)


async def lag(session: AsyncSession) -> dict[str, Any]:
    """How far the relay is behind: undelivered events and the age of the oldest."""
    count, oldest = await repository.lag(session)
    return {
        "undelivered": count,
        "oldest_undelivered_age_s": round(oldest, 3) if oldest is not None else None,
    }
