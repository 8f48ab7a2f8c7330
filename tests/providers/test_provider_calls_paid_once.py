"""Every provider call is paid: which failures are retried, how often, and what stops at once.

All against the strict Azure OpenAI stub; the stub records every call it received, so "one call" means
one call the provider would have seen (and billed).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.providers import (
    ApiKeyHeader,
    Candidate,
    ContentFiltered,
    ImageRequest,
    ImageResult,
    InProcessAvailability,
    ProviderError,
    ProviderMisconfigured,
    ProviderRateLimited,
    ProviderRejected,
    ProviderTarget,
    ProviderUnavailable,
    RedisAvailability,
    adapter_for,
    call_with_retries,
    candidates,
    generate_with_fallback,
)
from tests.support import azure_openai_stub as replies
from tests.support import provider_rows
from tests.support.azure_openai_stub import STUB_API_KEY, AzureOpenAIStub

REQUEST = ImageRequest("a harbour at dawn", None, "1024x1024", "standard", None, 1, 42)


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


class StubKey:
    """The catalogue rows' credential, obtained as the key the stub accepts."""

    async def resolve(self, configured: dict[str, Any]) -> ApiKeyHeader:
        return ApiKeyHeader(STUB_API_KEY, kind="environment")


stub_key = StubKey()


def gpt_image(stub: AzureOpenAIStub, *, retries: int = 3) -> ProviderTarget:
    return ProviderTarget(
        "azure-openai", "gpt-image-1.5", stub.endpoint(), 5.0, retries, {}, ApiKeyHeader(STUB_API_KEY)
    )


def dall_e_3(stub: AzureOpenAIStub, *, retries: int = 3) -> ProviderTarget:
    return ProviderTarget(
        "azure-openai",
        "dall-e-3",
        stub.endpoint("dall-e-3"),
        5.0,
        retries,
        {"family": "dall-e-3"},
        ApiKeyHeader(STUB_API_KEY),
    )


async def call(
    http: httpx.AsyncClient, target: ProviderTarget, sleeps: Sleeps, request: ImageRequest = REQUEST
) -> ImageResult:
    return await call_with_retries(adapter_for("azure-openai", http=http), target, request, sleep=sleeps)


async def azure_then_local(
    db: AsyncSession, stub: AzureOpenAIStub, availability: InProcessAvailability | None = None
) -> list[Candidate]:
    await provider_rows.only_these_models(db)
    await provider_rows.model(
        db, "azure-openai", price="0.0800", priority=10, endpoint=stub.endpoint(), max_retries=2
    )
    await provider_rows.model(db, "local", price="0.0100", priority=90)
    chosen = await candidates(
        db, None, "auto", "1024x1024", "standard", 1, availability=availability, credentials=stub_key
    )
    assert [c.provider for c in chosen] == ["azure-openai", "local"]
    return chosen


# --- paid once ---------------------------------------------------------------------------------------


async def test_dall_e_3_n3_with_one_failing_part_makes_four_calls_and_keeps_the_images_it_had(
    http: httpx.AsyncClient, azure_stub: AzureOpenAIStub
) -> None:
    azure_stub.reply(
        replies.success_b64(revised_prompt="first"),
        replies.server_error(503),
        replies.success_b64(revised_prompt="second"),
        replies.success_b64(revised_prompt="third"),
    )
    sleeps = Sleeps()

    result = await call(
        http, dall_e_3(azure_stub), sleeps, ImageRequest("a harbour", None, "1024x1024", "hd", None, 3, None)
    )

    assert len(result.images) == 3
    assert len(azure_stub.requests) == 4  # not 6: the first image is not asked for again
    assert [r.json["n"] for r in azure_stub.requests] == [1, 1, 1, 1]
    assert result.revised_prompt == "first"
    assert len(sleeps.delays) == 1


async def test_gpt_image_n3_is_one_call(http: httpx.AsyncClient, azure_stub: AzureOpenAIStub) -> None:
    result = await call(
        http,
        gpt_image(azure_stub),
        Sleeps(),
        ImageRequest("a harbour", None, "1024x1024", "low", None, 3, None),
    )

    assert len(result.images) == 3 and len(azure_stub.requests) == 1
    assert result.usage is not None and result.usage.output_image_tokens == 3 * 272


# --- which failures are retried ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "kind"),
    [
        (replies.insufficient_quota(), ProviderRateLimited),
        (replies.server_error(503, should_retry="false"), ProviderUnavailable),
    ],
)
async def test_a_failure_the_provider_says_not_to_retry_makes_one_call(
    http: httpx.AsyncClient, azure_stub: AzureOpenAIStub, reply: replies.Reply, kind: type[ProviderError]
) -> None:
    azure_stub.reply(reply, replies.success_b64())
    sleeps = Sleeps()

    with pytest.raises(kind) as caught:
        await call(http, gpt_image(azure_stub), sleeps)

    assert (len(azure_stub.requests), sleeps.delays, caught.value.attempts) == (1, [], 1)


async def test_x_should_retry_true_retries_even_a_400(
    http: httpx.AsyncClient, azure_stub: AzureOpenAIStub
) -> None:
    busy = replies.Reply(
        status=400,
        body={"error": {"code": "BadRequest", "message": "try again"}},
        headers={"x-should-retry": "true"},
    )
    azure_stub.reply(busy, replies.success_b64())

    result = await call(http, gpt_image(azure_stub), Sleeps())

    assert len(result.images) == 1 and len(azure_stub.requests) == 2


async def test_a_400_without_the_header_is_final(
    http: httpx.AsyncClient, azure_stub: AzureOpenAIStub
) -> None:
    azure_stub.reply(replies.Reply(status=400, body={"error": {"code": "BadRequest", "message": "no"}}))

    with pytest.raises(ProviderRejected):
        await call(http, gpt_image(azure_stub), Sleeps())
    assert len(azure_stub.requests) == 1


@pytest.mark.parametrize(
    "reply", [replies.conflict(), replies.bad_gateway_html(), replies.empty_data(), replies.server_error(500)]
)
async def test_conflicts_outages_and_answers_without_images_are_retried(
    http: httpx.AsyncClient, azure_stub: AzureOpenAIStub, reply: replies.Reply
) -> None:
    azure_stub.reply(reply, replies.success_b64())

    result = await call(http, gpt_image(azure_stub), Sleeps())

    assert len(result.images) == 1 and len(azure_stub.requests) == 2


# --- final: safety and misconfiguration ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "stage", "categories"),
    [
        (replies.moderation_blocked("violence"), "prompt", ["violence"]),
        (replies.content_filter("high", "hate"), "prompt", ["hate"]),
        (replies.output_filtered(), "output", []),
    ],
)
async def test_each_safety_refusal_is_one_call_and_no_fallback(
    db: AsyncSession,
    http: httpx.AsyncClient,
    azure_stub: AzureOpenAIStub,
    reply: replies.Reply,
    stage: str,
    categories: list[str],
) -> None:
    chosen = await azure_then_local(db, azure_stub)
    azure_stub.reply(reply)
    availability = InProcessAvailability()

    with pytest.raises(ContentFiltered) as caught:
        await generate_with_fallback(chosen, REQUEST, http=http, sleep=Sleeps(), availability=availability)

    assert len(azure_stub.requests) == 1  # not retried, and the local model was never asked
    assert (caught.value.stage, caught.value.categories) == (stage, categories)
    assert await availability.paused_for("azure-openai", chosen[0].model) is None  # not the model's fault


@pytest.mark.parametrize(
    ("break_it", "code"),
    [
        (lambda stub: stub.deployments.clear(), "DeploymentNotFound"),
        (lambda stub: setattr(stub, "api_key", "rotated-away"), "401"),
    ],
)
async def test_a_misconfigured_model_is_called_once_reported_and_the_job_falls_back(
    db: AsyncSession,
    http: httpx.AsyncClient,
    azure_stub: AzureOpenAIStub,
    break_it: Callable[[AzureOpenAIStub], object],
    code: str,
) -> None:
    chosen = await azure_then_local(db, azure_stub)
    break_it(azure_stub)
    reported: list[tuple[str, str]] = []

    async def on_misconfigured(candidate: Candidate, error: ProviderMisconfigured) -> None:
        reported.append((candidate.name, error.reason.split(":")[0]))

    outcome = await generate_with_fallback(
        chosen, REQUEST, http=http, sleep=Sleeps(), on_misconfigured=on_misconfigured
    )

    assert len(azure_stub.requests) == 1
    assert reported == [(chosen[0].name, code)]
    assert outcome.candidate.provider == "local" and outcome.retries == 0


# --- a long Retry-After pauses the model --------------------------------------------------------------


async def test_a_retry_after_of_a_day_falls_back_and_pauses_the_model_for_the_day(
    db: AsyncSession, http: httpx.AsyncClient, azure_stub: AzureOpenAIStub
) -> None:
    now = [1000.0]
    availability = InProcessAvailability(clock=lambda: now[0])
    chosen = await azure_then_local(db, azure_stub, availability)
    azure_stub.reply(replies.rate_limited(retry_after="86400"))
    sleeps = Sleeps()

    outcome = await generate_with_fallback(
        chosen, REQUEST, http=http, sleep=sleeps, availability=availability
    )

    assert outcome.candidate.provider == "local"
    assert (len(azure_stub.requests), sleeps.delays) == (1, [])  # not waited for, not retried
    assert await availability.paused_for("azure-openai", chosen[0].model) == 86400
    now[0] += 86000
    assert await availability.paused_for("azure-openai", chosen[0].model) == 400
    with pytest.raises(Exception, match="paused"):
        await candidates(
            db, None, f"azure-openai/{chosen[0].model}", "1024x1024", "standard", 1, availability=availability
        )


async def test_an_outage_the_provider_says_not_to_retry_still_counts_against_the_model(
    db: AsyncSession, http: httpx.AsyncClient, azure_stub: AzureOpenAIStub
) -> None:
    availability = InProcessAvailability(threshold=1, pause_seconds=30, clock=lambda: 0.0)
    chosen = await azure_then_local(db, azure_stub, availability)
    azure_stub.reply(replies.server_error(503, should_retry="false"))

    outcome = await generate_with_fallback(
        chosen, REQUEST, http=http, sleep=Sleeps(), availability=availability
    )

    assert outcome.candidate.provider == "local" and len(azure_stub.requests) == 1
    assert await availability.paused_for("azure-openai", chosen[0].model) == 30


async def test_a_short_circuit_breaker_pause_never_cuts_a_long_pause_short() -> None:
    availability = InProcessAvailability(threshold=1, pause_seconds=30, clock=lambda: 0.0)

    await availability.pause("azure-openai", "m", 3600)
    await availability.record_failure("azure-openai", "m")
    await availability.pause("azure-openai", "m", 10)

    assert await availability.paused_for("azure-openai", "m") == 3600


async def test_redis_pause_is_shared_and_only_lengthened(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    try:
        prefix = f"test:pause:{id(redis)}"
        api = RedisAvailability(redis, threshold=1, pause_seconds=30, prefix=prefix)
        worker = RedisAvailability(redis, threshold=1, pause_seconds=30, prefix=prefix)

        await worker.pause("azure-openai", "gpt-image-1.5", 86400)
        await worker.record_failure("azure-openai", "gpt-image-1.5")  # its 30 s must not replace the day
        await worker.pause("azure-openai", "gpt-image-1.5", 5)

        paused = await api.paused_for("azure-openai", "gpt-image-1.5")
        assert paused is not None and 86300 < paused <= 86400
    finally:
        await redis.aclose()
