"""The aws-bedrock adapter against the strict Bedrock stub: signed calls, native bodies, the vendor's
refusals read the way the rest of the product needs them."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from PIL import Image

from donatello.config import Settings
from donatello.providers.bedrock import BedrockProvider
from donatello.providers.cloud_credentials import AwsKeys
from donatello.providers.contract import ImageRequest, ProviderTarget
from donatello.providers.credentials import ModelCredentials
from donatello.providers.errors import (
    ContentFiltered,
    ProviderMisconfigured,
    ProviderRateLimited,
    ProviderRejected,
)
from tests.support import bedrock_stub as stub_replies
from tests.support.bedrock_stub import CREDENTIAL, SECRET_VARIABLE, BedrockStub

NOVA = "amazon.nova-canvas-v1:0"
CORE = "stability.stable-image-core-v1:1"
SD35 = "stability.sd3-5-large-v1:0"


async def target(
    settings: Settings, stub: BedrockStub, model_id: str = NOVA, **configuration: Any
) -> ProviderTarget:
    credentials = ModelCredentials(settings)
    try:
        keys = await credentials.resolve(dict(CREDENTIAL))
    finally:
        await credentials.aclose()
    return ProviderTarget(
        provider="aws-bedrock",
        model="canvas",
        endpoint=stub.endpoint,
        timeout_seconds=5,
        max_retries=0,
        configuration={"model_id": model_id, "region": stub.region, **configuration},
        credential=keys,
    )


def ask(**changes: Any) -> ImageRequest:
    values: dict[str, Any] = {
        "prompt": "a kelpie herding ducks",
        "negative_prompt": None,
        "size": "1024x1024",
        "quality": "standard",
        "style": None,
        "n": 1,
        "seed": None,
    }
    return ImageRequest(**(values | changes))


async def test_nova_canvas_gets_the_negative_prompt_and_seed_natively_and_several_images_in_one_call(
    http: httpx.AsyncClient, settings: Settings, bedrock: BedrockStub
) -> None:
    result = await BedrockProvider(http).generate(
        await target(settings, bedrock, cfg_scale=7.5),
        ask(negative_prompt="sheep", seed=1234, n=3, size="1536x1024", quality="hd"),
    )

    [call] = bedrock.requests  # three images, one signed call
    assert call.json == {
        "taskType": "TEXT_IMAGE",
        "textToImageParams": {"text": "a kelpie herding ducks", "negativeText": "sheep"},
        "imageGenerationConfig": {
            "numberOfImages": 3,
            "width": 1536,
            "height": 1024,
            "quality": "premium",
            "seed": 1234,
            "cfgScale": 7.5,
        },
    }
    assert call.headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIASTUBEXAMPLE00001/")
    assert "/ap-southeast-2/bedrock/aws4_request" in call.headers["authorization"]
    assert [Image.open(image.path).size for image in result.images] == [(1536, 1024)] * 3
    assert result.usage is None  # priced per image


@pytest.mark.parametrize(("model_id", "mode"), [(SD35, {"mode": "text-to-image"}), (CORE, {})])
async def test_stability_gets_an_aspect_ratio_negative_prompt_and_seed_one_image_per_call(
    http: httpx.AsyncClient, settings: Settings, bedrock: BedrockStub, model_id: str, mode: dict[str, str]
) -> None:
    result = await BedrockProvider(http).generate(
        await target(settings, bedrock, model_id), ask(negative_prompt="rain", seed=99, n=2, size="1792x1024")
    )

    assert [call.model_id for call in bedrock.requests] == [model_id, model_id]
    assert bedrock.requests[0].json == {
        "prompt": "a kelpie herding ducks",
        "aspect_ratio": "16:9",
        "output_format": "png",
        "negative_prompt": "rain",
        "seed": 99,
        **mode,
    }
    assert [Image.open(image.path).size for image in result.images] == [(1344, 768)] * 2


async def test_the_stub_refuses_what_bedrock_refuses(http: httpx.AsyncClient, bedrock: BedrockStub) -> None:
    keys = AwsKeys("AKIASTUBEXAMPLE00001", "stub/secret/K7MDENG+bPxRfiCYEXAMPLEKEY")
    url = f"{bedrock.endpoint}/model/amazon.nova-canvas-v1%3A0/invoke"
    good = b'{"taskType":"TEXT_IMAGE","textToImageParams":{"text":"x"}}'

    async def send(body: bytes, signed_body: bytes | None = None, **override: str) -> httpx.Response:
        headers = keys.signed(
            "POST", url, signed_body or body, {"content-type": "application/json"}, service="bedrock",
            region=override.get("region", bedrock.region),
        )  # fmt: skip
        return await http.post(url, content=body, headers=headers)

    tampered = await send(b'{"taskType":"TEXT_IMAGE","textToImageParams":{"text":"y"}}', signed_body=good)
    wrong_region = await send(good, region="us-east-1")
    unsigned = await http.post(url, content=good, headers={"content-type": "application/json"})
    too_many = await send(
        b'{"taskType":"TEXT_IMAGE","textToImageParams":{"text":"x"},"imageGenerationConfig":{"numberOfImages":6}}'
    )
    odd_size = await send(
        b'{"taskType":"TEXT_IMAGE","textToImageParams":{"text":"x"},'
        b'"imageGenerationConfig":{"width":1000,"height":1000}}'
    )
    accepted = await send(good)

    assert (tampered.status_code, tampered.headers["x-amzn-errortype"].split(":")[0]) == (
        403,
        "InvalidSignatureException",
    )
    assert wrong_region.status_code == 403 and unsigned.status_code == 403
    assert too_many.status_code == 400 and "numberOfImages" in too_many.json()["message"]
    assert odd_size.status_code == 400 and "divisible by 16" in odd_size.json()["message"]
    assert accepted.status_code == 200 and len(accepted.json()["images"]) == 1


@pytest.mark.parametrize(
    ("reply", "stage"),
    [(stub_replies.prompt_blocked(), "prompt"), (stub_replies.output_blocked(), "output")],
)
async def test_nova_canvas_content_filters_are_final_safety_refusals(
    http: httpx.AsyncClient, settings: Settings, bedrock: BedrockStub, reply: stub_replies.Reply, stage: str
) -> None:
    bedrock.reply(reply)

    with pytest.raises(ContentFiltered) as refused:
        await BedrockProvider(http).generate(await target(settings, bedrock), ask())

    assert refused.value.stage == stage and not refused.value.retryable
    assert refused.value.categories == ["content_filter"]


@pytest.mark.parametrize(
    ("reason", "stage"), [("Filter reason: prompt", "prompt"), ("Filter reason: output image", "output")]
)
async def test_stability_finish_reasons_are_final_safety_refusals(
    http: httpx.AsyncClient, settings: Settings, bedrock: BedrockStub, reason: str, stage: str
) -> None:
    bedrock.reply(stub_replies.stability_filtered(reason))

    with pytest.raises(ContentFiltered) as refused:
        await BedrockProvider(http).generate(await target(settings, bedrock, CORE), ask())

    assert refused.value.stage == stage and reason in refused.value.reason


async def test_a_wrong_secret_an_unknown_key_and_no_model_access_are_a_misconfigured_model(
    http: httpx.AsyncClient, settings: Settings, bedrock: BedrockStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    bedrock.reply(stub_replies.access_denied())
    with pytest.raises(ProviderMisconfigured) as denied:
        await BedrockProvider(http).generate(await target(settings, bedrock), ask())
    monkeypatch.setenv(SECRET_VARIABLE, "not-the-secret")
    with pytest.raises(ProviderMisconfigured) as wrong_secret:
        await BedrockProvider(http).generate(await target(settings, bedrock), ask())
    bedrock.keys.clear()
    with pytest.raises(ProviderMisconfigured) as unknown_key:
        await BedrockProvider(http).generate(await target(settings, bedrock), ask())

    assert (denied.value.status_code, denied.value.reason.split(":")[0]) == (403, "AccessDeniedException")
    assert wrong_secret.value.reason.startswith("InvalidSignatureException: The request signature")
    assert unknown_key.value.reason.startswith("UnrecognizedClientException")
    assert "not-the-secret" not in wrong_secret.value.reason


async def test_throttling_is_retryable_after_the_wait_bedrock_asks(
    http: httpx.AsyncClient, settings: Settings, bedrock: BedrockStub
) -> None:
    bedrock.reply(stub_replies.throttled(retry_after="3"))

    with pytest.raises(ProviderRateLimited) as limited:
        await BedrockProvider(http).generate(await target(settings, bedrock), ask())

    assert limited.value.retryable and limited.value.retry_after_seconds == 3.0


async def test_what_nova_canvas_cannot_take_is_refused_before_any_call(
    http: httpx.AsyncClient, settings: Settings, bedrock: BedrockStub
) -> None:
    adapter = BedrockProvider(http)
    nova = await target(settings, bedrock)

    for request in (ask(seed=900_000_000), ask(prompt="p" * 1025), ask(size="256x256")):
        with pytest.raises(ProviderRejected):
            await adapter.generate(nova, request)
    with pytest.raises(ProviderMisconfigured):
        await adapter.generate(await target(settings, bedrock, "meta.llama3-8b-instruct-v1:0"), ask())

    assert bedrock.requests == []
