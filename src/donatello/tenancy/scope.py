"""The one place that decides what a principal may see.

Every repository query on a tenant table passes through ``scope``; a row outside it is simply not found
(404), never forbidden, so another tenant's resources are not revealed. Row-level security in PostgreSQL
(set per transaction by the request edge) is the second wall behind this one.
"""

from __future__ import annotations

import re
import uuid
from typing import Any, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from donatello.core.errors import NotFound
from donatello.tenancy.principal import Principal

T = TypeVar("T", bound=Any)


def scope(stmt: Select[Any], principal: Principal, model: type[Any]) -> Select[Any]:
    """Limit ``stmt`` to the rows of ``model`` that ``principal``'s organization owns."""
    if principal.platform_wide:
        return stmt
    column: InstrumentedAttribute[uuid.UUID] = model.organization_id
    return stmt.where(column == principal.organization_id)


async def scoped_get(
    session: AsyncSession, principal: Principal, model: type[T], resource_id: uuid.UUID
) -> T:
    """Load one row by id inside the principal's scope, or raise ``NotFound``."""
    stmt = scope(select(model).where(model.id == resource_id), principal, model)
    row = (await session.execute(stmt)).scalar_one_or_none()
    if row is None:
        raise NotFound(_words(model.__name__), resource_id)
    return row  # type: ignore[no-any-return]


def _words(class_name: str) -> str:
    """``CostEvent`` -> ``cost event``: how a resource is named in a message."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", class_name).lower()
