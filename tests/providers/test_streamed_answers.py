"""A large answer read as it arrives, against the strict Azure OpenAI stub sending it in pieces: the image
arrives byte for byte, and an answer that breaks part-way leaves no file behind and is the retryable
outage it always was."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest

from donatello.providers import (
    ApiKeyHeader,
    ImageRequest,
    ProviderTarget,
    ProviderTimeout,
    ProviderUnavailable,
    adapter_for,
    arriving_in,
)
from tests.support import azure_openai_stub as replies
from tests.support.azure_openai_stub import STUB_API_KEY, AzureOpenAIStub
from tests.support.large_images import noise_png


def left_in(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir())


ASKED = ImageRequest("a harbour at dawn", None, "1024x1024", "high", None, 1, None)


def gpt_image(stub: AzureOpenAIStub, timeout: float = 30.0) -> ProviderTarget:
    return ProviderTarget(
        "azure-openai", "gpt-image-1.5", stub.endpoint(), timeout, 0, {}, ApiKeyHeader(STUB_API_KEY)
    )


async def test_a_three_mebibyte_image_sent_in_pieces_arrives_byte_for_byte(
    http: httpx.AsyncClient, azure_stub: AzureOpenAIStub, tmp_path: Path
) -> None:
    image = noise_png()
    assert len(image) > 3 * 2**20
    azure_stub.reply(replies.image_answer(image, chunk_bytes=16 * 1024))

    with arriving_in(tmp_path):
        result = await adapter_for("azure-openai", http=http).generate(gpt_image(azure_stub), ASKED)

    (arrived,) = result.images
    assert (arrived.size, arrived.sha256) == (len(image), hashlib.sha256(image).hexdigest())
    assert arrived.path.parent == tmp_path and arrived.read_bytes() == image
    assert result.usage is not None and result.usage.output_image_tokens == 4160  # read as before
    assert result.safety is not None and result.safety["max_severity"] == "safe"


async def test_an_answer_cut_off_part_way_leaves_no_file_and_is_a_retryable_outage(
    http: httpx.AsyncClient, azure_stub: AzureOpenAIStub, tmp_path: Path
) -> None:
    azure_stub.reply(replies.image_answer(noise_png(), cut_after_bytes=2 * 2**20))

    with arriving_in(tmp_path), pytest.raises(ProviderUnavailable, match="cannot reach") as cut:
        await adapter_for("azure-openai", http=http).generate(gpt_image(azure_stub), ASKED)

    assert cut.value.retryable
    assert left_in(tmp_path) == []  # the half that arrived is gone


async def test_an_answer_slower_than_the_deadline_leaves_no_file(
    http: httpx.AsyncClient, azure_stub: AzureOpenAIStub, tmp_path: Path
) -> None:
    body = replies.image_answer(noise_png()).raw
    assert body is not None  # about 4 MiB, in 64 pieces 50 ms apart: seconds, where 0.5 s are allowed
    azure_stub.reply(replies.Reply(raw=body, chunk_bytes=64 * 1024, trickle_seconds=0.05))

    with arriving_in(tmp_path), pytest.raises(ProviderTimeout, match=r"within 0\.5s"):
        await adapter_for("azure-openai", http=http).generate(gpt_image(azure_stub, 0.5), ASKED)

    assert left_in(tmp_path) == []


async def test_malformed_base64_is_a_retryable_outage_and_leaves_no_file(
    http: httpx.AsyncClient, azure_stub: AzureOpenAIStub, tmp_path: Path
) -> None:
    spoiled = {"created": 1, "data": [{"b64_json": "iVBORw0KGgo" + "!" * 5000}], "usage": None}
    azure_stub.reply(replies.Reply(body=spoiled))

    with arriving_in(tmp_path), pytest.raises(ProviderUnavailable, match="malformed base64") as refused:
        await adapter_for("azure-openai", http=http).generate(gpt_image(azure_stub), ASKED)

    assert refused.value.retryable
    assert left_in(tmp_path) == []
