"""The ``exports`` worker job: background cost exports, one at a time per worker.

A job is claimed (``FOR UPDATE SKIP LOCKED``, so two workers never take the same one) and marked running
in a short transaction; the range is then encoded into a temporary file from a read-only transaction's
``COPY``, ``rows_written`` moving forward every ``progress_every`` rows in short transactions of its own,
written beside the export rather than in its path (the export never waits for a progress write, and a
slow one only skips to the latest count). Only a complete file is handed to the store (``put_file``:
atomic rename locally, a committed block list on Blob), under a name fixed by the job, so a failed or
repeated run never leaves half a file where a download link could reach it. The job ends done (with its
storage name) or failed (with the error), audited as ``cost_events.export_completed`` either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from donatello.config import Settings
from donatello.core.database import transaction
from donatello.core.jobs import JobContext
from donatello.exports import files, service
from donatello.exports.files import ExportRange
from donatello.storage import ImageStore

log = logging.getLogger(__name__)


@dataclass
class Exporter:
    sessions: async_sessionmaker[AsyncSession]
    settings: Settings
    store: ImageStore
    progress_every: int = 50_000
    batch: int | None = None  # rows per chunk or row group; the format's default when None

    @property
    def scratch(self) -> Path:
        """Where files are written before they are stored (private, beside the data)."""
        return self.settings.data_dir / "exports-tmp"

    async def run_once(self) -> bool:
        """Claim and run one queued export; False when there was none."""
        async with transaction(self.sessions, platform=True) as session:
            claimed = await service.claim_job(session, stale_after=self.stale_after)
            if claimed is None:
                return False
            job, rng = claimed
            job_id = job.id
        log.info("export started", extra={"export_id": str(job_id), "format": rng.format})
        name = service.storage_name(job_id, rng)
        stored = False
        heartbeat = asyncio.create_task(self._heartbeat(job_id))
        try:
            rows = await self._write_and_store(job_id, rng, name)
            stored = True
            async with transaction(self.sessions, platform=True) as session:
                await service.complete_job(session, job_id, name, rows)
        except Exception as error:
            log.exception("export failed", extra={"export_id": str(job_id)})
            if stored:  # stored but not recorded: no link will ever name it
                with contextlib.suppress(Exception):
                    await self.store.delete(name)
            async with transaction(self.sessions, platform=True) as session:
                await service.fail_job(session, job_id, describe_error(error))
            return True
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
        log.info("export done", extra={"export_id": str(job_id), "rows": rows})
        return True

    @property
    def stale_after(self) -> timedelta:
        return timedelta(seconds=self.settings.export_stale_seconds)

    async def _heartbeat(self, job_id: uuid.UUID) -> None:
        """Say we are alive every third of the stale time, so a long export is never taken over."""
        while True:
            await asyncio.sleep(self.settings.export_stale_seconds / 3)
            async with transaction(self.sessions, platform=True) as session:
                await service.beat(session, job_id)

    async def _write_and_store(self, job_id: uuid.UUID, rng: ExportRange, name: str) -> int:
        await asyncio.to_thread(self.scratch.mkdir, parents=True, exist_ok=True, mode=0o700)
        fd, temporary = tempfile.mkstemp(dir=self.scratch, prefix=f".{job_id}-", suffix=".part")
        os.close(fd)
        progress = _Progress(self.sessions, job_id, self.progress_every)

        async def store(path: Path) -> None:
            await progress.close()  # the file is complete: the job's end records the final count
            await self.store.put_file(name, path, files.STORED_TYPES[rng.format])

        try:
            return await files.export_file(
                self.sessions, rng, Path(temporary), store, batch=self.batch, progress=progress.update
            )
        finally:
            await progress.close()


class _Progress:
    """A job's ``rows_written``, recorded by a task of its own: ``update`` never waits on the database
    (the export's connection is busy streaming), and a write that falls behind takes the latest count."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], job_id: uuid.UUID, every: int) -> None:
        self._sessions, self._job_id, self._every = sessions, job_id, every
        self._noted = 0
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self._record())

    async def update(self, rows: int) -> None:
        if rows - self._noted >= self._every:
            self._noted = rows
            self._wake.set()

    async def _record(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            async with transaction(self._sessions, platform=True) as session:
                await service.record_progress(session, self._job_id, self._noted)

    async def close(self) -> None:
        self._task.cancel()  # the job's end records the final count
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


def describe_error(error: BaseException) -> str:
    """The error's kind and first line, enough for the job's reader (the log holds the rest)."""
    first = (str(error).strip().splitlines() or [""])[0]
    return f"{type(error).__name__}: {first}" if first else type(error).__name__


async def run(context: JobContext, store: ImageStore) -> None:
    """The worker job: one exporter claiming queued exports until told to stop."""
    settings = context.settings
    exporter = Exporter(context.sessions, settings, store, progress_every=settings.export_progress_rows)
    await context.repeat(exporter.run_once, idle=settings.worker_poll_seconds, what="export job")
