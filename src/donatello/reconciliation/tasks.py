"""The ``reconciliations`` worker job: large provider files, compared in the background.

An import is claimed (``FOR UPDATE SKIP LOCKED``) and marked running in a short transaction; its staged
upload is copied from storage to private scratch space and read as a stream with no transaction open (a
heartbeat keeps the claim alive, so a long file is never taken over while a silent worker's is); the
comparison is then written in one transaction, and the staged upload deleted. A file that cannot be read
ends the import failed with the reason, audited like a success.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from donatello.config import Settings
from donatello.core.clock import utcnow
from donatello.core.database import transaction
from donatello.core.jobs import JobContext
from donatello.reconciliation import repository, service
from donatello.storage import ImageStore

log = logging.getLogger(__name__)


@dataclass
class Reconciler:
    sessions: async_sessionmaker[AsyncSession]
    settings: Settings
    store: ImageStore

    @property
    def scratch(self) -> Path:
        return self.settings.data_dir / "reconciliations-tmp"

    @property
    def stale_after(self) -> timedelta:
        return timedelta(seconds=self.settings.export_stale_seconds)

    async def run_once(self) -> bool:
        """Claim and run one queued import; False when there was none."""
        async with transaction(self.sessions, platform=True) as session:
            claimed = await repository.claim_queued(session, stale_before=utcnow() - self.stale_after)
            if claimed is None:
                return False
            claimed.status, claimed.heartbeat_at, claimed.error = "running", utcnow(), None
            reconciliation_id, staged = claimed.id, claimed.storage_name
        heartbeat = asyncio.create_task(self._heartbeat(reconciliation_id))
        try:
            await self._run(reconciliation_id, staged)
        except Exception as error:
            log.exception("reconciliation failed", extra={"reconciliation_id": str(reconciliation_id)})
            async with transaction(self.sessions, platform=True) as session:
                await service.fail(session, reconciliation_id, service.describe_error(error))
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
        if staged:
            with contextlib.suppress(Exception):
                await self.store.delete(staged)
        return True

    async def _run(self, reconciliation_id: uuid.UUID, staged: str | None) -> None:
        if not staged:
            raise RuntimeError("the upload was not staged")
        await asyncio.to_thread(self.scratch.mkdir, parents=True, exist_ok=True, mode=0o700)
        with tempfile.TemporaryDirectory(dir=self.scratch) as directory:
            path = Path(directory) / "upload"
            await self.store.get_file(staged, path)
            async with transaction(self.sessions, platform=True) as session:
                reconciliation = await repository.for_update(session, reconciliation_id)
                if reconciliation is None:
                    return
                file_format = reconciliation.format
                settings = await repository.organization_settings(session, reconciliation.organization_id)
            totals = await service.read_totals(path, file_format, settings)
        async with transaction(self.sessions, platform=True) as session:
            reconciliation = await repository.for_update(session, reconciliation_id)
            # a worker taken over while still alive finds the job already compared by the other one
            if reconciliation is not None and reconciliation.status == "running":
                await service.complete(session, reconciliation, totals)

    async def _heartbeat(self, reconciliation_id: uuid.UUID) -> None:
        while True:
            await asyncio.sleep(self.settings.export_stale_seconds / 3)
            async with transaction(self.sessions, platform=True) as session:
                await repository.beat(session, reconciliation_id, utcnow())


async def run(context: JobContext, store: ImageStore) -> None:
    """The worker job: one reconciler claiming queued imports until told to stop."""
    settings = context.settings
    reconciler = Reconciler(context.sessions, settings, store)
    await context.repeat(reconciler.run_once, idle=settings.worker_poll_seconds, what="reconciliation")
