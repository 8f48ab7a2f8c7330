"""Background runner: generation jobs, the audit outbox relay and scheduled jobs register here.

Each job is a coroutine given a ``JobContext``; it loops until ``context.stopping`` is set and owns its
transactions (commit per unit of work, like the request edge). ``run`` starts every registered job on one
engine and stops them on SIGTERM/SIGINT.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from donatello.audit import relay
from donatello.budgets import tasks as budget_tasks
from donatello.config import Settings
from donatello.core.database import create_engine, create_sessionmaker
from donatello.core.jobs import JobContext
from donatello.exports import tasks as export_tasks
from donatello.generations import processing
from donatello.reconciliation import tasks as reconciliation_tasks
from donatello.retention import tasks as retention
from donatello.webhooks import tasks as webhook_tasks

log = logging.getLogger(__name__)

Job = Callable[[JobContext], Coroutine[Any, Any, None]]

#: Jobs the worker runs, by name.
JOBS: dict[str, Job] = {
    "audit-relay": relay.run,
    "generations": processing.run,
    "budget-holds": budget_tasks.run,
    "retention": retention.job,
    "webhooks": webhook_tasks.run,
    "exports": export_tasks.run,
    "reconciliations": reconciliation_tasks.run,
}


def describe(only: list[str] | None = None) -> str:
    return "jobs: " + ", ".join(sorted(only or JOBS))


@asynccontextmanager
async def running(settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[None]:
    """Run every job in the background of the current process (``donatello serve`` on the embedded
    default) until the block exits."""
    context = JobContext(settings, sessions)
    tasks = [asyncio.create_task(job(context), name=name) for name, job in JOBS.items()]
    log.info("in-process worker started", extra={"jobs": sorted(JOBS)})
    try:
        yield
    finally:
        context.stopping.set()
        await asyncio.gather(*tasks, return_exceptions=True)


async def run(settings: Settings, url: str, *, only: list[str] | None = None) -> None:
    """Run every job until SIGTERM or SIGINT; a job that crashes stops the worker (the orchestrator
    restarts it) rather than leaving it half alive."""
    engine = create_engine(url, app_role=settings.database_app_role, pool_size=settings.database_pool_size)
    context = JobContext(settings, create_sessionmaker(engine))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, context.stopping.set)
    jobs = {name: job for name, job in JOBS.items() if not only or name in only}
    log.info("worker started", extra={"jobs": sorted(jobs)})
    try:
        tasks = [asyncio.create_task(job(context), name=name) for name, job in jobs.items()]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        context.stopping.set()
        await asyncio.gather(*tasks)
    finally:
        await engine.dispose()
