"""Calling providers: retries with back-off, Retry-After, fallbacks, and the availability cache."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.providers import (
    ApiKeyHeader,
    ContentFiltered,
    ImageRequest,
    InProcessAvailability,
    ProviderRateLimited,
    ProvidersExhausted,
    ProviderTarget,
    ProviderUnavailable,
    RedisAvailability,
    adapter_for,
    call_with_retries,
    candidates,
    generate_with_fallback,
)
from donatello.providers.execution import BASE_DELAY_SECONDS, MAX_RETRY_AFTER_SECONDS, backoff_delay
from tests.support import azure_openai_stub as replies
from tests.support import provider_rows
from tests.support.azure_openai_stub import STUB_API_KEY, AzureOpenAIStub

REQUEST = ImageRequest("a harbour at dawn", None, "1024x1024", "standard", None, 1, 42)


class StubKey:
    """The catalogue rows' credential, obtained as the key the stub accepts."""

    async def resolve(self, configured: dict[str, Any]) -> ApiKeyHeader:
        return ApiKeyHeader(STUB_API_KEY, kind="environment")


stub_key = StubKey()


class Sleeps:
    """Records the back-off instead of waiting it out."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def target(stub: AzureOpenAIStub, *, retries: int = 3, timeout: float = 5.0) -> ProviderTarget:
    return ProviderTarget(
        "azure-openai", "gpt-image-1.5", stub.endpoint(), timeout, retries, {}, ApiKeyHeader(STUB_API_KEY)
    )


async def test_rate_limited_then_success_waits_as_the_provider_asks(
    http: httpx.AsyncClient, azure_stub: AzureOpenAIStub
) -> None:
    azure_stub.reply(replies.rate_limited(retry_after_ms="2500"), replies.rate_limited(retry_after="4"))
    sleeps = Sleeps()

    result = await call_with_retries(
        adapter_for("azure-openai", http=http), target(azure_stub), REQUEST, sleep=sleeps
    )

    assert len(result.images) == 1
    assert len(azure_stub.requests) == 3
    assert 2.5 <= sleeps.delays[0] <= 2.75
    assert 4.0 <= sleeps.delays[1] <= 4.4


async def test_server_errors_back_off_exponentially_then_succeed(
    http: httpx.AsyncClient, azure_stub: AzureOpenAIStub
) -> None:
    azure_stub.reply(replies.server_error(), replies.server_error(503), replies.server_error())
    sleeps = Sleeps()
    seen: list[int] = []

    result = await call_with_retries(
        adapter_for("azure-openai", http=http),
        target(azure_stub),
        REQUEST,
        sleep=sleeps,
        on_retry=lambda number, error, delay: seen.append(number),
    )

    assert len(result.images) == 1
    assert seen == [1, 2, 3]
    for retry, delay in enumerate(sleeps.delays, start=1):
        ceiling = BASE_DELAY_SECONDS * 2 ** (retry - 1)
        assert ceiling / 2 <= delay <= ceiling  # equal jitter within the doubling window


async def test_retries_stop_at_max_retries_and_the_error_says_how_many_calls(
    http: httpx.AsyncClient, azure_stub: AzureOpenAIStub
) -> None:
    azure_stub.reply(*[replies.server_error() for _ in range(5)])
    sleeps = Sleeps()

    with pytest.raises(ProviderUnavailable) as caught:
        await call_with_retries(
            adapter_for("azure-openai", http=http), target(azure_stub, retries=2), REQUEST, sleep=sleeps
        )

    assert caught.value.attempts == 3
    assert len(azure_stub.requests) == 3
    assert len(sleeps.delays) == 2


async def test_a_content_filter_refusal_is_not_retried(
    http: httpx.AsyncClient, azure_stub: AzureOpenAIStub
) -> None:
    azure_stub.reply(replies.content_filter())
    sleeps = Sleeps()

    with pytest.raises(ContentFiltered):
        await call_with_retries(
            adapter_for("azure-openai", http=http), target(azure_stub), REQUEST, sleep=sleeps
        )

    assert (len(azure_stub.requests), sleeps.delays) == (1, [])


async def test_a_retry_after_longer_than_we_wait_gives_up_at_once(
    http: httpx.AsyncClient, azure_stub: AzureOpenAIStub
) -> None:
    azure_stub.reply(replies.rate_limited(retry_after=str(int(MAX_RETRY_AFTER_SECONDS) + 60)))
    sleeps = Sleeps()

    with pytest.raises(ProviderRateLimited):
        await call_with_retries(
            adapter_for("azure-openai", http=http), target(azure_stub), REQUEST, sleep=sleeps
        )

    assert sleeps.delays == []


def test_backoff_doubles_its_window_until_the_cap() -> None:
    """Retry n waits in [w/2, w], w = 0.5 s doubled per retry up to 20 s: half fixed, half jitter."""
    windows = [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, *[20.0] * 13]
    for retry, window in enumerate(windows, start=1):
        for _ in range(50):
            delay = backoff_delay(retry)
            assert delay is not None and window / 2 <= delay <= window, (retry, delay)


async def test_timeouts_are_retried_then_the_cheaper_fallback_produces_the_images(
    db: AsyncSession, http: httpx.AsyncClient, azure_stub: AzureOpenAIStub
) -> None:
    await provider_rows.only_these_models(db)
    primary = await provider_rows.model(
        db,
        "azure-openai",
        price="0.0800",
        priority=10,
        endpoint=azure_stub.endpoint(),
        timeout_seconds=1,
        max_retries=1,
    )
    fallback = await provider_rows.model(db, "local", price="0.0100", priority=90)
    chosen = await candidates(db, None, "auto", "1024x1024", "standard", 1, credentials=stub_key)
    # The timeout is read from the row in whole seconds; shorten it for the test (the stub sleeps 2 s).
    chosen[0] = replace(chosen[0], target=replace(chosen[0].target, timeout_seconds=0.1))
    azure_stub.reply(replies.slow(2.0), replies.slow(2.0))
    sleeps = Sleeps()
    availability = InProcessAvailability()

    outcome = await generate_with_fallback(
        chosen, REQUEST, http=http, sleep=sleeps, availability=availability
    )

    assert [c.name for c in chosen] == [f"azure-openai/{primary.model_name}", f"local/{fallback.model_name}"]
    assert outcome.candidate.name == f"local/{fallback.model_name}"
    assert outcome.fallback_from is not None and outcome.fallback_from.name == chosen[0].name
    assert outcome.retries == 1
    assert len(azure_stub.requests) == 2
    assert outcome.failures[0].startswith(f"azure-openai/{primary.model_name}: no answer within")
    assert outcome.result.images[0].read_bytes().startswith(b"\x89PNG")


async def test_a_content_filter_refusal_does_not_fall_back(
    db: AsyncSession, http: httpx.AsyncClient, azure_stub: AzureOpenAIStub
) -> None:
    await provider_rows.only_these_models(db)
    await provider_rows.model(db, "azure-openai", price="0.0800", priority=10, endpoint=azure_stub.endpoint())
    await provider_rows.model(db, "local", price="0.0100", priority=90)
    chosen = await candidates(db, None, "auto", "1024x1024", "standard", 1, credentials=stub_key)
    azure_stub.reply(replies.content_filter())

    with pytest.raises(ContentFiltered):
        await generate_with_fallback(chosen, REQUEST, http=http, sleep=Sleeps())
    assert len(azure_stub.requests) == 1


async def test_when_every_candidate_fails_the_error_lists_each_and_pauses_the_failing_model(
    db: AsyncSession, http: httpx.AsyncClient, azure_stub: AzureOpenAIStub
) -> None:
    await provider_rows.only_these_models(db)
    first = await provider_rows.model(
        db, "azure-openai", priority=10, endpoint=azure_stub.endpoint(), max_retries=0
    )
    second = await provider_rows.model(
        db, "azure-openai", priority=20, endpoint=azure_stub.deploy("other"), max_retries=0
    )
    availability = InProcessAvailability(threshold=2)
    chosen = await candidates(
        db, None, "auto", "1024x1024", "standard", 1, availability=availability, credentials=stub_key
    )
    azure_stub.reply(*[replies.server_error() for _ in range(4)])

    for _ in range(2):
        with pytest.raises(ProvidersExhausted) as caught:
            await generate_with_fallback(
                chosen, REQUEST, http=http, sleep=Sleeps(), availability=availability
            )

    assert [f.split(":")[0] for f in caught.value.failures] == [
        f"azure-openai/{first.model_name}",
        f"azure-openai/{second.model_name}",
    ]
    assert await availability.paused_for("azure-openai", first.model_name) is not None
    with pytest.raises(Exception, match="No active, available model"):
        await candidates(db, None, "auto", "1024x1024", "standard", 1, availability=availability)


async def test_in_process_availability_pauses_after_repeated_failures_and_recovers() -> None:
    now = [1000.0]
    availability = InProcessAvailability(
        threshold=3, window_seconds=60, pause_seconds=30, clock=lambda: now[0]
    )

    assert await availability.record_failure("local", "m") is False
    await availability.record_success("local", "m")  # a success clears the count
    assert [await availability.record_failure("local", "m") for _ in range(3)] == [False, False, True]
    assert await availability.paused_for("local", "m") == 30
    now[0] += 31
    assert await availability.paused_for("local", "m") is None
    await availability.record_failure("local", "m")
    now[0] += 61  # failures older than the window do not count
    assert await availability.record_failure("local", "m") is False


async def test_redis_availability_is_shared_and_expires(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    try:
        prefix = f"test:{id(redis)}"
        api = RedisAvailability(redis, threshold=2, pause_seconds=30, prefix=prefix)
        worker = RedisAvailability(redis, threshold=2, pause_seconds=30, prefix=prefix)

        assert await api.record_failure("azure-openai", "dall-e-3") is False
        assert await worker.record_failure("azure-openai", "dall-e-3") is True

        paused = await api.paused_for("azure-openai", "dall-e-3")
        assert paused is not None and 0 < paused <= 30
        assert await api.paused_for("local", "pillow-sketch") is None
        assert 0 < await redis.ttl(f"{prefix}:paused:azure-openai/dall-e-3") <= 30
    finally:
        await redis.aclose()
