"""The ``webhooks`` worker job: the fan-out loop and the delivery loop, side by side."""

from __future__ import annotations

import asyncio

from donatello.core.jobs import JobContext
from donatello.sealing import PromptSealer
from donatello.webhooks import fanout
from donatello.webhooks.delivery import Deliverer, http_client


async def run(context: JobContext, sealer: PromptSealer) -> None:
    settings = context.settings
    async with http_client(settings) as http:
        deliverer = Deliverer(context.sessions, settings, sealer, http)
        await asyncio.gather(_fan_out(context), _deliver(context, deliverer))


async def _fan_out(context: JobContext) -> None:
    settings = context.settings

    async def one_pass() -> bool:
        return (await fanout.pass_once(context.sessions, settings.webhooks_batch_size * 10)).read

    await context.repeat(one_pass, idle=settings.webhooks_poll_seconds, what="webhook fan-out")


async def _deliver(context: JobContext, deliverer: Deliverer) -> None:
    await context.repeat(
        deliverer.run_once, idle=context.settings.webhooks_poll_seconds, what="webhook delivery"
    )
