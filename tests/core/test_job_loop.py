"""The one loop every background job runs: more work at once, a pause when idle, a growing pause while a
step keeps failing, and it stops when asked."""

from __future__ import annotations

import itertools
import time

from sqlalchemy.ext.asyncio import async_sessionmaker

from donatello.config import Settings
from donatello.core.jobs import JobContext


async def test_a_failing_step_backs_off_doubling_then_the_job_recovers_and_stops_when_asked(
    settings: Settings,
) -> None:
    context = JobContext(settings, sessions=async_sessionmaker())  # unbound: this job never opens one
    calls: list[float] = []
    outcomes = ["fail", "fail", "fail", "work", "work", "idle", "stop"]

    async def step() -> bool:
        calls.append(time.monotonic())
        outcome = outcomes.pop(0)
        if outcome == "fail":
            raise RuntimeError("the database is restarting")
        if outcome == "stop":
            context.stopping.set()
        return outcome == "work"

    await context.repeat(step, idle=0.05, what="test step")

    gaps = [later - earlier for earlier, later in itertools.pairwise(calls)]
    assert len(calls) == 7 and outcomes == []
    assert gaps[0] >= 0.1 * 0.9 and gaps[1] >= 0.2 * 0.9 and gaps[2] >= 0.4 * 0.9  # 2x, 4x, 8x idle
    assert gaps[5] >= 0.05 * 0.9  # idle: the plain pause
