"""The ``export-schedules`` worker job: plan what each schedule owes, then write the files one at a time.

Each pass plans the day's runs (``schedules.plan_due``; unique per schedule, kind and range, so workers
planning together plan each once), then claims the most overdue run (``FOR UPDATE SKIP LOCKED``), writes
its file beside the data, hands the complete file to the drop store under the run's fixed name (a re-run
replaces the file; locally an atomic rename, on Blob a committed block list), writes ``manifest.json``
after it, and records the outcome. A failure is recorded with its error and tried again with back-off.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from donatello.config import Settings
from donatello.core.clock import utcnow
from donatello.core.database import transaction
from donatello.core.jobs import JobContext
from donatello.exports import drops, files, schedules
from donatello.exports.tasks import describe_error
from donatello.storage import ImageStore, open_drop_store

log = logging.getLogger(__name__)


@dataclass
class ScheduledExporter:
    sessions: async_sessionmaker[AsyncSession]
    settings: Settings
    store: ImageStore
    clock: Callable[[], datetime] = utcnow  # what "now" is when planning and claiming

    async def run_once(self) -> bool:
        """Plan, then run one owed file; False when nothing was due."""
        async with transaction(self.sessions, platform=True) as session:
            planned = await schedules.plan_due(session, self.settings, now=self.clock())
        if planned:
            log.info("scheduled exports planned", extra={"runs": planned})
        async with transaction(self.sessions, platform=True) as session:
            claimed = await schedules.claim(session, self.settings, now=self.clock())
        if claimed is None:
            return False
        heartbeat = asyncio.create_task(self._heartbeat(claimed))
        try:
            rows = await self._write(claimed)
            async with transaction(self.sessions, platform=True) as session:
                await schedules.complete(session, claimed.run_id, claimed.path, rows)
            log.info("scheduled export written", extra={"run_id": str(claimed.run_id), "rows": rows})
        except Exception as error:
            log.exception("scheduled export failed", extra={"run_id": str(claimed.run_id)})
            async with transaction(self.sessions, platform=True) as session:
                await schedules.fail(session, claimed.run_id, describe_error(error), now=self.clock())
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
        return True

    async def _heartbeat(self, claimed: schedules.ClaimedRun) -> None:
        while True:
            await asyncio.sleep(self.settings.export_stale_seconds / 3)
            async with transaction(self.sessions, platform=True) as session:
                await schedules.beat(session, claimed.run_id)

    async def _write(self, claimed: schedules.ClaimedRun) -> int:
        scratch = self.settings.data_dir / "exports-tmp"
        await asyncio.to_thread(scratch.mkdir, parents=True, exist_ok=True, mode=0o700)
        fd, temporary = tempfile.mkstemp(dir=scratch, prefix=f".{claimed.run_id}-", suffix=".part")
        os.close(fd)
        rng = claimed.range

        async def store(path: Path) -> None:
            await self.store.put_file(claimed.path, path, files.STORED_TYPES[rng.format])

        rows = await files.export_file(self.sessions, rng, Path(temporary), store)
        manifest = {
            "exportName": claimed.schedule_name,
            "dataset": claimed.path.split("/", 1)[0],
            "format": rng.format,
            "focusVersion": rng.focus_version,
            "organizationId": str(rng.organization_id),
            "timezone": rng.timezone,
            "from": rng.starts.isoformat(),
            "to": rng.ends.isoformat(),
            "rows": rows,
            "files": [claimed.path.rsplit("/", 1)[1]],
            "runId": str(claimed.run_id),
            "writtenAt": utcnow().isoformat(),
        }
        await self.store.put(
            drops.manifest_path(claimed.path), json.dumps(manifest, indent=2).encode(), "application/json"
        )
        return rows


async def run(context: JobContext) -> None:
    """The worker job: one scheduled exporter over the drop store until told to stop. A drop store that
    cannot be opened (Blob unreachable) is tried again with back-off; nothing is planned meanwhile."""
    settings = context.settings
    failures = 0
    while not context.stopping.is_set():
        try:
            store = await open_drop_store(settings)
        except Exception:
            log.exception("the drop store for scheduled exports is unreachable; retrying")
            failures += 1
            await context.sleep(min(settings.export_schedule_poll_seconds * 2**failures, 600.0))
            continue
        try:
            exporter = ScheduledExporter(context.sessions, settings, store)
            await context.repeat(
                exporter.run_once, idle=settings.export_schedule_poll_seconds, what="scheduled export"
            )
            return
        finally:
            await store.close()
