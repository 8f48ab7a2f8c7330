"""A model's quota paces its calls instead of refusing people.

A deployment's ``rate_limit_per_minute`` (requests) and ``token_limit_per_minute`` (tokens, for models
priced per token) are kept by every worker process together, in ``model_calls`` (PostgreSQL, so the
embedded default and a scaled-out deployment behave the same). The window is
``generation_quota_window_seconds`` (60 by default), holding the quota's share of it — at least one call,
so a request quota under one call per window stretches the window instead.

A call's place in the window is taken twice over:

* **at the claim** (``take_call``): a job is claimed only when its model's window will have a place for
  it a moment ahead (``claim_ahead``), so the job is prepared — prompt unsealed, candidates read — while
  the place frees; the place is reserved, not sent;
* **as each request is sent** (``take_place``, through the provider call's ``on_sending`` hook, in a
  transaction of its own right before the request goes): the window is counted again over the requests
  actually sent, and the request waits there until it has room. Retries, parts and fallbacks take places
  too.

What makes the provider never see more than the quota in a window, however late a busy event loop
sends: a place counts from ``sent_at`` — taken before the request is written, so never later than its
arrival — and lasts until ``called_at`` plus the window, where ``called_at`` is the latest the request
can have reached the provider: far ahead (the job's lease) until the HTTP client reports the request
written, then that moment plus ``ARRIVAL_ALLOWANCE`` (the network's and the provider's clock's share).

Tokens: a call counts its bound (``call_token_bound``: the documented output tokens and the prompt's
bound, what admission priced) until it is answered, then what the provider reported. A call fits when the
window's tokens and its own stay within the window's share — or when the window holds no tokens at all,
so a call larger than the share still goes, alone.

A 429 from the provider at saturation cools the deployment down (``cool_down``, ``model_pacing``): no
worker process claims or sends a call of it before the provider's Retry-After has passed, and the job
that got the 429 waits in the queue for it rather than retrying on its own.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from donatello.generations import pacing_repository as repository
from donatello.generations.job import Job
from donatello.pricing.service import PER_TOKEN, Quote
from donatello.providers import ImageResult, ProviderError, ProviderRateLimited, TokenUsage

#: how much one finished call moves a model's seconds per call (an exponential moving average)
CALL_TIME_WEIGHT = 0.2
#: A request reaches the provider within this of being written (the network, the provider's clock and
#: the clocks of worker hosts): a place is held that much longer than the window.
ARRIVAL_ALLOWANCE = timedelta(seconds=0.1)
#: A job is claimed up to this long (a quarter of a short window at most) before its model's window has
#: room: it is ready to send when the place frees.
CLAIM_AHEAD_SECONDS = 2.0


def window_and_quota(rate_per_minute: int, window_seconds: float) -> tuple[float, int]:
    """The rolling window a quota is counted over and the calls allowed in it."""
    window = max(window_seconds, 60 / rate_per_minute)
    return window, max(1, math.floor(rate_per_minute * window / 60))


def token_share(tokens_per_minute: int, window: float) -> int:
    """The tokens a window of ``window`` seconds holds of a per-minute token quota."""
    return max(1, math.floor(tokens_per_minute * window / 60))


def claim_ahead(window: float) -> float:
    return min(CLAIM_AHEAD_SECONDS, window / 4)


def call_token_bound(quote: Quote) -> int | None:
    """The most tokens a call priced by this quote can use: what admission held money for."""
    if quote.pricing_unit != PER_TOKEN or quote.output_tokens_per_image is None:
        return None
    return quote.output_tokens_per_image * quote.images + (quote.input_text_tokens_bound or 0)


def reported_tokens(usage: TokenUsage) -> int:
    return usage.input_text_tokens + usage.input_image_tokens + usage.output_image_tokens


@dataclass(frozen=True)
class _Limits:
    window: float
    calls: int | None
    tokens: int | None

    @classmethod
    def of(cls, quota: repository.ModelQuota, window_seconds: float) -> _Limits | None:
        if quota.calls_per_minute is None and quota.tokens_per_minute is None:
            return None
        window, calls = window_seconds, None
        if quota.calls_per_minute is not None:
            window, calls = window_and_quota(quota.calls_per_minute, window_seconds)
        tokens = token_share(quota.tokens_per_minute, window) if quota.tokens_per_minute else None
        return cls(window, calls, tokens)

    def fit(self, held: repository.Held, bound: int) -> bool:
        if self.calls is not None and held.calls >= self.calls:
            return False
        return self.tokens is None or held.tokens == 0 or held.tokens + bound <= self.tokens


async def take_call(
    session: AsyncSession, job: Job, now: datetime, window_seconds: float, lease: timedelta
) -> bool:
    """At the claim: reserve the job's place if its model's window has room a moment ahead (always, for a
    model with no quota); False when another worker took the last place first."""
    quota = await repository.quota_of(session, job.provider, job.model, now)  # its turn, with a quota
    limits = _Limits.of(quota, window_seconds) if quota is not None else None
    if quota is None or limits is None:
        return True
    if job.attempts > 1:
        await repository.give_back_unsent(session, job.id)  # an earlier claim's, never sent
    window = timedelta(seconds=limits.window)
    ahead = timedelta(seconds=claim_ahead(limits.window))
    held = await repository.held(
        session, quota.id, now + ahead - window, sent_only=False, forget_before=now - window
    )
    bound = int(job.details.get("token_bound") or 0)
    if not limits.fit(held, bound):
        return False
    await repository.reserve(session, quota.id, job.id, now + lease, bound or None)
    return True


@dataclass(frozen=True)
class Wait:
    """No place for the request now: look again at ``until`` (None: when a call in flight is written or
    answered — unknown); ``cooling``: the deployment is cooling down after a 429 until ``until``."""

    until: datetime | None
    cooling: bool = False


async def take_place(
    session: AsyncSession,
    job: Job,
    provider: str,
    model: str,
    now: datetime,
    window_seconds: float,
    lease: timedelta,
) -> uuid.UUID | Wait | None:
    """As a request of ``job`` is about to be sent to ``provider``/``model``: its place in the model's
    window (the job's reservation, or a new place), counted over the requests sent; ``Wait`` when there is
    no room now or the deployment is cooling down; None for a model without a quota (nothing to count)."""
    quota = await repository.quota_of(session, provider, model, now)  # its turn, with a quota
    if quota is None:
        return None
    if quota.cooling_until is not None:
        return Wait(quota.cooling_until, cooling=True)
    if (limits := _Limits.of(quota, window_seconds)) is None:
        return None
    window = timedelta(seconds=limits.window)
    own_model = (provider, model) == (job.provider, job.model)
    bound = int(job.details.get("token_bound") or 0) if own_model else 0
    held = await repository.held(session, quota.id, now - window, sent_only=True)
    if not limits.fit(held, bound):
        excess = held.calls - limits.calls if limits.calls is not None and held.calls >= limits.calls else 0
        frees = await repository.frees_for(session, quota.id, job.id, now - window, excess)
        # that place leaves the window one window after it; one still in flight has no known end yet
        return Wait(frees + window if frees is not None and frees <= now + ARRIVAL_ALLOWANCE else None)
    until = now + lease  # the latest it can reach the provider, until it is reported written
    if own_model and (place := await repository.mark_sent(session, quota.id, job.id, now, until)):
        return place
    return await repository.add_sent(session, quota.id, job.id, now, until, bound or None)


async def written(session: AsyncSession, place: uuid.UUID, at: datetime) -> None:
    """The request was written at ``at``: it reached the provider by ``at`` plus the allowance."""
    await repository.settle(session, place, at + ARRIVAL_ALLOWANCE, None)


async def finished(
    session: AsyncSession, place: uuid.UUID, latest_arrival: datetime, result: ImageResult | None
) -> None:
    """The request is over: it reached the provider by ``latest_arrival`` (plus the allowance) if at all
    and, once answered, its tokens are what the provider reported in place of its bound."""
    usage = result.usage if result is not None else None
    tokens = reported_tokens(usage) if usage is not None else None
    await repository.settle(session, place, latest_arrival + ARRIVAL_ALLOWANCE, tokens)


async def answered(
    session: AsyncSession, job: Job, provider: str, model: str, result: ImageResult, *, unsent: bool
) -> None:
    """The job is done: the place reserved at its claim, if ``unsent``, is given back; the answering
    call's time moves the model's seconds per call (for estimated starts)."""
    if unsent:
        await repository.give_back_unsent(session, job.id)
    await repository.move_call_time(session, provider, model, result.latency_ms / 1000, CALL_TIME_WEIGHT)


async def give_back(session: AsyncSession, job: Job) -> None:
    """The job goes back to the queue or ends without sending: its reserved place is free again."""
    await repository.give_back_unsent(session, job.id)


#: how long a deployment cools down after a 429 that did not say (Azure's always says)
DEFAULT_COOL_DOWN_SECONDS = 10.0


def cool_down_seconds(error: ProviderRateLimited) -> float:
    return error.retry_after_seconds or DEFAULT_COOL_DOWN_SECONDS


def wait_for_quota(last: ProviderError | None, bound: float, now: datetime) -> datetime | None:
    """When every candidate failed and the last said 429, or was held back for its quota (to come back
    within the queue's ``bound``): when the job may be tried again. None: it failed for another reason,
    or would wait too long."""
    if not isinstance(last, ProviderRateLimited) or not last.retryable:
        return None
    wait = cool_down_seconds(last)
    return now + timedelta(seconds=wait) if wait <= bound else None


async def cool_down(session: AsyncSession, provider: str, model: str, until: datetime) -> None:
    """The deployment answered 429: no worker process claims or sends a call of it before ``until``."""
    await repository.cool_down(session, provider, model, until)
