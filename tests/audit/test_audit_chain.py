"""The audit trail is tamper-evident: the relay chains each organization's events in outbox order, and
verification finds the first edited, deleted or reordered event — in the outbox and in Cosmos DB."""

from __future__ import annotations

import itertools
import uuid

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.audit import chain, service
from donatello.config import Settings
from donatello.models import AuditOutbox
from tests.support import factories
from tests.support.audit_helpers import org_documents, raw_container, record_events, relay_in_test, store_for


async def _as_owner(db: AsyncSession) -> None:
    """Step outside the application role and its triggers, as an attacker with database access would
    (undone when the test's transaction rolls back)."""
    await db.execute(text("RESET ROLE"))
    await db.execute(text("SET LOCAL session_replication_role = replica"))


async def test_the_relay_chains_each_organization_in_outbox_order_without_cosmos(db: AsyncSession) -> None:
    first, second = await factories.organization(db), await factories.organization(db)
    a = await record_events(db, first.id, 3)
    b = await record_events(db, second.id, 2)

    await (await relay_in_test(db)).drain()

    rows = (await db.execute(select(AuditOutbox).where(AuditOutbox.event_id.in_(a + b)))).scalars().all()
    by_org = {
        org: sorted((r for r in rows if r.organization_id == org), key=lambda r: r.id)
        for org in (first.id, second.id)
    }
    assert [r.chain_seq for r in by_org[first.id]] == [1, 2, 3]
    assert [r.chain_seq for r in by_org[second.id]] == [1, 2]
    for org_rows in by_org.values():
        assert org_rows[0].prev_hash == chain.GENESIS
        for before, after in itertools.pairwise(org_rows):
            assert after.prev_hash == before.chain_hash
        assert all(r.delivered_at is not None for r in org_rows)
    assert (await service.verify(db, None, first.id)).ok
    assert (await service.verify(db, None, second.id)).checked == 2


async def test_platform_events_form_their_own_chain(db: AsyncSession) -> None:
    ids = await record_events(db, None, 2)
    await (await relay_in_test(db)).drain()
    rows = (await db.execute(select(AuditOutbox).where(AuditOutbox.event_id.in_(ids)))).scalars().all()
    assert all(r.chain_seq is not None for r in rows)
    assert (await service.verify(db, None, None)).ok


async def test_verification_of_the_outbox_finds_an_edited_event(db: AsyncSession) -> None:
    org = await factories.organization(db)
    ids = await record_events(db, org.id, 4)
    await (await relay_in_test(db)).drain()

    await _as_owner(db)
    await db.execute(
        text(
            "UPDATE audit_outbox SET payload = jsonb_set(payload, '{status}', '\"failure\"') WHERE event_id = :id"
        ),
        {"id": ids[2]},
    )
    result = await service.verify(db, None, org.id)

    assert result.broken is not None
    assert (result.broken.kind, result.broken.chain_seq, result.broken.event_id) == ("edited", 3, str(ids[2]))
    assert result.checked == 2


async def test_verification_of_the_outbox_finds_a_deleted_event(db: AsyncSession) -> None:
    org = await factories.organization(db)
    ids = await record_events(db, org.id, 4)
    await (await relay_in_test(db)).drain()

    await _as_owner(db)
    await db.execute(text("DELETE FROM audit_outbox WHERE event_id = :id"), {"id": ids[1]})
    result = await service.verify(db, None, org.id)

    assert result.broken is not None
    assert (result.broken.kind, result.broken.chain_seq, result.broken.event_id) == (
        "deleted",
        2,
        str(ids[2]),
    )


async def test_verification_of_the_outbox_finds_the_last_event_deleted(db: AsyncSession) -> None:
    org = await factories.organization(db)
    ids = await record_events(db, org.id, 3)
    await (await relay_in_test(db)).drain()
    head = await service.verify(db, None, org.id)
    assert head.last_seq == 3

    await _as_owner(db)
    await db.execute(text("DELETE FROM audit_outbox WHERE event_id = :id"), {"id": ids[2]})
    # The head the relay recorded is gone too, so compare against what an earlier verification saw.
    docs = [
        {**r.payload, "chain_seq": r.chain_seq, "prev_hash": r.prev_hash, "chain_hash": r.chain_hash}
        for r in (
            await db.execute(select(AuditOutbox).where(AuditOutbox.organization_id == org.id))
        ).scalars()
    ]
    result = chain.verify(docs, expected_last_seq=head.last_seq)
    assert result.broken is not None
    assert (result.broken.kind, result.broken.chain_seq) == ("deleted", 3)


async def test_verification_of_the_outbox_finds_reordered_events(db: AsyncSession) -> None:
    org = await factories.organization(db)
    ids = await record_events(db, org.id, 4)
    await (await relay_in_test(db)).drain()

    await _as_owner(db)
    swap = "UPDATE audit_outbox SET chain_seq = :to WHERE event_id = :id"
    await db.execute(text(swap), {"to": -1, "id": ids[1]})
    await db.execute(text(swap), {"to": 2, "id": ids[2]})
    await db.execute(text(swap), {"to": 3, "id": ids[1]})
    result = await service.verify(db, None, org.id)

    assert result.broken is not None
    assert (result.broken.kind, result.broken.chain_seq, result.broken.event_id) == (
        "reordered",
        2,
        str(ids[2]),
    )
    assert str(ids[1]) in result.broken.detail


async def test_verification_of_cosmos_finds_edited_deleted_and_reordered_events(
    db: AsyncSession, cosmos_settings: Settings
) -> None:
    orgs = [await factories.organization(db) for _ in range(4)]
    ids = {org.id: await record_events(db, org.id, 4) for org in orgs}
    async with store_for(cosmos_settings) as store, raw_container(cosmos_settings) as container:
        await (await relay_in_test(db, store)).drain()
        docs = {org.id: {d["id"]: d for d in await org_documents(container, org.id)} for org in orgs}
        assert all(len(d) == 4 for d in docs.values())

        ed, de, re_, ok = (org.id for org in orgs)
        victim = docs[ed][str(ids[ed][1])]
        await container.replace_item(victim["id"], {**victim, "user_email": "someone.else@example.com"})
        await container.delete_item(str(ids[de][2]), partition_key="system")
        first, second = docs[re_][str(ids[re_][0])], docs[re_][str(ids[re_][1])]
        await container.replace_item(first["id"], {**first, "chain_seq": 2})
        await container.replace_item(second["id"], {**second, "chain_seq": 1})

        results = {org: await service.verify(db, store, org) for org in (ed, de, re_, ok)}

    assert results[ok].ok and results[ok].checked == 4
    edited, deleted, reordered = results[ed].broken, results[de].broken, results[re_].broken
    assert edited is not None and deleted is not None and reordered is not None, "every tampering is found"
    assert (edited.kind, edited.chain_seq) == ("edited", 2)
    assert (deleted.kind, deleted.chain_seq) == ("deleted", 3)
    assert deleted.event_id == str(ids[de][3])
    assert (reordered.kind, reordered.chain_seq) == ("reordered", 1)
    assert reordered.event_id == str(ids[re_][1])


async def test_a_verification_range_checks_only_that_slice(db: AsyncSession) -> None:
    org = await factories.organization(db)
    await record_events(db, org.id, 5)
    await (await relay_in_test(db)).drain()
    rows = (
        (
            await db.execute(
                select(AuditOutbox).where(AuditOutbox.organization_id == org.id).order_by(AuditOutbox.id)
            )
        )
        .scalars()
        .all()
    )
    result = await service.verify(db, None, org.id, since=rows[2].created_at, until=None)
    assert result.ok
    assert (result.first_seq, result.last_seq) == (3, 5)
    assert uuid.UUID(rows[4].payload["id"]) == rows[4].event_id
