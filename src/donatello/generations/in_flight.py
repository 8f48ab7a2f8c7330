"""Many generation jobs in flight in one worker process, bounded.

Provider calls are I/O: 10-60 s of waiting per image. A job waits on its provider holding no database
connection or transaction (its claim, lease renewals and outcome are short transactions of their own), so
one process keeps many calls going with a small connection pool and idle CPU. The bound keeps memory in
check: each job holds at most its own images, between their arrival and the store.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from donatello.core.jobs import MAX_BACK_OFF, JobContext

log = logging.getLogger(__name__)

J = TypeVar("J")


async def keep_in_flight(
    claim: Callable[[], Awaitable[J | object | None]],
    process: Callable[[J], Awaitable[None]],
    context: JobContext,
    *,
    kind: type[J],
    most: int,
    idle: float,
) -> None:
    """Claim and start jobs while fewer than ``most`` are in flight, until ``context`` is stopping; then
    wait for those in flight to finish. ``claim`` returns a job (an instance of ``kind``), something else
    when it did work without a job to process (it failed one for good), or None when nothing is runnable
    — then, and when claiming fails (the database is down), it waits ``idle`` seconds, backing off."""
    slots = asyncio.Semaphore(most)
    in_flight: set[asyncio.Task[None]] = set()

    async def run(job: J) -> None:
        try:
            await process(job)
        finally:
            slots.release()

    failures = 0
    while not context.stopping.is_set():
        await slots.acquire()
        try:
            claimed = await claim()
            failures = 0
        except Exception:
            log.exception("claiming a generation job failed; retrying")
            claimed, failures = None, failures + 1
        if isinstance(claimed, kind):
            task = asyncio.create_task(run(claimed))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
            continue
        slots.release()
        if claimed is None:
            await context.sleep(idle * min(2**failures, MAX_BACK_OFF))
    await asyncio.gather(*in_flight, return_exceptions=True)
