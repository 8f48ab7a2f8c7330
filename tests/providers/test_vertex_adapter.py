"""The google-vertex adapter against the strict Vertex AI stub and its Google token endpoint: a service
account's token obtained through google-auth, the generateContent body, image-token usage, and the
vendor's refusals read the way the product needs them."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from donatello.config import Settings
from donatello.providers.contract import ImageRequest, ProviderTarget
from donatello.providers.credentials import ModelCredentials
from donatello.providers.errors import (
    ContentFiltered,
    CredentialUnavailable,
    ProviderMisconfigured,
    ProviderRateLimited,
    ProviderRejected,
)
from donatello.providers.vertex import VertexGeminiProvider
from tests.support import vertex_stub as replies
from tests.support.vertex_stub import CREDENTIAL, LOCATION, PROJECT, VertexStub

MODEL = "gemini-2.5-flash-image"


async def target(
    settings: Settings,
    stub: VertexStub,
    credential: dict[str, Any] | None = None,
    credentials: ModelCredentials | None = None,
    **configuration: Any,
) -> ProviderTarget:
    source = credentials or ModelCredentials(settings)
    try:
        bearer = await source.resolve(dict(credential or CREDENTIAL))
    finally:
        if credentials is None:
            await source.aclose()
    return ProviderTarget(
        provider="google-vertex",
        model=MODEL,
        endpoint=stub.endpoint,
        timeout_seconds=5,
        max_retries=0,
        configuration={"project": PROJECT, "location": LOCATION, **configuration},
        credential=bearer,
    )


def ask(**changes: Any) -> ImageRequest:
    values: dict[str, Any] = {
        "prompt": "a lyrebird mimicking a camera shutter",
        "negative_prompt": None,
        "size": "1024x1024",
        "quality": "standard",
        "style": None,
        "n": 1,
        "seed": None,
    }
    return ImageRequest(**(values | changes))


async def test_a_service_account_token_the_body_and_the_image_token_bill(
    http: httpx.AsyncClient, settings: Settings, vertex: VertexStub, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    result = await VertexGeminiProvider(http).generate(
        await target(settings, vertex), ask(size="1536x1024", seed=77, n=2)
    )

    assert len(vertex.grants) == 1  # one token for both calls
    first, second = vertex.requests
    assert first.path == (
        f"/v1/projects/{PROJECT}/locations/{LOCATION}/publishers/google/models/{MODEL}:generateContent"
    )
    assert first.headers["authorization"].startswith("Bearer ya29.stub-")
    assert first.json == {
        "contents": [{"role": "user", "parts": [{"text": "a lyrebird mimicking a camera shutter"}]}],
        "generationConfig": {
            "responseModalities": ["IMAGE"],
            "imageConfig": {"aspectRatio": "3:2"},
            "seed": 77,
        },
    }
    assert second.json == first.json
    assert [Image.open(image.path).size for image in result.images] == [(1248, 832)] * 2
    assert result.usage is not None
    assert (result.usage.input_text_tokens, result.usage.output_image_tokens) == (2 * 9, 2 * 1290)
    calls: Any = result.usage.raw["calls"]
    assert calls[0]["candidatesTokensDetails"] == [{"modality": "IMAGE", "tokenCount": 1290}]


async def test_a_negative_prompt_is_refused_before_any_call(
    http: httpx.AsyncClient, settings: Settings, vertex: VertexStub
) -> None:
    with pytest.raises(ProviderRejected) as refused:
        await VertexGeminiProvider(http).generate(await target(settings, vertex), ask(negative_prompt="blur"))

    assert "no negative prompt" in refused.value.reason and vertex.requests == []


async def test_the_stub_refuses_fields_generate_content_does_not_have(
    http: httpx.AsyncClient, settings: Settings, vertex: VertexStub
) -> None:
    vertex_target = await target(settings, vertex)
    assert vertex_target.credential is not None, "the Vertex target signs its calls"
    bearer = await vertex_target.credential.headers()
    url = f"{vertex.endpoint}/v1/projects/{PROJECT}/locations/{LOCATION}/publishers/google/models/{MODEL}:generateContent"
    contents = [{"role": "user", "parts": [{"text": "x"}]}]

    negative = await http.post(url, headers=bearer, json={"contents": contents, "negativePrompt": "y"})
    ratio = await http.post(
        url,
        headers=bearer,
        json={
            "contents": contents,
            "generationConfig": {"responseModalities": ["IMAGE"], "imageConfig": {"aspectRatio": "7:5"}},
        },
    )
    forged = await http.post(
        url, headers={"Authorization": "Bearer ya29.forged"}, json={"contents": contents}
    )
    elsewhere = await http.post(
        url.replace(PROJECT, "someone-elses-project"), headers=bearer, json={"contents": contents}
    )

    assert (
        negative.status_code == 400 and 'Unknown name "negativePrompt"' in negative.json()["error"]["message"]
    )
    assert ratio.status_code == 400 and ratio.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert (forged.status_code, forged.json()["error"]["status"]) == (401, "UNAUTHENTICATED")
    assert (elsewhere.status_code, elsewhere.json()["error"]["status"]) == (403, "PERMISSION_DENIED")


@pytest.mark.parametrize(
    ("reply", "stage", "categories"),
    [
        (replies.prompt_blocked(), "prompt", ["sexual"]),
        (replies.image_blocked("IMAGE_SAFETY"), "output", ["content_filter"]),
        (replies.image_blocked("PROHIBITED_CONTENT"), "output", ["content_filter"]),
    ],
)
async def test_blocked_prompts_and_images_are_final_safety_refusals(
    http: httpx.AsyncClient,
    settings: Settings,
    vertex: VertexStub,
    reply: replies.Reply,
    stage: str,
    categories: list[str],
) -> None:
    vertex.reply(reply)

    with pytest.raises(ContentFiltered) as refused:
        await VertexGeminiProvider(http).generate(await target(settings, vertex), ask())

    assert (refused.value.stage, refused.value.categories) == (stage, categories)
    assert refused.value.is_nsfw is (categories == ["sexual"]) and not refused.value.retryable


async def test_an_account_the_token_endpoint_does_not_know_gets_no_token(
    settings: Settings, vertex: VertexStub
) -> None:
    vertex.accounts.clear()  # the service account was deleted

    with pytest.raises(CredentialUnavailable) as unavailable:
        await target(settings, vertex)

    assert unavailable.value.reason == "Google refused to grant its service account a token"
    assert "invalid_grant" in unavailable.value.detail and "PRIVATE KEY" not in unavailable.value.detail


async def test_a_key_that_is_not_a_service_account_key_is_refused_without_a_call(
    settings: Settings, vertex: VertexStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VERTEX_TEST_SERVICE_ACCOUNT_KEY", '{"type": "authorized_user"}')

    with pytest.raises(CredentialUnavailable) as unavailable:
        await target(settings, vertex)

    assert "service-account key" in unavailable.value.reason and vertex.grants == []


async def test_an_account_without_the_project_is_a_misconfigured_model(
    http: httpx.AsyncClient, settings: Settings, vertex: VertexStub
) -> None:
    for account in vertex.accounts.values():
        account.projects.clear()  # its Vertex AI User role was removed

    with pytest.raises(ProviderMisconfigured) as denied:
        await VertexGeminiProvider(http).generate(await target(settings, vertex), ask())

    assert denied.value.status_code == 403 and denied.value.reason.startswith("PERMISSION_DENIED: Permission")


async def test_resource_exhausted_is_a_retryable_rate_limit(
    http: httpx.AsyncClient, settings: Settings, vertex: VertexStub
) -> None:
    vertex.reply(replies.resource_exhausted())

    with pytest.raises(ProviderRateLimited) as limited:
        await VertexGeminiProvider(http).generate(await target(settings, vertex), ask())

    assert limited.value.retryable and limited.value.status_code == 429


async def test_application_default_credentials_use_the_key_file_the_environment_names(
    http: httpx.AsyncClient,
    settings: Settings,
    vertex: VertexStub,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    key_file = tmp_path / "workload.json"
    key_file.write_text(vertex.key_file("workload"))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))

    result = await VertexGeminiProvider(http).generate(
        await target(settings, vertex, {"kind": "google-default"}), ask()
    )

    assert vertex.grants == [f"workload@{PROJECT}.iam.gserviceaccount.com"] and len(result.images) == 1


async def test_an_expired_token_is_renewed_before_the_call(
    http: httpx.AsyncClient, settings: Settings, vertex: VertexStub
) -> None:
    vertex.token_lifetime = 1  # google-auth treats a token this close to expiry as expired
    credentials = ModelCredentials(settings)
    try:
        first = await target(settings, vertex, credentials=credentials)
        await VertexGeminiProvider(http).generate(first, ask())
        await VertexGeminiProvider(http).generate(first, ask())
    finally:
        await credentials.aclose()

    assert len(vertex.grants) >= 2 and len(vertex.requests) == 2
