"""The real image store whose writes fail for a while: Blob Storage down, as a worker meets it."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from donatello.storage import ImageStore, Tier


class FailingStore:
    """The real image store, except that writes fail while ``failures`` lasts (Blob Storage down)."""

    def __init__(self, store: ImageStore, failures: int) -> None:
        self.store = store
        self.failures = failures
        self.refused = 0

    async def put(self, name: str, data: bytes, content_type: str) -> None:
        if self.failures > 0:
            self.failures -= 1
            self.refused += 1
            raise OSError("the storage account is not answering")
        await self.store.put(name, data, content_type)

    async def put_file(self, name: str, source: Path, content_type: str) -> None:
        await self.put(name, await asyncio.to_thread(source.read_bytes), content_type)

    async def get(self, name: str) -> bytes:
        return await self.store.get(name)

    async def get_file(self, name: str, target: Path) -> None:
        await self.store.get_file(name, target)

    async def read_url(self, name: str, *, expires_in: timedelta = timedelta(minutes=15)) -> str:
        return await self.store.read_url(name, expires_in=expires_in)

    async def set_tier(self, name: str, tier: Tier) -> None:
        await self.store.set_tier(name, tier)

    async def delete(self, name: str) -> None:
        await self.store.delete(name)

    async def close(self) -> None:
        await self.store.close()
