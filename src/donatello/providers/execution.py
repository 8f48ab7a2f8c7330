"""Calling a provider: retries with exponential back-off and jitter, then the next candidate.

Rules:

* only retryable failures (timeouts, 408, 409, 429, 5xx, unreachable, an answer without images) are
  retried, at most ``target.max_retries`` times per call — a provider's ``x-should-retry`` decides over
  the status, and ``insufficient_quota`` is never retried;
* a request the model answers in several calls (DALL-E 3: one image per call) retries only the call that
  failed and keeps the images already returned: no image is paid for twice;
* a provider's ``Retry-After`` is honoured; one asking for longer than ``MAX_RETRY_AFTER_SECONDS`` is
  not waited for: the job falls back at once and the model is paused for as long as the provider said
  (Azure's daily quota says 86400 s), beside the short pause for repeated failures;
* a model whose circuit is open (``providers.circuit``) is not called: the next candidate is;
* a content-filter refusal is final: no retry, no fallback (another model would be asked the same
  prompt); a misconfigured model (401/403/404) is not retried and is reported to ``on_misconfigured``;
* with ``on_rate_limited`` (the worker, which paces calls), a retryable 429 is not retried here: it is
  reported (the worker cools the deployment down for every process) and the next candidate is tried;
* with ``on_sending`` (the worker), every request — each attempt, each part, each candidate — is wrapped
  by it: entered right before the request is sent (the worker takes its place in the model's quota in a
  transaction of its own, waiting for room), left once it is answered or failed. When it holds the
  request back (``NotSent``: a cool-down, no room soon) nothing reached the provider: the next candidate
  is tried, and the candidate's health is not touched.

No database transaction may be open around these calls.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Protocol

import httpx

from donatello.core import metrics
from donatello.providers import parts
from donatello.providers.adapters import adapter_for
from donatello.providers.availability import Availability, availability_for
from donatello.providers.contract import ImageProvider, ImageRequest, ImageResult, ProviderTarget
from donatello.providers.errors import (
    ProviderError,
    ProviderMisconfigured,
    ProviderRateLimited,
    ProvidersExhausted,
    ProviderTimeout,
    ProviderUnavailable,
)
from donatello.providers.selection import Candidate

BASE_DELAY_SECONDS = 0.5
MAX_DELAY_SECONDS = 20.0
MAX_RETRY_AFTER_SECONDS = 60.0
#: failures that say the model is not working right now (they feed the availability cache)
OUTAGES = (ProviderUnavailable, ProviderTimeout, ProviderRateLimited)

Sleep = Callable[[float], Awaitable[None]]
#: called before each retry with (retry number, the error, the delay about to be slept)
OnRetry = Callable[[int, ProviderError, float], None]
#: called when a candidate answers that it is misconfigured (401/403/404): the model is made unavailable
OnMisconfigured = Callable[[Candidate, ProviderMisconfigured], Awaitable[None]]
#: called when a candidate answers 429 (retryable): the caller slows the deployment down
OnRateLimited = Callable[[Candidate, ProviderRateLimited], Awaitable[None]]


class Sending(Protocol):
    """One request on its way (``on_sending``): told the answer, when there is one."""

    def answered(self, result: ImageResult) -> None: ...


#: wraps each request to a model: entered right before it is sent (may raise ``NotSent``), left once it
#: is answered or failed; no transaction may stay open across it
OnSending = Callable[[ProviderTarget], AbstractAsyncContextManager[Sending]]


class NotSent(ProviderRateLimited):
    """``on_sending`` held the request back — its deployment is cooling down after a 429, or its quota has
    no room soon: nothing reached the provider, and the job may come back after ``retry_after_seconds``."""


class _Unpaced:
    def answered(self, result: ImageResult) -> None:
        pass


@asynccontextmanager
async def _unpaced(target: ProviderTarget) -> AsyncIterator[Sending]:
    yield _Unpaced()


def backoff_delay(retry: int, retry_after_seconds: float | None = None) -> float | None:
    """Seconds to wait before retry number ``retry`` (1-based); None when the provider asks too much.

    Without ``Retry-After``: "equal jitter" — half of ``BASE * 2**(retry-1)`` (capped) plus a random
    part up to the other half, so concurrent workers do not retry in lockstep. With it: at least what the
    provider asked, plus up to 10 % jitter.
    """
    if retry_after_seconds is not None:
        if retry_after_seconds > MAX_RETRY_AFTER_SECONDS:
            return None
        return retry_after_seconds * (1 + random.uniform(0, 0.1))  # noqa: S311 - jitter
    ceiling = min(MAX_DELAY_SECONDS, BASE_DELAY_SECONDS * 2.0 ** (retry - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - jitter


async def call_with_retries(
    adapter: ImageProvider,
    target: ProviderTarget,
    request: ImageRequest,
    *,
    sleep: Sleep = asyncio.sleep,
    on_retry: OnRetry | None = None,
    retry_rate_limits: bool = True,
    on_sending: OnSending = _unpaced,
) -> ImageResult:
    """The adapter's result, one part at a time, retrying a part's retryable failures; the final error
    carries ``attempts`` (1 + the retries made for this request). Each request goes through
    ``on_sending``, whose ``NotSent`` is raised as it is."""
    retries = 0
    results: list[ImageResult] = []
    for part in parts.split(target, request):
        while True:
            async with on_sending(target) as sending:
                started = time.perf_counter()
                try:
                    result = await adapter.generate(target, part)
                except ProviderError as error:
                    kind = "retryable" if error.retryable else "final"
                    kind = "content_filter" if error.content_filtered else kind
                    metrics.provider_call(
                        target.provider, target.model, time.perf_counter() - started, error_kind=kind
                    )
                    error.attempts = retries + 1
                    if not error.retryable or retries >= target.max_retries:
                        raise
                    if isinstance(error, ProviderRateLimited) and not retry_rate_limits:
                        raise
                    delay = backoff_delay(retries + 1, error.retry_after_seconds)
                    if delay is None:
                        raise
                    retries += 1
                    if on_retry is not None:
                        on_retry(retries, error, delay)
                else:
                    metrics.provider_call(target.provider, target.model, time.perf_counter() - started)
                    sending.answered(result)
                    results.append(result)
                    break
            await sleep(delay)  # outside on_sending: its place was settled when the request failed
    return parts.join(results)


@dataclass(frozen=True)
class Outcome:
    """What ran: the candidate that produced the images and how it got there."""

    candidate: Candidate
    result: ImageResult
    retries: int  # retries across every candidate tried
    fallback_from: Candidate | None  # the first choice, when a fallback produced the images
    failures: list[str]  # "provider/model: reason" of each candidate that failed before

    @property
    def processed_in(self) -> str | None:
        """Where inference ran: the provider's own word (a region header), else the model's country."""
        return self.result.processed_in or self.candidate.processing_country


async def generate_with_fallback(
    candidates: Sequence[Candidate],
    request: ImageRequest,
    *,
    http: httpx.AsyncClient,
    sleep: Sleep = asyncio.sleep,
    availability: Availability | None = None,
    on_misconfigured: OnMisconfigured | None = None,
    on_rate_limited: OnRateLimited | None = None,
    on_sending: OnSending = _unpaced,
) -> Outcome:
    """Try each candidate in order (with retries); the first success wins.

    Raises ``ContentFiltered`` at once when a filter refuses, and ``ProvidersExhausted`` when every
    candidate failed. Failures and successes feed the availability cache.
    """
    availability = availability or availability_for(None)
    failures: list[str] = []
    retries = 0
    last: ProviderError | None = None

    def count_retry(number: int, error: ProviderError, delay: float) -> None:
        nonlocal retries
        retries += 1

    for candidate in candidates:
        if not await availability.admit(candidate.provider, candidate.model):
            failures.append(f"{candidate.name}: its circuit is open after repeated failures")
            continue
        started = time.perf_counter()
        try:
            adapter = adapter_for(candidate.provider, http=http)
            result = await call_with_retries(
                adapter,
                candidate.target,
                request,
                sleep=sleep,
                on_retry=count_retry,
                retry_rate_limits=on_rate_limited is None,
                on_sending=on_sending,
            )
        except NotSent as held_back:  # never sent: the candidate's health and cool-down stay as they were
            failures.append(f"{candidate.name}: {held_back.reason}")
            last = held_back
            continue
        except ProviderError as error:
            if not isinstance(
                error, (*OUTAGES, ProviderMisconfigured)
            ):  # it answered: it is up (a trial too)
                seconds = time.perf_counter() - started
                await availability.record_success(candidate.provider, candidate.model, seconds)
            if error.content_filtered:
                raise
            if isinstance(error, OUTAGES):  # counted even when the provider said not to retry the call
                await availability.record_failure(
                    candidate.provider, candidate.model, time.perf_counter() - started
                )
                if (wait := error.retry_after_seconds) is not None and wait > MAX_RETRY_AFTER_SECONDS:
                    await availability.pause(candidate.provider, candidate.model, wait)
            if isinstance(error, ProviderMisconfigured) and on_misconfigured is not None:
                await on_misconfigured(candidate, error)
            if isinstance(error, ProviderRateLimited) and error.retryable and on_rate_limited is not None:
                await on_rate_limited(candidate, error)
            failures.append(f"{candidate.name}: {error.reason}")
            last = error
            continue
        await availability.record_success(candidate.provider, candidate.model, time.perf_counter() - started)
        fallback_from = candidates[0] if candidate is not candidates[0] else None
        return Outcome(candidate, result, retries, fallback_from, failures)
    raise ProvidersExhausted(failures, last)
