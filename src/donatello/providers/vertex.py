"""The ``google-vertex`` provider: Gemini image models (``gemini-2.5-flash-image``, ``gemini-3-pro-image``)
through Vertex AI's ``generateContent``, with an OAuth bearer token from ``google-auth``.

``POST {api_endpoint}/v1/projects/{project}/locations/{location}/publishers/google/models/{model}``
``:generateContent`` where ``api_endpoint`` is ``https://<location>-aiplatform.googleapis.com`` (or
``https://aiplatform.googleapis.com`` for ``global``), ``project`` is ``configuration.project``, the
location ``configuration.location`` (else the endpoint's host says it) and the model
``configuration.model`` (else the catalogue's model name).

The body: the prompt as the user's one text part; ``generationConfig.responseModalities: ["IMAGE"]``,
``imageConfig.aspectRatio`` from the size, and ``seed`` when one is asked. The API has no negative
prompt: a request with one is refused before any call (and, naming the model, at admission with a 422).
One image per call; the answer's ``usageMetadata`` is the bill, priced per token.
"""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from donatello.providers import answers, vertex_answers
from donatello.providers.contract import ImageRequest, ImageResult, ProviderTarget, TokenUsage
from donatello.providers.errors import (
    ProviderMisconfigured,
    ProviderRejected,
    ProviderUnavailable,
)
from donatello.providers.families import ASPECT_RATIOS, GEMINI_IMAGE, family_of
from donatello.providers.parts import join

_HOST = re.compile(r"^([a-z]+-[a-z]+[0-9]+)-aiplatform\.googleapis\.com$")
_PROJECT = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
_LOCATION = re.compile(r"^(global|[a-z]+-[a-z]+[0-9]+)$")


def url(target: ProviderTarget) -> str:
    config = target.configuration
    project = config.get("project")
    if not isinstance(project, str) or not _PROJECT.match(project):
        raise ProviderMisconfigured("configuration.project must be a Google Cloud project id")
    endpoint = target.endpoint.rstrip("/")
    location = config.get("location")
    if location is None:
        host = urlsplit(endpoint).hostname or ""
        named = _HOST.match(host)
        location = named.group(1) if named else "global" if host == "aiplatform.googleapis.com" else None
    if not isinstance(location, str) or not _LOCATION.match(location):
        raise ProviderMisconfigured("configuration.location must be a Vertex AI location such as us-central1")
    model = quote(str(config.get("model") or target.model), safe="")
    path = f"/v1/projects/{project}/locations/{location}/publishers/google/models/{model}:generateContent"
    return endpoint + path


def body(target: ProviderTarget, request: ImageRequest) -> dict[str, object]:
    if family_of(target.provider, target.configuration) is not GEMINI_IMAGE:
        raise ProviderMisconfigured("configuration.family must be gemini-image for a google-vertex model")
    if request.size not in GEMINI_IMAGE.sizes:
        raise ProviderRejected(
            f"gemini-image offers sizes {', '.join(GEMINI_IMAGE.sizes)}, not {request.size}"
        )
    if not GEMINI_IMAGE.accepts_quality(request.quality):
        raise ProviderRejected(f"gemini-image offers quality {', '.join(GEMINI_IMAGE.qualities)} only")
    if (refused := GEMINI_IMAGE.refuses(request.negative_prompt, request.seed)) is not None:
        raise ProviderRejected(f"{GEMINI_IMAGE.name} {refused[1]}")
    config: dict[str, object] = {
        "responseModalities": ["IMAGE"],
        "imageConfig": {"aspectRatio": ASPECT_RATIOS[request.size]},
    }
    if request.seed is not None:
        config["seed"] = request.seed
    return {"contents": [{"role": "user", "parts": [{"text": request.prompt}]}], "generationConfig": config}


class VertexGeminiProvider:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    async def generate(self, target: ProviderTarget, request: ImageRequest) -> ImageResult:
        results = [await self._one(target, request) for _ in range(request.n)]  # one image per call
        return join(results)

    async def _one(self, target: ProviderTarget, request: ImageRequest) -> ImageResult:
        started = time.perf_counter()
        sent = body(target, request)
        address = url(target)
        headers = await target.credential.headers() if target.credential is not None else {}
        answer = await answers.post(
            self._http,
            address,
            json=sent,
            headers=headers,
            deadline=target.timeout_seconds,
            error_for=vertex_answers.error_for,
            image_keys=vertex_answers.IMAGE_KEYS,
        )
        with answer.discarded_on_failure():
            payload: Any = answer.payload
            if not isinstance(payload, dict):
                raise ProviderUnavailable("the provider answered 200 with a body that is not an object")
            if (refusal := vertex_answers.safety_refusal(payload)) is not None:
                raise refusal
            encoded, finish = vertex_answers.images(payload)
            if not encoded:
                raise ProviderUnavailable(f"the provider answered without an image (finishReason {finish})")
            usage: TokenUsage | None = vertex_answers.usage(payload)
            return ImageResult(
                images=[await answer.image(encoded[0], missing="an image in the answer is not base64 text")],
                revised_prompt=None,
                safety=None,
                is_nsfw=False,
                latency_ms=int((time.perf_counter() - started) * 1000),
                usage=usage,
            )
