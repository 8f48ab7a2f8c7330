"""Memory per generation in flight: what a worker holds while many large answers arrive at once.

Thirty-two calls are answered together, each with a ~3 MiB PNG (about 4 MiB of JSON on the wire, sent in
64 KiB pieces by the strict Azure OpenAI stub, which holds every call until all 32 are in flight). Each
answer goes the way the worker takes it: read by the adapter, its image stored (file and thumbnail) in
the local image store. Python's own allocations are traced (``tracemalloc``) from a baseline taken after
one warm-up generation.

Measured on the two-core development machine: reading answers whole, as the adapters once did, peaked at
about 230 MiB above the baseline (7 MiB per generation: the body, its parsed text and the decoded image
at once); read as they arrive, about 11 MiB (0.35 MiB per generation, mostly network buffers). The bound
asserted is 1 MiB per generation in flight — a third of one image: holding even one whole copy of each
image at once (96 MiB here) breaks it, while the measured figure has three times the room.
"""

from __future__ import annotations

import asyncio
import hashlib
import tracemalloc
import uuid
from pathlib import Path

import httpx
from fastapi import FastAPI

from donatello.core.clock import utcnow
from donatello.generations.storing import store_images
from donatello.providers import ApiKeyHeader, ImageRequest, ProviderTarget, adapter_for, arriving_in
from donatello.storage import LocalImageStore
from tests.support import azure_openai_stub as replies
from tests.support.azure_openai_stub import STUB_API_KEY, AzureOpenAIStub
from tests.support.large_images import noise_png

IN_FLIGHT = 32
BOUND_PER_GENERATION = 2**20  # bytes: a third of one ~3 MiB image


def left_in(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir())


ASKED = ImageRequest("a harbour at dawn", None, "1024x1024", "high", None, 1, None)


async def no_wait(_: float) -> None:
    return None


async def test_thirty_two_three_mebibyte_answers_at_once_hold_under_a_mebibyte_each(
    app: FastAPI, azure_stub: AzureOpenAIStub, tmp_path: Path
) -> None:
    image = noise_png()
    store: LocalImageStore = app.state.image_store
    target = ProviderTarget(
        "azure-openai", "gpt-image-1.5", azure_stub.endpoint(), 60.0, 0, {}, ApiKeyHeader(STUB_API_KEY)
    )
    warm_up, together = replies.image_answer(image), replies.image_answer(image, wait_for_in_flight=IN_FLIGHT)
    stored: list[str] = []

    async with httpx.AsyncClient(trust_env=False, limits=httpx.Limits(max_connections=64)) as http:

        async def generation() -> None:
            with arriving_in(tmp_path):
                result = await adapter_for("azure-openai", http=http).generate(target, ASKED)
            names = await store_images(store, uuid.uuid4(), utcnow(), result.images, no_wait)
            stored.append(names[0][0])

        azure_stub.reply(warm_up)
        await generation()
        azure_stub.reply(*[together] * IN_FLIGHT)
        tracemalloc.start()
        try:
            baseline, _ = tracemalloc.get_traced_memory()
            await asyncio.gather(*(generation() for _ in range(IN_FLIGHT)))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()

    assert azure_stub.most_in_flight == IN_FLIGHT  # they really were answered together
    for name in stored:  # every image stored whole (then removed: a hundred megabytes of test data)
        assert hashlib.sha256(await store.get(name)).digest() == hashlib.sha256(image).digest()
        await store.delete(name)
    assert len(stored) == IN_FLIGHT + 1
    per_generation = (peak - baseline) / IN_FLIGHT
    assert per_generation < BOUND_PER_GENERATION, f"{per_generation / 2**20:.2f} MiB per generation"
    assert left_in(tmp_path) == []  # every arrived file went once it was stored
