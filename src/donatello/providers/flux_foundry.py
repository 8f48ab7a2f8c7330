"""The ``azure-foundry`` provider: Black Forest Labs FLUX models on Azure AI Foundry, over httpx.

What is sent is :mod:`flux_body`. Each call makes one image (FLUX returns one per request), so a request
for ``n`` images is ``n`` calls, one after another. Foundry answers synchronously with
``{"created": ..., "data": [{"b64_json": ...}]}`` (a ``url`` instead is downloaded, without credentials).

**Credentials.** Foundry takes the resource's key or an Entra token (scope Cognitive Services) as
``Authorization: Bearer``: a key from Key Vault or the environment is sent that way; a managed identity's
token already is.

**Failures** are read as :mod:`azure_errors` reads Foundry's gateway (401/403/404 make the model
unavailable, 429 with ``Retry-After`` is retried), and as Black Forest Labs words them:

* a moderated request — ``status`` ``Request Moderated`` (the prompt) or ``Content Moderated`` (the image),
  reasons in ``details["Moderation Reasons"]`` — in a 200 or an error body, is a final safety refusal;
* a 422 validation error (``{"detail": [{"loc": [...], "msg": ...}]}``) names parameters, never the
  prompt's text. The request was checked against the family before the call, so a parameter refused is
  one the model's configuration chose (``steps`` on a model that takes none, a deployment that is not
  what its family says): the model is misconfigured until someone changes it. Only a refused prompt is a
  rejected request.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from donatello.providers import answers, azure_errors, flux_body
from donatello.providers.azure_openai import IMAGE_KEYS
from donatello.providers.contract import ImageRequest, ImageResult, ProviderTarget
from donatello.providers.errors import (
    ContentFiltered,
    ProviderError,
    ProviderMisconfigured,
    ProviderRejected,
    ProviderUnavailable,
)
from donatello.providers.image_bytes import ImageFile
from donatello.providers.openai_images import json_object

MODERATED = {"request moderated": "prompt", "content moderated": "output"}
MAX_REASON_CHARS = 300


class FluxFoundryProvider:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    async def generate(self, target: ProviderTarget, request: ImageRequest) -> ImageResult:
        started = time.perf_counter()
        images: list[ImageFile] = []
        for _ in range(request.n):  # sequential: a failure stops the rest
            images.append(await self._one(target, request))
        return ImageResult(
            images=images,
            revised_prompt=None,
            safety=None,
            is_nsfw=False,
            latency_ms=int((time.perf_counter() - started) * 1000),
        )

    async def _one(self, target: ProviderTarget, request: ImageRequest) -> ImageFile:
        route = flux_body.route(target)
        sent = flux_body.body(target, request)
        answer = await answers.post(
            self._http,
            route.url,
            params=route.params,
            json=sent,
            headers=await _headers(target),
            deadline=target.timeout_seconds,
            error_for=error_for,
            image_keys=IMAGE_KEYS,
        )
        with answer.discarded_on_failure():
            payload = json_object(answer)
            if (refusal := moderated(payload, 200)) is not None:
                raise refusal
            data = payload.get("data")
            if not isinstance(data, list) or len(data) != 1 or not isinstance(data[0], dict):
                raise ProviderUnavailable("the provider answered 200 without exactly one image")
            item = data[0]
            if item.get("b64_json"):
                return await answer.image(item["b64_json"], missing="the image in the answer has no b64_json")
            if isinstance(url := item.get("url"), str) and url:  # a pre-signed link
                return await answers.download(self._http, url, deadline=target.timeout_seconds)
            raise ProviderUnavailable("the image in the answer has neither b64_json nor url")


def error_for(response: httpx.Response) -> ProviderError:
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if isinstance(payload, dict):
        inner = payload.get("error")
        body: dict[str, Any] = inner if isinstance(inner, dict) else payload
        if (refusal := moderated(body, response.status_code)) is not None:
            return refusal
        if response.status_code == 422 and isinstance(detail := payload.get("detail"), list):
            kind = ProviderRejected if _about_prompt(detail) else ProviderMisconfigured
            return kind(_validation(detail), status_code=422)
    return azure_errors.error_for(response)


def moderated(body: dict[str, Any], status: int) -> ContentFiltered | None:
    """Black Forest Labs' moderation verdict in a body, as a final refusal; None when there is none."""
    verdict = body.get("status")
    stage = MODERATED.get(verdict.lower()) if isinstance(verdict, str) else None
    if stage is None:
        return None
    details = body.get("details")
    reasons = details.get("Moderation Reasons") if isinstance(details, dict) else None
    listed = reasons if isinstance(reasons, list) else []
    categories = sorted({reason.lower() for reason in listed if isinstance(reason, str)})
    where = "the prompt" if stage == "prompt" else "the generated image"
    return ContentFiltered(
        f"{where} was refused by the provider's moderation",
        stage=stage,
        categories=categories,
        status_code=status,
        is_nsfw=any(c.replace("-", "_") in ("sexual", "violence", "hate", "self_harm") for c in categories),
    )


async def _headers(target: ProviderTarget) -> dict[str, str]:
    if target.credential is None:
        return {}
    sent = await target.credential.headers()
    if key := sent.pop("api-key", None):
        sent["Authorization"] = f"Bearer {key}"
    return sent


def _about_prompt(detail: list[object]) -> bool:
    return all(isinstance(e, dict) and "prompt" in (e.get("loc") or []) for e in detail)


def _validation(detail: list[object]) -> str:
    parts = []
    for entry in detail:
        if isinstance(entry, dict):
            where = ".".join(str(p) for p in entry.get("loc", []) if p != "body")
            message = str(entry.get("msg", "invalid"))
            parts.append(f"{where}: {message}" if where else message)
    text = "; ".join(parts) or "HTTP 422"
    return text if len(text) <= MAX_REASON_CHARS else text[: MAX_REASON_CHARS - 1] + "…"
