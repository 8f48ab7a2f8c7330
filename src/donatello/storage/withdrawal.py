"""A signed link outlives nothing it points at: a soft-deleted generation's images stop being served."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from donatello.core.database import set_platform_scope
from donatello.storage import repository
from donatello.storage.names import generation_of


async def withdrawn(session: AsyncSession, name: str) -> bool:
    """True when ``name`` is an image of a generation that was deleted."""
    generation_id = generation_of(name)
    if generation_id is None:
        return False
    # The signed token is the capability (no principal, so no tenant): look across organizations for
    # this one row's flag, which the link already names.
    await set_platform_scope(session)
    return await repository.generation_deleted(session, generation_id)
