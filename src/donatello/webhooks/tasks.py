"""The ``webhooks`` worker job: the fan-out loop and the delivery loop, side by side."""

from __future__ import annotations

import asyncio
import logging

from donatello.core.jobs import JobContext
from donatello.sealing import sealer_from_settings
from donatello.webhooks import fanout
from donatello.webhooks.delivery import Deliverer, http_client

log = logging.getLogger(__name__)


async def run(context: JobContext) -> None:
    settings = context.settings
    sealer = sealer_from_settings(settings)
    try:
        async with http_client(settings) as http:
            deliverer = Deliverer(context.sessions, settings, sealer, http)
            await asyncio.gather(_fan_out(context), _deliver(context, deliverer))
    finally:
        await sealer.aclose()


async def _fan_out(context: JobContext) -> None:
    settings, failures = context.settings, 0
    while not context.stopping.is_set():
        try:
            progress = await fanout.pass_once(context.sessions, settings.webhooks_batch_size * 10)
            failures = 0
        except Exception:
            log.exception("webhook fan-out pass failed")
            failures += 1
            progress = None
        if progress is None or not progress.read:
            await context.sleep(_pause(settings.webhooks_poll_seconds, failures))


async def _deliver(context: JobContext, deliverer: Deliverer) -> None:
    settings, failures = context.settings, 0
    while not context.stopping.is_set():
        try:
            attempted = await deliverer.run_once()
            failures = 0
        except Exception:
            log.exception("webhook delivery pass failed")
            failures += 1
            attempted = 0
        if not attempted:
            await context.sleep(_pause(settings.webhooks_poll_seconds, failures))


def _pause(seconds: float, failures: int) -> float:
    return float(seconds * min(2**failures, 64))
