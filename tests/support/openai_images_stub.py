"""A loopback stub of OpenAI's images API (``POST /v1/images/generations``), as strict as the service.

Every request is checked as OpenAI checks it, in this order, before anything scripted answers:

1. auth: ``Authorization: Bearer <key>`` with a key in ``stub.keys`` — no key is 401 with ``code: null``
   ("You didn't provide an API key"), a wrong one 401 ``invalid_api_key`` whose message echoes the key
   masked (``sk-wro***-key``), as the service does; an Azure ``api-key`` header counts as no key;
2. ``OpenAI-Organization`` / ``OpenAI-Project``, when sent, must name the key's organization and project
   (401 ``mismatched_organization`` / ``mismatched_project``); ``stub.require_headers`` demands them;
3. ``model`` in the body, one of ``stub.models`` (404 ``model_not_found`` otherwise);
4. every other parameter per the gpt-image family (OpenAI's invalid-request bodies, as
   :mod:`tests.support.azure_openai_rules`; OpenAI also takes ``output_format: webp``).

Sources: openai/openai-python ``types/image_generate_params.py`` (parameters and values; models
``gpt-image-1``, ``gpt-image-1-mini``, ``gpt-image-1.5``), ``types/images_response.py`` (``created``,
``data[].b64_json``, ``background``/``output_format``/``quality``/``size``, ``usage`` with
``input_tokens``, ``input_tokens_details.{image_tokens,text_tokens}``, ``output_tokens``,
``total_tokens``), ``_base_client.py`` (``retry-after`` / ``retry-after-ms``), and the SDK's error
bodies (``{"error": {"message", "type", "param", "code"}}``).

With nothing scripted it answers a success in base64 (in the asked format) billed by the documented
output tokens per image; ``moderation_blocked`` (re-exported from the Azure stub: the same body) refuses
for safety, ``rate_limited`` answers 429 with ``retry-after``.
"""

from __future__ import annotations

import base64
import io
import json
from dataclasses import dataclass, field
from typing import Any

from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.support import azure_openai_rules as rules
from tests.support.azure_openai_stub import OUTPUT_TOKENS, Recorded, Reply, moderation_blocked
from tests.support.threaded_server import ThreadedServer

__all__ = ["STUB_KEY", "OpenAIImagesStub", "Reply", "moderation_blocked", "rate_limited"]

STUB_KEY = "sk-proj-stub0123456789abcdefKEY"
MODELS = ("gpt-image-1", "gpt-image-1-mini", "gpt-image-1.5")


def _error(message: str, kind: str, code: str | None, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def _masked(key: str) -> str:
    return f"{key[:3]}{'*' * max(0, len(key) - 7)}{key[-4:]}" if len(key) > 8 else "***"


def rate_limited(retry_after: str = "7") -> Reply:
    message = (
        "Rate limit reached for gpt-image-1.5 in organization org-stub on images per minute (IPM): "
        f"Limit 5, Used 5, Requested 1. Please try again in {retry_after}s."
    )
    return Reply(
        status=429,
        body=_error(message, "requests", "rate_limit_exceeded"),
        headers={"retry-after": retry_after},
    )


def _image(index: int, fmt: str) -> str:
    buffer = io.BytesIO()
    kind = {"jpeg": "JPEG", "webp": "WEBP"}.get(fmt, "PNG")
    Image.new("RGB", (8, 8), (20 * index, 120, 60)).save(buffer, format=kind)
    return base64.b64encode(buffer.getvalue()).decode()


def success(body: dict[str, Any]) -> dict[str, Any]:
    """The family's answer: base64 images in the asked format, and what the call was billed."""
    n = int(body.get("n", 1))
    fmt = body.get("output_format", "png")
    size = "1024x1024" if body.get("size", "auto") == "auto" else body["size"]
    quality = "high" if body.get("quality", "auto") == "auto" else body["quality"]
    per_image = OUTPUT_TOKENS[(size, quality)]
    text_tokens = max(1, len(str(body["prompt"])) // 4)
    return {
        "created": 1765000000,
        "background": "opaque",
        "output_format": fmt,
        "quality": quality,
        "size": size,
        "data": [{"b64_json": _image(i, fmt)} for i in range(n)],
        "usage": {
            "input_tokens": text_tokens,
            "input_tokens_details": {"text_tokens": text_tokens, "image_tokens": 0},
            "output_tokens": per_image * n,
            "total_tokens": text_tokens + per_image * n,
        },
    }


@dataclass
class OpenAIImagesStub:
    keys: set[str] = field(default_factory=lambda: {STUB_KEY})
    organization: str = "org-stubOrganization01"
    project: str = "proj_stubProject01"
    require_headers: bool = False
    models: tuple[str, ...] = MODELS
    script: list[Reply] = field(default_factory=list)
    requests: list[Recorded] = field(default_factory=list)

    def __post_init__(self) -> None:
        app = Starlette(routes=[Route("/v1/images/generations", self._generate, methods=["POST"])])
        self.server = ThreadedServer(app, "OpenAI images")

    @property
    def base_url(self) -> str:
        """What a model's ``api_endpoint`` is set to (``https://api.openai.com/v1`` in production)."""
        return f"{self.server.base_url}/v1"

    def reply(self, *replies: Reply) -> None:
        self.script.extend(replies)

    def reset(self) -> None:
        self.keys = {STUB_KEY}
        self.require_headers = False
        self.script.clear()
        self.requests.clear()

    async def _generate(self, request: Request) -> Response:
        try:
            payload = json.loads(await request.body())
        except ValueError:
            payload = None
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.requests.append(
            Recorded(
                request.url.path,
                dict(request.query_params),
                headers,
                payload if isinstance(payload, dict) else {},
            )
        )
        if (denied := self._auth_refusal(headers)) is not None:
            return JSONResponse(denied, status_code=401)
        if not isinstance(payload, dict):
            return JSONResponse(rules.refusal(rules.GPT_IMAGE, payload), status_code=400)
        model = payload.get("model")
        if not isinstance(model, str):
            return JSONResponse(
                _error("you must provide a model parameter", "invalid_request_error", None), status_code=400
            )
        if model not in self.models:
            message = f"The model '{model}' does not exist or you do not have access to it."
            return JSONResponse(_error(message, "invalid_request_error", "model_not_found"), status_code=404)
        # OpenAI takes webp where Azure does not: the family's other rules are the same.
        checked = {**payload, "output_format": "png"} if payload.get("output_format") == "webp" else payload
        if (refused := rules.refusal(rules.GPT_IMAGE, checked)) is not None:
            return JSONResponse(refused, status_code=400)
        reply = self.script.pop(0) if self.script else Reply()
        body = reply.body if reply.body is not None else success(payload)
        return JSONResponse(body, status_code=reply.status, headers=reply.headers)

    def _auth_refusal(self, headers: dict[str, str]) -> dict[str, Any] | None:
        bearer = headers.get("authorization", "")
        key = bearer.removeprefix("Bearer ") if bearer.startswith("Bearer ") else None
        if not key:
            return _error(
                "You didn't provide an API key. You need to provide your API key in an Authorization header "
                "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                "invalid_request_error",
                None,
            )
        if key not in self.keys:
            return _error(
                f"Incorrect API key provided: {_masked(key)}. You can find your API key at "
                "https://platform.openai.com/account/api-keys.",
                "invalid_request_error",
                "invalid_api_key",
            )
        for header, expected, code in (
            ("openai-organization", self.organization, "mismatched_organization"),
            ("openai-project", self.project, "mismatched_project"),
        ):
            sent = headers.get(header)
            if (sent is None and self.require_headers) or (sent is not None and sent != expected):
                return _error(
                    f"{header} header should match the {header.split('-')[1]} of the API key",
                    "invalid_request_error",
                    code,
                )
        return None
