"""Background runner: generation jobs, the audit outbox relay and scheduled jobs register here.

Each job is a coroutine given a ``JobContext`` and the process's ``Resources`` (opened once, shared by
every job: one image store, one sealer, one Redis client); it loops until ``context.stopping`` is set and
owns its transactions (commit per unit of work, like the request edge). ``run`` starts every registered
job and stops them on SIGTERM/SIGINT.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

from donatello.audit import relay
from donatello.budgets import tasks as budget_tasks
from donatello.config import Settings
from donatello.core.jobs import JobContext
from donatello.exports import schedule_tasks as export_schedules
from donatello.exports import tasks as export_tasks
from donatello.generations import processing
from donatello.notifications import tasks as notification_tasks
from donatello.providers import health as model_health
from donatello.reconciliation import tasks as reconciliation_tasks
from donatello.resources import Resources, open_resources
from donatello.retention import tasks as retention
from donatello.webhooks import tasks as webhook_tasks

log = logging.getLogger(__name__)

Job = Callable[[JobContext, Resources], Coroutine[Any, Any, None]]

#: Jobs the worker runs, by name, each handed the resources it uses.
JOBS: dict[str, Job] = {
    "audit-relay": lambda context, _: relay.run(context),  # its own store: it waits out an outage
    "generations": lambda context, res: processing.run(
        context, res.image_store, res.sealer, res.redis, res.model_credentials
    ),
    "budget-holds": lambda context, _: budget_tasks.run(context),
    "model-health": lambda context, res: model_health.run(context, res.model_credentials),
    "retention": lambda context, res: retention.job(context, res.image_store),
    "webhooks": lambda context, res: webhook_tasks.run(context, res.sealer),
    "notifications": lambda context, _: notification_tasks.run(context),
    "exports": lambda context, res: export_tasks.run(context, res.image_store),
    "export-schedules": lambda context, _: export_schedules.run(context),  # its own drop store
    "reconciliations": lambda context, res: reconciliation_tasks.run(context, res.image_store),
}


def describe(only: list[str] | None = None) -> str:
    return "jobs: " + ", ".join(sorted(only or JOBS))


@asynccontextmanager
async def running(resources: Resources) -> AsyncIterator[None]:
    """Run every job in the background of the current process (``donatello serve`` on the embedded
    default), on the app's resources, until the block exits."""
    context = JobContext(resources.settings, resources.sessionmaker)
    tasks = [asyncio.create_task(job(context, resources), name=name) for name, job in JOBS.items()]
    log.info("in-process worker started", extra={"jobs": sorted(JOBS)})
    try:
        yield
    finally:
        context.stopping.set()
        await asyncio.gather(*tasks, return_exceptions=True)


async def run(settings: Settings, url: str, *, only: list[str] | None = None) -> None:
    """Run every job until SIGTERM or SIGINT; a job that crashes stops the worker (the orchestrator
    restarts it) rather than leaving it half alive."""
    async with open_resources(settings, url=url, audit=False) as resources:
        context = JobContext(settings, resources.sessionmaker)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, context.stopping.set)
        jobs = {name: job for name, job in JOBS.items() if not only or name in only}
        log.info("worker started", extra={"jobs": sorted(jobs)})
        tasks = [asyncio.create_task(job(context, resources), name=name) for name, job in jobs.items()]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        context.stopping.set()
        await asyncio.gather(*tasks)
