"""The provider adapters: the local Pillow renderer, and Azure OpenAI against its strict loopback stub."""

from __future__ import annotations

import base64
import dataclasses
import io
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from PIL import Image

from donatello.providers import (
    ApiKeyHeader,
    ContentFiltered,
    ImageRequest,
    ImageResult,
    ProviderError,
    ProviderMisconfigured,
    ProviderRateLimited,
    ProviderRejected,
    ProviderTarget,
    ProviderTimeout,
    ProviderUnavailable,
    adapter_for,
)
from donatello.providers.azure_openai import deadline_seconds
from tests.support import azure_openai_stub as replies
from tests.support.azure_openai_stub import STUB_API_KEY, STUB_TOKEN, AzureOpenAIStub

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

TargetOf = Callable[[AzureOpenAIStub], ProviderTarget]


def request(
    prompt: str = "a lighthouse at dusk", *, size: str = "1024x1024", n: int = 1, **kw: Any
) -> ImageRequest:
    values: dict[str, Any] = {
        "prompt": prompt,
        "negative_prompt": None,
        "size": size,
        "quality": "standard",
        "style": None,
        "n": n,
        "seed": None,
    }
    values.update(kw)
    return ImageRequest(**values)


def local_target() -> ProviderTarget:
    return ProviderTarget("local", "pillow-sketch", "local://pillow", 30.0, 0, {}, None)


def azure_target(
    stub: AzureOpenAIStub,
    *,
    deployment: str = "gpt-image-1.5",
    timeout: float = 5.0,
    key: str = STUB_API_KEY,
    **configuration: object,
) -> ProviderTarget:
    return ProviderTarget(
        "azure-openai", deployment, stub.endpoint(deployment), timeout, 0, configuration, ApiKeyHeader(key)
    )


def dall_e_3(stub: AzureOpenAIStub, **configuration: object) -> ProviderTarget:
    dall_e = {"family": "dall-e-3", "api_version": "2024-10-21", **configuration}
    return dataclasses.replace(azure_target(stub, deployment="dall-e-3"), configuration=dall_e)


class EntraToken:
    kind = "managed-identity"

    def __init__(self, token: str = STUB_TOKEN) -> None:
        self.token = token

    async def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def contents(result: ImageResult) -> list[bytes]:
    return [image.read_bytes() for image in result.images]


def dimensions(png: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG"
        return image.size


# --- local -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", ["256x256", "512x512", "1024x1024", "1792x1024", "1024x1792"])
async def test_local_renders_a_png_of_the_requested_size(http: httpx.AsyncClient, size: str) -> None:
    result = await adapter_for("local", http=http).generate(local_target(), request(size=size))

    assert len(result.images) == 1
    assert result.images[0].read_bytes().startswith(PNG_MAGIC)
    assert dimensions(result.images[0].read_bytes()) == tuple(int(part) for part in size.split("x"))
    assert result.is_nsfw is False


async def test_local_is_deterministic_for_prompt_seed_and_size(http: httpx.AsyncClient) -> None:
    local = adapter_for("local", http=http)
    first = await local.generate(local_target(), request("a red fox", seed=7, size="512x512"))
    again = await local.generate(local_target(), request("a red fox", seed=7, size="512x512"))
    other_seed = await local.generate(local_target(), request("a red fox", seed=8, size="512x512"))
    other_prompt = await local.generate(local_target(), request("a blue whale", seed=7, size="512x512"))

    assert contents(first) == contents(again)
    assert contents(first) != contents(other_seed)
    assert contents(first) != contents(other_prompt)


async def test_local_colours_come_from_the_prompt(http: httpx.AsyncClient) -> None:
    local = adapter_for("local", http=http)
    fox = await local.generate(local_target(), request("a red fox", size="256x256"))
    whale = await local.generate(local_target(), request("a blue whale", size="256x256"))

    def top_left(png: bytes) -> object:
        with Image.open(io.BytesIO(png)) as image:
            return image.convert("RGB").getpixel((0, 0))

    assert top_left(fox.images[0].read_bytes()) != top_left(whale.images[0].read_bytes())


async def test_local_makes_n_different_images(http: httpx.AsyncClient) -> None:
    result = await adapter_for("local", http=http).generate(local_target(), request(n=3, size="256x256"))

    assert len(result.images) == 3
    assert len({image.sha256 for image in result.images}) == 3


async def test_local_refuses_a_size_it_cannot_render(http: httpx.AsyncClient) -> None:
    with pytest.raises(ProviderRejected) as caught:
        await adapter_for("local", http=http).generate(local_target(), request(size="333x333"))
    assert caught.value.retryable is False


def test_an_unknown_provider_has_no_adapter() -> None:
    with pytest.raises(ProviderRejected):
        adapter_for("stability", http=httpx.AsyncClient())


# --- azure-openai: what is sent -----------------------------------------------------------------------


async def test_gpt_image_two_wide_high_images_are_one_call_the_service_accepts_with_usage(
    http: httpx.AsyncClient, azure_stub: AzureOpenAIStub
) -> None:
    result = await adapter_for("azure-openai", http=http).generate(
        azure_target(azure_stub), request(size="1536x1024", quality="high", n=2, end_user="u-5f2c")
    )

    assert [image.read_bytes().startswith(PNG_MAGIC) for image in result.images] == [True, True]
    assert len(azure_stub.requests) == 1
    sent = azure_stub.requests[0]
    assert sent.path == "/openai/deployments/gpt-image-1.5/images/generations"
    assert sent.query == {"api-version": "2025-04-01-preview"}
    assert sent.json == {
        "prompt": "a lighthouse at dusk",
        "n": 2,
        "size": "1536x1024",
        "quality": "high",
        "output_format": "png",
        "user": "u-5f2c",
    }
    assert result.usage is not None
    assert (result.usage.output_image_tokens, result.usage.input_image_tokens) == (2 * 6208, 0)
    details = result.usage.raw["input_tokens_details"]
    assert isinstance(details, dict)
    assert result.usage.input_text_tokens == details["text_tokens"] > 0
    assert result.usage.raw["total_tokens"] == result.usage.input_text_tokens + 2 * 6208


@pytest.mark.parametrize(
    "usage",
    [None, {"input_tokens": 9}, {"input_tokens": 9, "output_tokens": "lots"}, {"output_tokens": -1}],
)
async def test_a_missing_or_unreadable_bill_is_no_usage_never_zero_tokens(
    http: httpx.AsyncClient, azure_stub: AzureOpenAIStub, usage: dict[str, object] | None
) -> None:
    body: dict[str, object] = {"created": 1, "data": [{"b64_json": base64.b64encode(replies.png()).decode()}]}
    if usage is not None:
        body["usage"] = usage
    azure_stub.reply(replies.Reply(body=body))

    result = await adapter_for("azure-openai", http=http).generate(azure_target(azure_stub), request())

    assert len(result.images) == 1 and result.usage is None


@pytest.mark.parametrize(
    ("asked", "sent"), [("standard", "medium"), ("hd", "high"), ("low", "low"), ("auto", "auto")]
)
async def test_gpt_image_takes_the_public_quality_words_as_its_own(
    http: httpx.AsyncClient, azure_stub: AzureOpenAIStub, asked: str, sent: str
) -> None:
    await adapter_for("azure-openai", http=http).generate(azure_target(azure_stub), request(quality=asked))

    assert azure_stub.requests[0].json["quality"] == sent


async def test_the_old_dall_e_3_body_is_refused_by_a_gpt_image_deployment(
    http: httpx.AsyncClient, azure_stub: AzureOpenAIStub
) -> None:
    """The stub is as strict as the service: the body the adapter used to send is a 400."""
    old_body = {
        "prompt": "a lighthouse",
        "n": 1,
        "size": "1024x1024",
        "quality": "hd",
        "response_format": "b64_json",
    }

    answer = await http.post(
        f"{azure_stub.endpoint('gpt-image-1.5')}/images/generations",
        params={"api-version": "2024-02-01"},
        json=old_body,
        headers={"api-key": STUB_API_KEY},
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "BadRequest"  # 2024-02-01 predates gpt-image

    answer = await http.post(
        f"{azure_stub.endpoint('gpt-image-1.5')}/images/generations",
        params={"api-version": "2025-04-01-preview"},
        json=old_body,
        headers={"api-key": STUB_API_KEY},
    )
    assert (answer.status_code, answer.json()) == (
        400,
        {
            "error": {
                "message": "Unknown parameter: 'response_format'.",
                "type": "invalid_request_error",
                "param": "response_format",
                "code": "unknown_parameter",
            }
        },
    )
    answer = await http.post(
        f"{azure_stub.endpoint('gpt-image-1.5')}/images/generations",
        params={"api-version": "2025-04-01-preview"},
        json={"prompt": "a lighthouse", "quality": "hd"},
        headers={"api-key": STUB_API_KEY},
    )
    assert (
        answer.json()["error"]["code"] == "invalid_value" and "'medium'" in answer.json()["error"]["message"]
    )


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({"prompt": "x", "style": "vivid"}, "style", "unknown_parameter"),
        ({"prompt": "x", "n": 11}, "n", "integer_above_max_value"),
        ({"prompt": "x", "size": "1792x1024"}, "size", "invalid_value"),
        ({"prompt": "x", "output_format": "webp"}, "output_format", "invalid_value"),
        ({"prompt": "x" * 32001}, "prompt", "string_above_max_length"),
        ({"n": 1}, "prompt", "missing_required_parameter"),
    ],
)
async def test_the_stub_refuses_what_gpt_image_refuses(
    http: httpx.AsyncClient, azure_stub: AzureOpenAIStub, body: dict[str, object], param: str, code: str
) -> None:
    answer = await http.post(
        f"{azure_stub.endpoint()}/images/generations",
        params={"api-version": "2025-04-01-preview"},
        json=body,
        headers={"api-key": STUB_API_KEY},
    )

    assert answer.status_code == 400
    assert (answer.json()["error"]["param"], answer.json()["error"]["code"]) == (param, code)


async def test_gpt_image_options_come_from_the_model_configuration(
    http: httpx.AsyncClient, azure_stub: AzureOpenAIStub
) -> None:
    target = azure_target(
        azure_stub, output_format="jpeg", output_compression=70, background="opaque", moderation="low"
    )

    result = await adapter_for("azure-openai", http=http).generate(target, request(size="1024x1536"))

    sent = azure_stub.requests[0].json
    assert (sent["output_format"], sent["output_compression"], sent["background"], sent["moderation"]) == (
        "jpeg",
        70,
        "opaque",
        "low",
    )
    assert "response_format" not in sent and "style" not in sent and "user" not in sent
    # the JPEG answer is kept as PNG, as every image is
    assert result.images[0].read_bytes().startswith(PNG_MAGIC)


async def test_a_bad_option_in_the_configuration_is_a_misconfigured_model_and_no_call(
    http: httpx.AsyncClient, azure_stub: AzureOpenAIStub
) -> None:
    with pytest.raises(ProviderMisconfigured, match="moderation"):
        await adapter_for("azure-openai", http=http).generate(
            azure_target(azure_stub, moderation="none"), request()
        )
    assert azure_stub.requests == []


async def test_a_size_the_family_does_not_offer_is_refused_before_any_call(
    http: httpx.AsyncClient, azure_stub: AzureOpenAIStub
) -> None:
    with pytest.raises(ProviderRejected, match="1536x1024"):
        await adapter_for("azure-openai", http=http).generate(
            azure_target(azure_stub), request(size="1792x1024")
        )
    assert azure_stub.requests == []


async def test_the_v1_path_names_the_deployment_in_the_body_and_sends_no_api_version(
    http: httpx.AsyncClient, azure_stub: AzureOpenAIStub
) -> None:
    target = ProviderTarget(
        "azure-openai", "gpt-image-2", azure_stub.v1_endpoint(), 5.0, 0, {}, ApiKeyHeader(STUB_API_KEY)
    )

    result = await adapter_for("azure-openai", http=http).generate(target, request(n=2))

    sent = azure_stub.requests[0]
    assert (sent.path, sent.query) == ("/openai/v1/images/generations", {})
    assert sent.json["model"] == "gpt-image-2" and sent.json["n"] == 2
    assert len(result.images) == 2


async def test_api_style_v1_from_the_resource_root_and_a_named_deployment(
    http: httpx.AsyncClient, azure_stub: AzureOpenAIStub
) -> None:
    target = ProviderTarget(
        "azure-openai",
        "catalogue-name",
        azure_stub.base_url,
        5.0,
        0,
        {"api_style": "v1", "deployment": "gpt-image-1-mini"},
        ApiKeyHeader(STUB_API_KEY),
    )

    await adapter_for("azure-openai", http=http).generate(target, request())

    assert azure_stub.requests[0].path == "/openai/v1/images/generations"
    assert azure_stub.requests[0].json["model"] == "gpt-image-1-mini"


async def test_dall_e_3_keeps_its_body_one_image_per_call_with_revised_prompt_and_safety(
    http: httpx.AsyncClient, azure_stub: AzureOpenAIStub
) -> None:
    azure_stub.reply(replies.success_b64(revised_prompt="A lighthouse, oil painting"))

    result = await adapter_for("azure-openai", http=http).generate(
        dall_e_3(azure_stub), request(quality="hd", style="vivid", negative_prompt="people", n=2)
    )

    assert [img.read_bytes().startswith(PNG_MAGIC) for img in result.images] == [True, True]
    assert result.revised_prompt == "A lighthouse, oil painting"
    assert result.usage is None  # DALL-E 3 is priced per image
    assert result.is_nsfw is False
    assert result.safety is not None and result.safety["max_severity"] == "safe"
    assert len(azure_stub.requests) == 2
    sent = azure_stub.requests[0]
    assert sent.path == "/openai/deployments/dall-e-3/images/generations"
    assert sent.query == {"api-version": "2024-10-21"}
    assert sent.headers["api-key"] == STUB_API_KEY
    assert (sent.json["quality"], sent.json["style"], sent.json["n"]) == ("hd", "vivid", 1)
    assert sent.json["response_format"] == "b64_json"
    assert sent.json["prompt"].startswith("a lighthouse at dusk") and "people" in sent.json["prompt"]


async def test_dall_e_3_url_results_are_downloaded(
    http: httpx.AsyncClient, azure_stub: AzureOpenAIStub
) -> None:
    result = await adapter_for("azure-openai", http=http).generate(
        dall_e_3(azure_stub, response_format="url"), request()
    )

    assert azure_stub.downloads == ["image-0.png"]
    assert dimensions(result.images[0].read_bytes()) == (8, 8)
    assert azure_stub.requests[0].json["response_format"] == "url"


async def test_bearer_auth_sends_the_entra_token(
    http: httpx.AsyncClient, azure_stub: AzureOpenAIStub
) -> None:
    target = dataclasses.replace(azure_target(azure_stub), credential=EntraToken())
    await adapter_for("azure-openai", http=http).generate(target, request())

    sent = azure_stub.requests[0].headers
    assert sent["authorization"] == f"Bearer {STUB_TOKEN}"
    assert "api-key" not in sent


# --- azure-openai: what comes back ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target_of", "code"),
    [
        (lambda stub: azure_target(stub, key="a-wrong-key"), "401"),
        (
            lambda stub: dataclasses.replace(azure_target(stub), credential=EntraToken("expired")),
            "PermissionDenied",
        ),
        (lambda stub: dataclasses.replace(azure_target(stub), credential=None), "401"),
        (lambda stub: azure_target(stub, deployment="no-such-deployment"), "DeploymentNotFound"),
    ],
)
async def test_wrong_credentials_and_missing_deployments_are_a_misconfigured_model(
    http: httpx.AsyncClient, azure_stub: AzureOpenAIStub, target_of: TargetOf, code: str
) -> None:
    with pytest.raises(ProviderMisconfigured) as caught:
        await adapter_for("azure-openai", http=http).generate(target_of(azure_stub), request())

    assert caught.value.retryable is False
    assert caught.value.reason.startswith(f"{code}: ")
    assert STUB_API_KEY not in caught.value.reason and "a-wrong-key" not in caught.value.reason
    assert len(azure_stub.requests) == 1


@pytest.mark.parametrize(
    ("target_of", "reason"),
    [
        (
            lambda stub: azure_target(stub, family="dall-e-3"),
            "unknown_parameter: Unknown parameter: 'response_format'.",
        ),
        (lambda stub: azure_target(stub, api_version="2024-02-01"), "BadRequest: API version not supported"),
    ],
)
async def test_a_deployment_that_refuses_the_configured_family_s_body_is_a_misconfigured_model(
    http: httpx.AsyncClient, azure_stub: AzureOpenAIStub, target_of: TargetOf, reason: str
) -> None:
    """A gpt-image deployment configured as DALL-E 3 (or with an API version that predates it) is not
    a bad request to retry elsewhere: the model is wrong until someone fixes its configuration."""
    with pytest.raises(ProviderMisconfigured) as caught:
        await adapter_for("azure-openai", http=http).generate(target_of(azure_stub), request())

    assert caught.value.reason == reason
    assert len(azure_stub.requests) == 1


@pytest.mark.parametrize("reply", [replies.permission_denied(), replies.deployment_not_found()])
async def test_a_revoked_permission_or_a_deleted_deployment_is_a_misconfigured_model(
    http: httpx.AsyncClient, azure_stub: AzureOpenAIStub, reply: replies.Reply
) -> None:
    azure_stub.reply(reply)

    with pytest.raises(ProviderMisconfigured) as caught:
        await adapter_for("azure-openai", http=http).generate(azure_target(azure_stub), request())

    assert caught.value.status_code == reply.status


async def test_a_prompt_too_long_for_the_model_is_a_rejected_request_not_a_broken_model(
    http: httpx.AsyncClient, azure_stub: AzureOpenAIStub
) -> None:
    with pytest.raises(ProviderRejected) as caught:
        await adapter_for("azure-openai", http=http).generate(
            azure_target(azure_stub), request("a lighthouse " * 3000)
        )

    assert "maximum length 32000" in caught.value.reason  # not ProviderMisconfigured: the model is fine


async def test_the_deployments_path_without_an_api_version_is_a_400(
    http: httpx.AsyncClient, azure_stub: AzureOpenAIStub
) -> None:
    answer = await http.post(
        f"{azure_stub.endpoint()}/images/generations", json={"prompt": "x"}, headers={"api-key": STUB_API_KEY}
    )

    assert answer.status_code == 400 and "api-version" in answer.json()["error"]["message"]


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (replies.rate_limited(retry_after_ms="1500", retry_after="2"), 1.5),
        (replies.rate_limited(retry_after="7"), 7.0),
        (replies.rate_limited(retry_after="Wed, 21 Oct 2015 07:28:00 GMT"), 0.0),
        (replies.rate_limited(), None),
    ],
)
async def test_429_is_retryable_and_carries_retry_after(
    http: httpx.AsyncClient, azure_stub: AzureOpenAIStub, reply: replies.Reply, expected: float | None
) -> None:
    azure_stub.reply(reply)

    with pytest.raises(ProviderRateLimited) as caught:
        await adapter_for("azure-openai", http=http).generate(azure_target(azure_stub), request())

    assert caught.value.retryable is True
    assert caught.value.retry_after_seconds == expected


@pytest.mark.parametrize(
    ("reply", "kind", "retryable"),
    [
        (replies.server_error(500), ProviderUnavailable, True),
        (replies.server_error(503), ProviderUnavailable, True),
        (replies.server_error(503, should_retry="false"), ProviderUnavailable, False),
        (replies.conflict(), ProviderUnavailable, True),
        (replies.insufficient_quota(), ProviderRateLimited, False),
        (replies.empty_data(), ProviderUnavailable, True),
    ],
)
async def test_which_failures_may_be_retried(
    http: httpx.AsyncClient,
    azure_stub: AzureOpenAIStub,
    reply: replies.Reply,
    kind: type[ProviderError],
    retryable: bool,
) -> None:
    azure_stub.reply(reply)

    with pytest.raises(kind) as caught:
        await adapter_for("azure-openai", http=http).generate(azure_target(azure_stub), request())

    assert caught.value.retryable is retryable


async def test_a_502_html_page_is_a_retryable_outage_whose_page_stays_out_of_the_reason(
    http: httpx.AsyncClient, azure_stub: AzureOpenAIStub
) -> None:
    azure_stub.reply(replies.bad_gateway_html())

    with pytest.raises(ProviderUnavailable) as caught:
        await adapter_for("azure-openai", http=http).generate(azure_target(azure_stub), request())

    assert (caught.value.retryable, caught.value.status_code) == (True, 502)
    assert caught.value.reason == "HTTP 502 with a text/html body, not the API's JSON"
    assert "<" not in caught.value.reason and "Bad Gateway" not in caught.value.reason


async def test_a_slow_answer_is_a_retryable_timeout(
    http: httpx.AsyncClient, azure_stub: AzureOpenAIStub
) -> None:
    azure_stub.reply(replies.slow(1.0))

    with pytest.raises(ProviderTimeout) as caught:
        await adapter_for("azure-openai", http=http).generate(
            azure_target(azure_stub, timeout=0.1), request()
        )

    assert caught.value.retryable is True


async def test_a_trickling_body_times_out_at_the_deadline(
    http: httpx.AsyncClient, azure_stub: AzureOpenAIStub
) -> None:
    """Each piece arrives well within httpx's per-read timeout; the whole answer takes seconds."""
    azure_stub.reply(replies.trickle(0.1))
    started = time.monotonic()

    with pytest.raises(ProviderTimeout, match=r"within 0\.5s"):
        await adapter_for("azure-openai", http=http).generate(
            azure_target(azure_stub, timeout=0.5), request()
        )

    assert 0.5 <= time.monotonic() - started < 1.5


def test_gpt_image_models_left_at_the_catalogue_default_get_three_minutes() -> None:
    stub_like = "https://example.openai.azure.com/openai/deployments/d"
    gpt_image = ProviderTarget("azure-openai", "d", stub_like, 60.0, 0, {}, None)
    chosen = ProviderTarget("azure-openai", "d", stub_like, 90.0, 0, {}, None)
    dalle = ProviderTarget("azure-openai", "d", stub_like, 60.0, 0, {"family": "dall-e-3"}, None)

    assert [deadline_seconds(t) for t in (gpt_image, chosen, dalle)] == [180.0, 90.0, 60.0]


@pytest.mark.parametrize(
    ("reply", "stage", "categories"),
    [
        (replies.moderation_blocked("violence", "self-harm"), "prompt", ["self-harm", "violence"]),
        (replies.content_filter("high", "sexual"), "prompt", ["sexual"]),
        (replies.output_filtered(), "output", []),
        (replies.flagged_output("violence"), "output", ["violence"]),
    ],
)
async def test_safety_refusals_are_final_with_their_stage_and_categories(
    http: httpx.AsyncClient,
    azure_stub: AzureOpenAIStub,
    reply: replies.Reply,
    stage: str,
    categories: list[str],
) -> None:
    azure_stub.reply(reply)

    with pytest.raises(ContentFiltered) as caught:
        await adapter_for("azure-openai", http=http).generate(azure_target(azure_stub), request())

    error = caught.value
    assert (error.retryable, error.content_filtered) == (False, True)
    assert (error.stage, error.categories) == (stage, categories)
    assert "a lighthouse" not in error.reason  # never the prompt


async def test_azure_s_inner_filter_results_are_kept_and_mark_the_refusal_nsfw(
    http: httpx.AsyncClient, azure_stub: AzureOpenAIStub
) -> None:
    azure_stub.reply(replies.content_filter("high"))

    with pytest.raises(ContentFiltered) as caught:
        await adapter_for("azure-openai", http=http).generate(azure_target(azure_stub), request())

    error = caught.value
    assert error.is_nsfw is True and "safety system" in error.reason
    assert error.safety is not None and error.safety["max_severity"] == "high"
    categories = error.safety["categories"]
    assert isinstance(categories, dict)
    assert categories["prompt.sexual"] == {"severity": "high", "filtered": True}


async def test_medium_severity_in_a_successful_image_marks_it_nsfw(
    http: httpx.AsyncClient, azure_stub: AzureOpenAIStub
) -> None:
    flagged = dict(replies.SAFE, violence={"filtered": False, "severity": "medium"})
    azure_stub.reply(replies.success_b64(content_filter_results=flagged))

    result = await adapter_for("azure-openai", http=http).generate(azure_target(azure_stub), request())

    assert result.is_nsfw is True
    assert result.safety is not None and result.safety["max_severity"] == "medium"


async def test_an_unreachable_endpoint_is_retryable(http: httpx.AsyncClient) -> None:
    target = ProviderTarget("azure-openai", "x", "http://127.0.0.1:9/openai/deployments/x", 2.0, 0, {}, None)

    with pytest.raises(ProviderUnavailable) as caught:
        await adapter_for("azure-openai", http=http).generate(target, request())

    assert caught.value.retryable is True
