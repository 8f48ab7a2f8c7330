"""The provider adapters: the local Pillow renderer, and Azure OpenAI against a loopback stub."""

from __future__ import annotations

import dataclasses
import io

import httpx
import pytest
from PIL import Image

from donatello.providers import (
    ApiKeyHeader,
    ContentFiltered,
    ImageRequest,
    ProviderMisconfigured,
    ProviderRateLimited,
    ProviderRejected,
    ProviderTarget,
    ProviderTimeout,
    ProviderUnavailable,
    adapter_for,
)
from tests.support import azure_openai_stub as replies
from tests.support.azure_openai_stub import AzureOpenAIStub

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def request(
    prompt: str = "a lighthouse at dusk", *, size: str = "1024x1024", n: int = 1, **kw: object
) -> ImageRequest:
    values: dict[str, object] = {
        "prompt": prompt,
        "negative_prompt": None,
        "size": size,
        "quality": "standard",
        "style": None,
        "n": n,
        "seed": None,
    }
    values.update(kw)
    return ImageRequest(**values)  # type: ignore[arg-type]


def local_target() -> ProviderTarget:
    return ProviderTarget("local", "pillow-sketch", "local://pillow", 30.0, 0, {}, None)


def azure_target(stub: AzureOpenAIStub, *, timeout: float = 5.0, **configuration: object) -> ProviderTarget:
    return ProviderTarget(
        "azure-openai", "dall-e-3", stub.endpoint(), timeout, 0, configuration, ApiKeyHeader("stub-key")
    )


class EntraToken:
    kind = "managed-identity"

    async def headers(self) -> dict[str, str]:
        return {"Authorization": "Bearer stub-key"}


def dimensions(png: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG"
        return image.size


# --- local -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", ["256x256", "512x512", "1024x1024", "1792x1024", "1024x1792"])
async def test_local_renders_a_png_of_the_requested_size(http: httpx.AsyncClient, size: str) -> None:
    result = await adapter_for("local", http=http).generate(local_target(), request(size=size))

    assert len(result.images) == 1
    assert result.images[0].startswith(PNG_MAGIC)
    assert dimensions(result.images[0]) == tuple(int(part) for part in size.split("x"))
    assert result.is_nsfw is False


async def test_local_is_deterministic_for_prompt_seed_and_size(http: httpx.AsyncClient) -> None:
    local = adapter_for("local", http=http)
    first = await local.generate(local_target(), request("a red fox", seed=7, size="512x512"))
    again = await local.generate(local_target(), request("a red fox", seed=7, size="512x512"))
    other_seed = await local.generate(local_target(), request("a red fox", seed=8, size="512x512"))
    other_prompt = await local.generate(local_target(), request("a blue whale", seed=7, size="512x512"))

    assert first.images == again.images
    assert first.images != other_seed.images
    assert first.images != other_prompt.images


async def test_local_colours_come_from_the_prompt(http: httpx.AsyncClient) -> None:
    local = adapter_for("local", http=http)
    fox = await local.generate(local_target(), request("a red fox", size="256x256"))
    whale = await local.generate(local_target(), request("a blue whale", size="256x256"))

    def top_left(png: bytes) -> object:
        with Image.open(io.BytesIO(png)) as image:
            return image.convert("RGB").getpixel((0, 0))

    assert top_left(fox.images[0]) != top_left(whale.images[0])


async def test_local_makes_n_different_images(http: httpx.AsyncClient) -> None:
    result = await adapter_for("local", http=http).generate(local_target(), request(n=3, size="256x256"))

    assert len(result.images) == 3
    assert len(set(result.images)) == 3


async def test_local_refuses_a_size_it_cannot_render(http: httpx.AsyncClient) -> None:
    with pytest.raises(ProviderRejected) as caught:
        await adapter_for("local", http=http).generate(local_target(), request(size="333x333"))
    assert caught.value.retryable is False


def test_an_unknown_provider_has_no_adapter() -> None:
    with pytest.raises(ProviderRejected):
        adapter_for("stability", http=httpx.AsyncClient())


# --- azure-openai ------------------------------------------------------------------------------------


async def test_azure_b64_success_returns_pngs_revised_prompt_and_safety(
    http: httpx.AsyncClient, azure_stub: AzureOpenAIStub
) -> None:
    azure_stub.reply(replies.success_b64(revised_prompt="A lighthouse, oil painting"))

    result = await adapter_for("azure-openai", http=http).generate(
        azure_target(azure_stub, api_version="2024-10-21"),
        request(quality="hd", style="vivid", negative_prompt="people"),
    )

    assert [img.startswith(PNG_MAGIC) for img in result.images] == [True]
    assert result.revised_prompt == "A lighthouse, oil painting"
    assert result.is_nsfw is False
    assert result.safety is not None and result.safety["max_severity"] == "safe"
    sent = azure_stub.requests[0]
    assert sent.path == "/openai/deployments/dall-e-3/images/generations"
    assert sent.query == {"api-version": "2024-10-21"}
    assert sent.headers["api-key"] == "stub-key"
    assert sent.json["size"] == "1024x1024"
    assert (sent.json["quality"], sent.json["style"], sent.json["n"]) == ("hd", "vivid", 1)
    assert sent.json["response_format"] == "b64_json"
    assert sent.json["prompt"].startswith("a lighthouse at dusk") and "people" in sent.json["prompt"]


async def test_azure_bearer_auth_sends_the_entra_token(
    http: httpx.AsyncClient, azure_stub: AzureOpenAIStub
) -> None:
    target = dataclasses.replace(azure_target(azure_stub), credential=EntraToken())
    await adapter_for("azure-openai", http=http).generate(target, request())

    sent = azure_stub.requests[0].headers
    assert sent["authorization"] == "Bearer stub-key"
    assert "api-key" not in sent


async def test_azure_url_results_are_downloaded(http: httpx.AsyncClient, azure_stub: AzureOpenAIStub) -> None:
    azure_stub.reply(replies.success_url())

    result = await adapter_for("azure-openai", http=http).generate(
        azure_target(azure_stub, response_format="url"), request()
    )

    assert azure_stub.downloads == ["image-0.png"]
    assert dimensions(result.images[0]) == (8, 8)
    assert azure_stub.requests[0].json["response_format"] == "url"


async def test_azure_n_above_the_per_call_limit_is_split_into_calls(
    http: httpx.AsyncClient, azure_stub: AzureOpenAIStub
) -> None:
    result = await adapter_for("azure-openai", http=http).generate(azure_target(azure_stub), request(n=3))

    assert len(result.images) == 3
    assert [r.json["n"] for r in azure_stub.requests] == [1, 1, 1]


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (replies.rate_limited(retry_after_ms="1500"), 1.5),
        (replies.rate_limited(retry_after="7"), 7.0),
        (replies.rate_limited(), None),
    ],
)
async def test_azure_429_is_retryable_and_carries_retry_after(
    http: httpx.AsyncClient, azure_stub: AzureOpenAIStub, reply: replies.Reply, expected: float | None
) -> None:
    azure_stub.reply(reply)

    with pytest.raises(ProviderRateLimited) as caught:
        await adapter_for("azure-openai", http=http).generate(azure_target(azure_stub), request())

    assert caught.value.retryable is True
    assert caught.value.retry_after_seconds == expected


@pytest.mark.parametrize("status", [500, 503])
async def test_azure_5xx_is_a_retryable_unavailability(
    http: httpx.AsyncClient, azure_stub: AzureOpenAIStub, status: int
) -> None:
    azure_stub.reply(replies.server_error(status))

    with pytest.raises(ProviderUnavailable) as caught:
        await adapter_for("azure-openai", http=http).generate(azure_target(azure_stub), request())

    assert caught.value.retryable is True
    assert caught.value.status_code == status


async def test_azure_slow_answer_is_a_retryable_timeout(
    http: httpx.AsyncClient, azure_stub: AzureOpenAIStub
) -> None:
    azure_stub.reply(replies.slow(1.0))

    with pytest.raises(ProviderTimeout) as caught:
        await adapter_for("azure-openai", http=http).generate(
            azure_target(azure_stub, timeout=0.1), request()
        )

    assert caught.value.retryable is True


async def test_azure_content_filter_is_final_and_reports_safety(
    http: httpx.AsyncClient, azure_stub: AzureOpenAIStub
) -> None:
    azure_stub.reply(replies.content_filter("high"))

    with pytest.raises(ContentFiltered) as caught:
        await adapter_for("azure-openai", http=http).generate(azure_target(azure_stub), request())

    error = caught.value
    assert (error.retryable, error.content_filtered, error.is_nsfw) == (False, True, True)
    assert "safety system" in error.reason
    assert error.safety is not None
    assert error.safety["max_severity"] == "high"
    assert error.safety["categories"]["prompt.sexual"] == {"severity": "high", "filtered": True}  # type: ignore[index]


async def test_azure_medium_severity_in_a_successful_image_marks_it_nsfw(
    http: httpx.AsyncClient, azure_stub: AzureOpenAIStub
) -> None:
    flagged = dict(replies.SAFE, violence={"filtered": False, "severity": "medium"})
    azure_stub.reply(replies.success_b64(content_filter_results=flagged))

    result = await adapter_for("azure-openai", http=http).generate(azure_target(azure_stub), request())

    assert result.is_nsfw is True
    assert result.safety is not None and result.safety["max_severity"] == "medium"


async def test_azure_401_is_a_misconfigured_model_without_retry(
    http: httpx.AsyncClient, azure_stub: AzureOpenAIStub
) -> None:
    azure_stub.reply(replies.Reply(status=401, body={"error": {"code": "401", "message": "Access denied"}}))

    with pytest.raises(ProviderMisconfigured) as caught:
        await adapter_for("azure-openai", http=http).generate(azure_target(azure_stub), request())

    assert (caught.value.retryable, caught.value.reason) == (False, "Access denied")


async def test_azure_unreachable_endpoint_is_retryable(http: httpx.AsyncClient) -> None:
    target = ProviderTarget(
        "azure-openai", "dall-e-3", "http://127.0.0.1:9/openai/deployments/x", 2.0, 0, {}, None
    )

    with pytest.raises(ProviderUnavailable) as caught:
        await adapter_for("azure-openai", http=http).generate(target, request())

    assert caught.value.retryable is True
