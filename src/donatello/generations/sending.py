"""A job's requests as they are sent: each takes its place in its model's quota right before it goes
(``pacing.take_place``), in a short transaction of its own, and the HTTP client reports when it was
written, which bounds when the provider can have received it.

The provider counts requests as they arrive. A busy event loop may write a request well after its place
was taken, so the place counts from when it was taken (never later than the arrival) until the window
after the moment the request was *written* — which httpcore's ``trace`` extension reports on the worker's
HTTP client (``trace_sends``). Until then the place is held as if the request could still arrive. A call
still in flight after half its window has that moment recorded at once (a background write), so a slow
model's places free on time; any other is settled when it ends.

The job's first request also records its provider call (``calls.sent``) in the same transaction: it is
on record before it is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from donatello.config import Settings
from donatello.core.clock import utcnow
from donatello.core.database import transaction
from donatello.generations import calls, pacing
from donatello.generations.job import Job
from donatello.providers import ImageResult, ProviderTarget
from donatello.providers.execution import NotSent

log = logging.getLogger(__name__)

#: a request waiting for room looks again this often while the places' ends are not known yet
LOOK_AGAIN_SECONDS = 0.25
#: a request waits this long at most for room in its model's window; then its job goes back to the queue
MOST_WAIT_SECONDS = 10.0

_SENDING: ContextVar[_Request | None] = ContextVar("donatello_sending", default=None)


def trace_sends(http: httpx.AsyncClient) -> None:
    """Have the worker's HTTP client report when a request being sent under a place was written."""
    hooks = http.event_hooks
    if _attach_trace not in hooks["request"]:
        http.event_hooks = {**hooks, "request": [*hooks["request"], _attach_trace]}


async def _attach_trace(request: httpx.Request) -> None:
    sending = _SENDING.get()
    if sending is not None and sending.is_model_request(request):
        request.extensions["trace"] = sending.trace


@dataclass(eq=False)
class _Request:
    """One request on its way: when it was written (a model's own request: not a token fetch or an image
    download, which go elsewhere or are GETs), and its answer."""

    target: ProviderTarget
    written_at: datetime | None = None
    result: ImageResult | None = None

    def is_model_request(self, request: httpx.Request) -> bool:
        endpoint = httpx.URL(self.target.endpoint)
        return request.method != "GET" and (request.url.host, request.url.port) == (
            endpoint.host,
            endpoint.port,
        )

    async def trace(self, event: str, info: dict[str, Any]) -> None:
        if event.endswith("send_request_body.complete"):
            self.written_at = utcnow()

    def answered(self, result: ImageResult) -> None:
        self.result = result


@dataclass
class JobRequests:
    """The requests one job sends (``on_sending`` of its provider call), and its recorded call."""

    sessions: async_sessionmaker[AsyncSession]
    job: Job
    settings: Settings
    call: uuid.UUID | None = None  # its provider call on record, once its first request was let go
    unsent: bool = True  # the place its claim reserved on its own model (if it has a quota) is not used
    _answered: list[tuple[uuid.UUID, datetime, ImageResult]] = field(default_factory=list)
    _settling: set[asyncio.Task[None]] = field(default_factory=set)

    @asynccontextmanager
    async def sending(self, target: ProviderTarget) -> AsyncIterator[_Request]:
        place = await self._take_place(target)
        if (target.provider, target.model) == (self.job.provider, self.job.model):
            self.unsent = False
        request = _Request(target)
        timer = self._settle_if_long(place, request, target) if place is not None else None
        token = _SENDING.set(request)
        try:
            yield request
        finally:
            _SENDING.reset(token)
            if timer is not None:
                timer.cancel()
            if place is not None:
                latest = request.written_at or utcnow()  # not reported written: it was over by now
                if request.result is not None:  # settled with the job's outcome, in its transaction
                    self._answered.append((place, latest, request.result))
                else:  # failed: at once, before any retry
                    await self._settle(place, latest, None)

    async def settle(self, session: AsyncSession) -> None:
        """Settle the places of the answered requests: in the transaction recording the job's outcome."""
        for place, latest, result in self._answered:
            await pacing.finished(session, place, latest, result)
        self._answered.clear()

    async def _take_place(self, target: ProviderTarget) -> uuid.UUID | None:
        """Its place, once the model's window has room (None: a model without a quota)."""
        give_up = time.monotonic() + MOST_WAIT_SECONDS
        while True:
            async with transaction(self.sessions, platform=True) as session:
                now = utcnow()
                taken = await pacing.take_place(
                    session,
                    self.job,
                    target.provider,
                    target.model,
                    now,
                    self.settings.generation_quota_window_seconds,
                    self.settings.generation_lease,
                )
                if not isinstance(taken, pacing.Wait) and self.call is None:
                    self.call = await calls.sent(session, self.job)
            if not isinstance(taken, pacing.Wait):
                return taken
            wait = (taken.until - now).total_seconds() if taken.until else LOOK_AGAIN_SECONDS
            if taken.cooling:
                raise NotSent(f"cooling down after a 429 for {wait:.0f} s", retry_after_seconds=wait)
            if time.monotonic() + wait > give_up:
                raise NotSent("its quota has no room soon", retry_after_seconds=max(1.0, wait))
            await asyncio.sleep(max(wait, 0.001))

    def _settle_if_long(
        self, place: uuid.UUID, request: _Request, target: ProviderTarget
    ) -> asyncio.TimerHandle:
        """Half a window into a call still in flight, record when it was written: its place frees on time."""
        window = self.settings.generation_quota_window_seconds
        if target.rate_limit_per_minute:
            window, _ = pacing.window_and_quota(target.rate_limit_per_minute, window)

        def settle_now() -> None:
            if request.written_at is not None:
                task = asyncio.create_task(self._written(place, request.written_at))
                self._settling.add(task)
                task.add_done_callback(self._settling.discard)

        return asyncio.get_running_loop().call_later(window / 2, settle_now)

    async def _written(self, place: uuid.UUID, at: datetime) -> None:
        with contextlib.suppress(Exception):  # it stays held as in flight: later, never too early
            async with transaction(self.sessions, platform=True) as session:
                await pacing.written(session, place, at)

    async def _settle(self, place: uuid.UUID, latest: datetime, result: ImageResult | None) -> None:
        """Failing to record it only keeps the place held longer (as if still in flight)."""
        try:
            async with transaction(self.sessions, platform=True) as session:
                await pacing.finished(session, place, latest, result)
        except Exception:
            log.warning("a quota place could not be settled", exc_info=True)
