"""The platform catalogue (models, their configuration, exchange rates), kept per process between
requests instead of re-read on every admission.

The rule: a transaction that narrowed itself to a tenant (``database.set_tenant``) read the catalogue's
version (table ``catalogue_version``, moved by a trigger on every change to the catalogue tables, to a
sequence value that is never reused) in that same statement; what this process cached under that version
is exactly what the transaction would read. So a price change, a paused or removed model, or a new
exchange rate applies to every transaction that starts after it commits, in every process. Nothing is
cached or served from cache when no version was read (worker, CLI, platform sessions), or after the
session itself wrote to a catalogue table (it must see its own change). Cached rows are detached copies,
never instances of another session.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from copy import deepcopy
from typing import Any, TypeVar

from sqlalchemy import event, inspect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session

T = TypeVar("T")

TABLES = frozenset(
    {"model_providers", "provider_configs", "fx_rates", "model_circuits", "departments", "model_prices"}
)
_VERSION = "catalogue_version"
_entries: dict[Hashable, tuple[int, Any]] = {}


def pin(session: AsyncSession, version: int) -> None:
    """Remember the version this transaction read (see ``set_tenant``)."""
    session.sync_session.info[_VERSION] = version


async def cached(session: AsyncSession, key: Hashable, load: Callable[[], Awaitable[T]]) -> T:
    """``load()``'s value, from this process's cache when it was read under the session's version."""
    version = session.sync_session.info.get(_VERSION)
    if version is None:
        return await load()
    entry = _entries.get(key)
    if entry is not None and entry[0] == version:
        return entry[1]  # type: ignore[no-any-return]
    value = await load()
    _entries[key] = (version, value)
    return value


def detached(row: T) -> T:
    """A copy of an ORM row with its column values, attached to no session (safe to share)."""
    if row is None:
        return row
    mapper = inspect(type(row))
    copy = mapper.class_manager.new_instance()
    for attribute in mapper.column_attrs:
        setattr(copy, attribute.key, deepcopy(getattr(row, attribute.key)))  # JSON values are mutable
    return copy  # type: ignore[no-any-return]


def _forget(session: Session) -> None:
    session.info.pop(_VERSION, None)


@event.listens_for(Session, "after_transaction_end")
def _transaction_ended(session: Session, _transaction: Any) -> None:
    _forget(session)  # the next transaction reads its own version


@event.listens_for(Session, "before_flush")
def _writes_catalogue(session: Session, _context: Any, _instances: Any) -> None:
    for row in (*session.new, *session.dirty, *session.deleted):
        if getattr(row, "__tablename__", None) in TABLES:
            _forget(session)
            return


@event.listens_for(Session, "do_orm_execute")
def _executes_on_catalogue(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        table = getattr(state.statement, "table", None)
        if getattr(table, "name", None) in TABLES:
            _forget(state.session)
