"""The application never updates or deletes an audit document: relaying (including adopting what an
interrupted relay already stored), listing and verifying only ever ask the container to create, read or
query — a transactional batch included, whose operations are creates only."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from donatello.audit import service
from donatello.audit.schemas import AuditFilters
from donatello.config import Settings
from donatello.tenancy import Principal, Role
from tests.support import factories
from tests.support.audit_helpers import record_events, relay_in_test, store_for


class Recording:
    """Passes every call through to the real container client and remembers the method's name."""

    def __init__(self, target: Any) -> None:
        self._target = target
        self.calls: list[str] = []
        self.batch_operations: list[str] = []

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._target, name)
        if name == "execute_item_batch":
            self.calls.append(name)

            def batch(operations: Any, **kwargs: Any) -> Any:
                self.batch_operations += [operation[0] for operation in operations]
                return attribute(operations, **kwargs)

            return batch
        if callable(attribute):
            self.calls.append(name)
        return attribute


async def test_the_audit_store_is_only_asked_to_create_read_and_query(
    db: AsyncSession, cosmos_settings: Settings
) -> None:
    org = await factories.organization(db)
    admin = await factories.user(db, org, role="org_admin")
    ids = await record_events(db, org.id, 3, user_id=admin.id)
    ids += await record_events(db, org.id, 2, user_id=admin.id)  # a new batch: one transactional batch
    recorder: Recording | None = None

    def wrap(container: Any) -> Recording:
        nonlocal recorder
        recorder = Recording(container)
        return recorder

    async with store_for(cosmos_settings, wrap=wrap) as store:
        # An interrupted relay already stored the first event: the next one adopts it, never rewrites it.
        async with store_for(cosmos_settings) as plain:
            from donatello.audit import chain

            await plain.create(chain.sealed({**(await _payload(db, ids[0]))}, 1, chain.GENESIS))
        relay = await relay_in_test(db, store)
        relay.batch_size = 3
        await relay.drain()
        principal = Principal(admin.id, org.id, None, Role.ORG_ADMIN, admin.email)
        page = await service.list_events(db, store, principal, AuditFilters(user_id=admin.id), None, 10)
        assert len(page.items) == 5
        assert (await service.verify(db, store, org.id)).ok

    assert recorder is not None
    assert {"create_item", "query_items"} <= set(recorder.calls)
    assert set(recorder.calls) <= {"create_item", "read_item", "query_items", "read", "execute_item_batch"}
    assert "execute_item_batch" in recorder.calls
    assert set(recorder.batch_operations) == {"create"}


async def _payload(db: AsyncSession, event_id: Any) -> dict[str, Any]:
    from sqlalchemy import select

    from donatello.models import AuditOutbox

    return dict(
        (await db.execute(select(AuditOutbox.payload).where(AuditOutbox.event_id == event_id))).scalar_one()
    )
