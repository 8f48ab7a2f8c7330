"""The relay: ships committed outbox rows to the audit store and computes each organization's chain.

Ordering and concurrency — why the relay never keeps an ``id > last`` cursor:

Outbox ids are assigned at insert, but transactions commit out of order, so a row with a lower id can
become visible after rows with higher ids were already shipped. A cursor would skip it forever. Instead
every pass re-reads undelivered rows (``delivered_at IS NULL``, served by the partial index) in id order,
so a late row is always found. The chain order is the order the relay assigns (``chain_seq``), which is
outbox order except for a row whose transaction stayed open longer than the visibility horizon after
inserting it: that row is chained after rows with higher ids rather than lost. The horizon
(``audit_relay_horizon_seconds``: rows younger than it wait for the next pass) only makes that rare; no
correctness depends on it, so clocks and long transactions cannot lose or fork anything. A global commit-
order lock would make it exact but would make every request wait for other tenants' open transactions.

One writer per chain: a relay takes the chain's transaction-scoped advisory lock (``pg_try_advisory_
xact_lock``) before reading the head, and skips chains another relay holds. Requests never touch the
lock; they only insert outbox rows.

Exactly once into Cosmos: documents use the event id as their id (a 409 means an earlier attempt stored
it: the stored document must then hold the same position and hash). A chain's batch is computed in order
and *sealed* first — its positions and hashes are committed to the outbox rows, delivery still pending —
then its documents are written concurrently — one transactional batch of creates per partition (user),
single creates for the rest, at most ``write_concurrency`` requests in flight over all chains — and
one update marks the whole batch delivered. A relay killed mid-batch leaves an arbitrary subset of the
batch stored; the next pass finds the sealed, undelivered rows and ships exactly those documents again
(the stored ones answer 409 and match), before it seals anything new. So nothing is recomputed, a late
row cannot fork the chain, and verification stops at the delivered head, past which a batch may be
incomplete while it ships. Documents an older relay (which wrote one by one, without sealing) left past
the head are adopted once per chain: checked against the outbox and recorded as delivered.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from donatello.audit import chain, repository
from donatello.audit.cosmos import (
    BATCH_LIMIT,
    AlreadyStored,
    AuditStore,
    chain_filter,
    chain_parameters,
    is_configured,
    open_store,
)
from donatello.config import Settings
from donatello.core.database import transaction
from donatello.core.jobs import JobContext
from donatello.models import AuditOutbox

log = logging.getLogger(__name__)


class ChainDiverged(Exception):
    """The audit store holds a chain this database did not produce; an operator must look at it."""


@dataclass
class Relay:
    sessions: async_sessionmaker[AsyncSession]
    store: AuditStore | None  # None: the outbox table is the audit store (chained and marked in place)
    batch_size: int = 200
    concurrency: int = 8
    horizon_seconds: float = 0.5
    write_concurrency: int = 16  # requests in flight to the store (creates or batches), over every chain

    def __post_init__(self) -> None:
        self._writes = asyncio.Semaphore(self.write_concurrency)
        # Chains checked for documents an older relay stored past the head (see _adopt_stored_run).
        self._adoption_checked: set[uuid.UUID | None] = set()

    async def pass_once(self) -> int:
        """Deliver up to one batch of every pending chain; returns how many events were delivered."""
        async with transaction(self.sessions, platform=True) as session:
            chains = await repository.pending_chains(
                session, self.horizon_seconds, self.batch_size * self.concurrency
            )
        gate = asyncio.Semaphore(self.concurrency)

        async def one(organization_id: uuid.UUID | None) -> int:
            async with gate:
                return await self.deliver_chain(organization_id)

        results = await asyncio.gather(*(one(org) for org in chains), return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        for failure in failures:
            log.error("audit relay batch failed", exc_info=failure)
        if failures and len(failures) == len(results):
            raise failures[0]
        return sum(r for r in results if isinstance(r, int))

    async def drain(self) -> int:
        """Pass until nothing is pending (operators, tests, benchmarks)."""
        total = 0
        while delivered := await self.pass_once():
            total += delivered
        return total

    async def deliver_chain(self, organization_id: uuid.UUID | None) -> int:
        """Chain and deliver one batch of an organization's undelivered events, in outbox order."""
        if self.store is None:
            return await self._chain_in_place(organization_id)
        async with transaction(self.sessions, platform=True) as session:
            if not await repository.try_lock_chain(session, organization_id):
                return 0
            seq, head = await repository.chain_head(session, organization_id)
            prev = head or chain.GENESIS
            adopted = 0
            if organization_id not in self._adoption_checked:
                seq, prev, adopted = await self._adopt_stored_run(session, organization_id, seq, prev)
            batch = [
                _resealed(row)
                for row in await repository.sealed_undelivered(session, organization_id, self.batch_size)
            ]
            if not batch:  # nothing left over from an interrupted batch: seal the next one
                rows = await repository.undelivered(
                    session, organization_id, self.horizon_seconds, self.batch_size
                )
                for row in rows:
                    seq += 1
                    batch.append((row.id, chain.sealed(row.payload, seq, prev)))
                    prev = batch[-1][1]["chain_hash"]
                await repository.seal(
                    session, [(i, d["chain_seq"], d["prev_hash"], d["chain_hash"]) for i, d in batch]
                )
        # The seal is committed: whatever happens from here on, a retry ships these very documents.
        self._adoption_checked.add(organization_id)
        try:
            async with asyncio.TaskGroup() as shipping:
                for group in _by_partition([document for _, document in batch]):
                    shipping.create_task(self._ship(group))
        except ExceptionGroup as failed:  # the rest of the batch was cancelled; the next pass retries it
            raise failed.exceptions[0] from None
        async with transaction(self.sessions, platform=True) as session:
            await repository.mark_shipped(session, [i for i, _ in batch])
        return adopted + len(batch)

    async def _chain_in_place(self, organization_id: uuid.UUID | None) -> int:
        """No audit store: the outbox rows are chained and marked delivered in one update."""
        async with transaction(self.sessions, platform=True) as session:
            if not await repository.try_lock_chain(session, organization_id):
                return 0
            seq, head = await repository.chain_head(session, organization_id)
            prev = head or chain.GENESIS
            rows = await repository.undelivered(
                session, organization_id, self.horizon_seconds, self.batch_size
            )
            delivered: list[tuple[int, int, str, str]] = []
            for row in rows:
                seq += 1
                document = chain.sealed(row.payload, seq, prev)
                delivered.append((row.id, seq, prev, document["chain_hash"]))
                prev = document["chain_hash"]
            await repository.mark_delivered(session, delivered)
            return len(delivered)

    async def _ship(self, documents: list[dict[str, Any]]) -> None:
        """One partition's documents: one transactional batch, or one create each after a conflict."""
        assert self.store is not None
        async with self._writes:
            if len(documents) > 1:
                try:
                    await self.store.create_batch(documents[0]["user_id"], documents)
                    return
                except AlreadyStored:
                    pass  # an interrupted attempt stored some of them: check each one
            for document in documents:
                await self._create_once(document)

    async def _create_once(self, document: dict[str, Any]) -> None:
        assert self.store is not None
        try:
            await self.store.create(document)
        except AlreadyStored:
            stored = await self.store.read(document["id"], document["user_id"])
            if (stored.get("chain_seq"), stored.get("chain_hash")) != (
                document["chain_seq"],
                document["chain_hash"],
            ):
                raise ChainDiverged(
                    f"event {document['id']} is stored at position {stored.get('chain_seq')} "
                    f"but the outbox places it at {document['chain_seq']}"
                ) from None

    async def _adopt_stored_run(
        self, session: AsyncSession, organization_id: uuid.UUID | None, seq: int, prev: str
    ) -> tuple[int, str, int]:
        """Record as delivered the documents an interrupted batch stored past the head."""
        assert self.store is not None
        stored = await self.store.query(
            f"SELECT * FROM c WHERE {chain_filter(organization_id)} AND c.chain_seq > @seq",  # noqa: S608
            {"@seq": seq, **chain_parameters(organization_id)},
        )
        if not stored:
            return seq, prev, 0
        stored.sort(key=lambda d: int(d["chain_seq"]))
        rows = {
            str(row.event_id): row
            for row in await repository.undelivered_by_event_ids(
                session, [uuid.UUID(d["id"]) for d in stored]
            )
        }
        adopted: list[tuple[int, int, str, str]] = []
        for document in stored:
            row = rows.get(document["id"])
            expected = chain.sealed(row.payload, seq + 1, prev) if row else None
            if expected is None or (document["chain_seq"], document["prev_hash"], document["chain_hash"]) != (
                expected["chain_seq"],
                expected["prev_hash"],
                expected["chain_hash"],
            ):
                raise ChainDiverged(
                    f"stored event {document['id']} at position {document['chain_seq']} does not continue "
                    f"the chain of organization {organization_id or 'platform'} at position {seq}"
                )
            seq, prev = seq + 1, expected["chain_hash"]
            adopted.append((row.id, seq, expected["prev_hash"], prev))  # type: ignore[union-attr]
        await repository.mark_delivered(session, adopted)
        log.info("audit relay adopted an interrupted batch", extra={"events": len(adopted)})
        return seq, prev, len(adopted)


async def run(context: JobContext) -> None:
    """The worker job: relay until asked to stop, backing off while the store or database is down.

    An unreachable store at start is waited for like one that goes away later: the worker stays up and
    the outbox keeps every event meanwhile."""
    settings: Settings = context.settings
    if not is_configured(settings):
        await _relay_until_stopped(context, None)
        return
    failures = 0
    while not context.stopping.is_set():
        try:
            async with open_store(settings) as store:
                await _relay_until_stopped(context, store)
            return
        except Exception as error:
            if not failures:  # once per outage, with its cause; the retries are quiet
                log.error("audit store unreachable; retrying", exc_info=error)
            failures += 1
            await context.sleep(_pause(settings, failures))


async def _relay_until_stopped(context: JobContext, store: AuditStore | None) -> None:
    """Pass after pass: at once while there is work, after the poll interval when there is none. While the
    store is away (every write retried for ``audit_relay_retry_seconds``, back-off capped at 2 s or as
    long as a 429 asks) passes fail, and the pause between them doubles up to ``MAX_PAUSE_SECONDS``: the
    relay finds a store that came back within seconds, and meanwhile the outbox keeps every event."""
    settings = context.settings
    relay = Relay(
        context.sessions,
        store,
        batch_size=settings.audit_relay_batch_size,
        concurrency=settings.audit_relay_concurrency,
        horizon_seconds=settings.audit_relay_horizon_seconds,
        write_concurrency=settings.audit_relay_write_concurrency,
    )
    failures = 0
    while not context.stopping.is_set():
        try:
            worked = await relay.pass_once()
        except Exception as error:
            if not failures:  # once per outage, not once per pass
                log.error("audit relay pass failed; events wait in the outbox", exc_info=error)
            failures += 1
            worked = 0
        else:
            if failures:
                log.info("audit relay delivering again", extra={"failed_passes": failures})
            failures = 0
        if not worked:
            await context.sleep(_pause(settings, failures))


def _by_partition(documents: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The documents grouped by partition (the user), in groups of at most one transactional batch."""
    partitions: dict[str | None, list[dict[str, Any]]] = {}
    for document in documents:
        partitions.setdefault(document["user_id"], []).append(document)
    return [
        group[start : start + BATCH_LIMIT]
        for group in partitions.values()
        for start in range(0, len(group), BATCH_LIMIT)
    ]


def _resealed(row: AuditOutbox) -> tuple[int, dict[str, Any]]:
    """A sealed, undelivered row's document, exactly as its interrupted batch shipped (or meant to)."""
    assert row.chain_seq is not None and row.prev_hash is not None
    document = chain.sealed(row.payload, row.chain_seq, row.prev_hash)
    if document["chain_hash"] != row.chain_hash:
        raise ChainDiverged(f"outbox event {row.event_id} does not match the hash it was sealed with")
    return row.id, document


#: The longest pause between failing passes (or attempts to open the store): how late, at most, the relay
#: notices that the store is back.
MAX_PAUSE_SECONDS = 5.0


def _pause(settings: Settings, failures: int) -> float:
    """Poll interval when idle; doubling (up to ``MAX_PAUSE_SECONDS``) while passes fail."""
    poll = float(settings.audit_relay_poll_seconds)
    return min(poll * 2.0 ** min(failures, 16), max(MAX_PAUSE_SECONDS, poll))
