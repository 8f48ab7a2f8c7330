"""The ``notifications`` worker job: the fan-out loop and the e-mail loop, side by side."""

from __future__ import annotations

import asyncio

from donatello.core.jobs import JobContext
from donatello.notifications import fanout
from donatello.notifications.delivery import Mailer


async def run(context: JobContext) -> None:
    mailer = Mailer(context.sessions, context.settings)
    await asyncio.gather(_fan_out(context), _mail(context, mailer))


async def _fan_out(context: JobContext) -> None:
    settings = context.settings

    async def one_pass() -> bool:
        return (await fanout.pass_once(context.sessions, settings.notifications_batch_size * 10)).read

    await context.repeat(one_pass, idle=settings.notifications_poll_seconds, what="notification fan-out")


async def _mail(context: JobContext, mailer: Mailer) -> None:
    await context.repeat(
        mailer.run_once, idle=context.settings.notifications_poll_seconds, what="notification e-mail"
    )
