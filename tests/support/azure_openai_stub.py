"""A loopback stub of the Azure OpenAI images API, as strict as the service, served by uvicorn in a thread.

Every request is checked the way Azure checks it, in this order, before anything scripted answers:

1. auth: ``api-key`` equal to ``stub.api_key``, or ``Authorization: Bearer <t>`` with ``t`` in
   ``stub.tokens`` — otherwise 401 (``{"error": {"code": "401" | "PermissionDenied", ...}}``);
2. the deployments path needs a supported ``api-version`` (400 otherwise; gpt-image needs
   ``2025-04-01-preview`` or later); the v1 path names the deployment in the body as ``model``;
3. the deployment must exist (``stub.deployments``: name -> family) — 404 ``DeploymentNotFound``;
4. every body parameter per the deployment's family (:mod:`tests.support.azure_openai_rules`): unknown
   parameters, bad values, ``n`` and prompt length answer 400 with OpenAI's invalid-request bodies.

Only a request the service would accept reaches the script (``stub.reply(...)``); with nothing scripted
it answers as the family does: gpt-image with base64 images and a ``usage`` block, DALL-E 3 with a
``revised_prompt`` and a URL unless ``response_format`` is ``b64_json``. Every request is recorded
(``stub.requests``), refused or not, so a test counts the calls the provider would bill or see.

The module-level builders script the service's other answers: safety refusals (``moderation_blocked``,
``content_filter`` — Azure's ``content_policy_violation`` with inner ``ResponsibleAIPolicyViolation`` —,
``output_filtered`` (``contentFilter``), ``flagged_output``), ``permission_denied``,
``deployment_not_found``, ``rate_limited`` (``retry-after-ms`` / ``retry-after``), ``insufficient_quota``,
``conflict``, ``server_error``, ``bad_gateway_html``, ``empty_data``, ``slow`` and ``trickle``; and
``image_answer``: a large image's answer sent in pieces (or cut off part-way).
Where each shape comes from is written beside it and in :mod:`tests.support.azure_openai_rules`.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Container
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.support import azure_openai_rules as rules

STUB_API_KEY = "stub-key"
STUB_TOKEN = "stub-entra-token"
DEFAULT_DEPLOYMENT = "gpt-image-1.5"
DEPLOYMENTS = {
    "gpt-image-1.5": rules.GPT_IMAGE,
    "gpt-image-1-mini": rules.GPT_IMAGE,
    "gpt-image-2": rules.GPT_IMAGE,
    "dall-e-3": rules.DALL_E_3,
}
SAFE = {
    category: {"filtered": False, "severity": "safe"}
    for category in ("hate", "self_harm", "sexual", "violence")
}
# OpenAI's image-generation guide: output image tokens per image by size and quality.
OUTPUT_TOKENS = {
    ("1024x1024", "low"): 272,
    ("1024x1536", "low"): 408,
    ("1536x1024", "low"): 400,
    ("1024x1024", "medium"): 1056,
    ("1024x1536", "medium"): 1584,
    ("1536x1024", "medium"): 1568,
    ("1024x1024", "high"): 4160,
    ("1024x1536", "high"): 6240,
    ("1536x1024", "high"): 6208,
}


@dataclass(frozen=True)
class Call:
    """An accepted request, as a reply builder sees it."""

    json: dict[str, Any]
    family: str
    base_url: str


Body = dict[str, Any] | Callable[[Call], dict[str, Any]]


@dataclass
class Reply:
    status: int = 200
    body: Body | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_seconds: float = 0.0
    raw: bytes | None = None  # a body that is not JSON (a gateway's HTML page)
    content_type: str = "application/json"
    trickle_seconds: float = 0.0  # send the body a few bytes at a time, this long between pieces
    chunk_bytes: int = 0  # send a raw body in pieces of this size (trickled, when set), with its length
    cut_after_bytes: int | None = None  # the connection drops after this many bytes of the body
    wait_for_in_flight: int = 0  # hold the answer until this many calls have been in flight at once
    one_image: bool = False  # a raw body answering a call for exactly one image


@dataclass
class Recorded:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: dict[str, Any]
    at: float = field(default_factory=time.monotonic)  # when it arrived, to count calls per window


def png(colour: tuple[int, int, int] = (200, 30, 30), size: tuple[int, int] = (8, 8)) -> bytes:
    return _encoded(colour, size, "PNG")


def _encoded(colour: tuple[int, int, int], size: tuple[int, int], kind: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format=kind)
    return buffer.getvalue()


# --- successes ----------------------------------------------------------------------------------------


def _success(
    call: Call, *, revised_prompt: str, results: dict[str, Any], url: bool = False
) -> dict[str, Any]:
    body = call.json
    n = int(body.get("n", 1))
    if call.family == rules.DALL_E_3:
        url = url or body.get("response_format", "url") == "url"
        items: list[dict[str, Any]] = [
            {
                **(
                    {"url": f"{call.base_url}/blobs/image-{i}.png"}
                    if url
                    else {"b64_json": _b64(png((10 * i, 100, 200)))}
                ),
                "revised_prompt": revised_prompt,
                "prompt_filter_results": SAFE,
                "content_filter_results": results,
            }
            for i in range(n)
        ]
        return {"created": 1700000000, "data": items}
    # gpt-image: base64 only, in the asked format, and what the call was billed (images_response.py: usage)
    fmt = body.get("output_format", "png")
    size = body.get("size", "1024x1024")
    quality = body.get("quality", "auto")
    billed_size = "1024x1024" if size == "auto" else size
    billed_quality = "high" if quality == "auto" else quality
    per_image = OUTPUT_TOKENS[(billed_size, billed_quality)]
    text_tokens = max(1, len(str(body.get("prompt", ""))) // 4)
    return {
        "created": 1700000000,
        "background": "opaque",
        "output_format": fmt,
        "quality": billed_quality,
        "size": billed_size,
        "data": [
            {
                "b64_json": _b64(_encoded((10 * i, 100, 200), (8, 8), "JPEG" if fmt == "jpeg" else "PNG")),
                "content_filter_results": results,
                "prompt_filter_results": SAFE,
            }
            for i in range(n)
        ],
        "usage": {
            "input_tokens": text_tokens,
            "input_tokens_details": {"text_tokens": text_tokens, "image_tokens": 0},
            "output_tokens": per_image * n,
            "output_tokens_details": {"image_tokens": per_image * n, "text_tokens": 0},
            "total_tokens": text_tokens + per_image * n,
        },
    }


def success_b64(
    *, revised_prompt: str = "a revised prompt", content_filter_results: dict[str, Any] | None = None
) -> Reply:
    """The family's success: gpt-image in base64 with ``usage``; DALL-E 3 as its ``response_format`` asks."""
    return Reply(
        body=lambda call: _success(
            call, revised_prompt=revised_prompt, results=content_filter_results or SAFE
        )
    )


def success_url() -> Reply:
    """DALL-E 3 with ``response_format: url``: a link to a blob the adapter downloads."""
    return Reply(body=lambda call: _success(call, revised_prompt="a revised prompt", results=SAFE, url=True))


def image_answer(
    image: bytes,
    *,
    chunk_bytes: int = 64 * 1024,
    cut_after_bytes: int | None = None,
    wait_for_in_flight: int = 0,
) -> Reply:
    """gpt-image's answer to a call for one 1024x1024 ``high`` image, with ``image`` as its PNG: encoded
    once (many calls share one body), sent in pieces of ``chunk_bytes`` under its Content-Length, as a
    large answer arrives. ``cut_after_bytes``: the connection drops part-way through the body."""
    call = Call({"n": 1, "size": "1024x1024", "quality": "high", "prompt": ""}, rules.GPT_IMAGE, "")
    answer = _success(call, revised_prompt="", results=SAFE)
    answer["data"][0]["b64_json"] = _b64(image)
    return Reply(
        raw=json.dumps(answer).encode(),
        chunk_bytes=chunk_bytes,
        cut_after_bytes=cut_after_bytes,
        wait_for_in_flight=wait_for_in_flight,
        one_image=True,
    )


def empty_data() -> Reply:
    return Reply(body={"created": 1700000000, "data": []})


def slow(seconds: float = 1.0) -> Reply:
    return Reply(delay_seconds=seconds, body=success_b64().body)


def trickle(pause_seconds: float = 0.1) -> Reply:
    """A success whose body arrives a few bytes at a time — each piece well within httpx's per-read timeout."""
    return Reply(body=success_b64().body, trickle_seconds=pause_seconds)


# --- safety (final: one call, no retry, no fallback) --------------------------------------------------


def moderation_blocked(*categories: str) -> Reply:
    """gpt-image's input moderation refusal: 400, ``type: image_generation_user_error``, categories named
    in the message as ``safety_violations=[…]`` (openai-python ``BadRequestError`` bodies)."""
    listed = ", ".join(categories or ("violence",))
    message = (
        "Your request was rejected by the safety system. If you believe this is an error, contact us and "
        f"include the request ID req_0123456789abcdef. safety_violations=[{listed}]."
    )
    return Reply(
        status=400,
        body={
            "error": {
                "message": message,
                "type": "image_generation_user_error",
                "param": None,
                "code": "moderation_blocked",
            }
        },
    )


def content_filter(severity: str = "high", category: str = "sexual") -> Reply:
    """Azure's prompt refusal on the images API: ``content_policy_violation`` with the inner
    ``ResponsibleAIPolicyViolation`` and its ``content_filter_results``."""
    results = {
        name: {"filtered": False, "severity": "safe"} for name in ("hate", "self_harm", "sexual", "violence")
    }
    results["violence"] = {"filtered": False, "severity": "low"}
    results[category] = {"filtered": True, "severity": severity}
    body = {
        "error": {
            "code": "content_policy_violation",
            "message": "Your request was rejected as a result of our safety system.",
            "type": "invalid_request_error",
            "inner_error": {
                "code": "ResponsibleAIPolicyViolation",
                "content_filter_results": results,
                "revised_prompt": "a revised prompt",
            },
        }
    }
    return Reply(status=400, body=body)


def output_filtered() -> Reply:
    """Azure's refusal of the generated image (azure-ai-docs how-to/dall-e.md, "API call rejection")."""
    return Reply(
        status=400,
        body={
            "created": 1698435368,
            "error": {
                "code": "contentFilter",
                "message": "Generated image was filtered as a result of our safety system.",
            },
        },
    )


def flagged_output(category: str = "sexual") -> Reply:
    """A 200 whose image the output filter flagged: ``content_filter_results.<category>.filtered``."""
    results = dict(SAFE, **{category: {"filtered": True, "severity": "high"}})
    return success_b64(content_filter_results=results)


# --- misconfiguration ---------------------------------------------------------------------------------


def permission_denied() -> Reply:
    return Reply(status=401, body=rules.PERMISSION_DENIED)


def deployment_not_found() -> Reply:
    return Reply(status=404, body=rules.DEPLOYMENT_NOT_FOUND)


# --- transient and quota ------------------------------------------------------------------------------


def rate_limited(
    *, retry_after: str | None = None, retry_after_ms: str | None = None, should_retry: str | None = None
) -> Reply:
    headers = {}
    if retry_after is not None:
        headers["retry-after"] = retry_after
    if retry_after_ms is not None:
        headers["retry-after-ms"] = retry_after_ms
    if should_retry is not None:
        headers["x-should-retry"] = should_retry
    body = {
        "error": {
            "code": "429",
            "message": "Requests to the Images_Generations_Create Operation under Azure OpenAI API version "
            "2025-04-01-preview have exceeded call rate limit of your current pricing tier. "
            f"Please retry after {retry_after or 1} seconds.",
        }
    }
    return Reply(status=429, body=body, headers=headers)


def insufficient_quota() -> Reply:
    """OpenAI's out-of-credit 429, which its API marks ``x-should-retry: false``."""
    body = {
        "error": {
            "message": "You exceeded your current quota, please check your plan and billing details.",
            "type": "insufficient_quota",
            "param": None,
            "code": "insufficient_quota",
        }
    }
    return Reply(status=429, body=body, headers={"x-should-retry": "false"})


def conflict() -> Reply:
    return Reply(
        status=409,
        body={"error": {"code": "409", "message": "The request conflicted with another request; try again."}},
    )


def server_error(status: int = 500, *, should_retry: str | None = None) -> Reply:
    headers = {"x-should-retry": should_retry} if should_retry is not None else {}
    return Reply(
        status=status,
        body={
            "error": {
                "code": "InternalServerError",
                "message": "The server had an error while processing your request.",
            }
        },
        headers=headers,
    )


BAD_GATEWAY_PAGE = (
    b"<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1>"
    b"</center><hr><center>front-door</center></body></html>"
)


def bad_gateway_html() -> Reply:
    return Reply(status=502, raw=BAD_GATEWAY_PAGE, content_type="text/html")


# --- the server ---------------------------------------------------------------------------------------


class AzureOpenAIStub:
    def __init__(self) -> None:
        self.script: list[Reply] = []
        self.scripts: dict[str, list[Reply]] = {}  # a deployment's own answers, before ``script``
        self.requests: list[Recorded] = []
        self.downloads: list[str] = []
        self.base_url = ""
        self.api_key = STUB_API_KEY
        self.tokens: set[str] = {STUB_TOKEN}
        self.keys: set[str] = set()  # keys a test's vault or environment hands out, beside api_key
        self.token_issuers: list[Container[str]] = []  # tokens a loopback identity endpoint issued
        self.deployments: dict[str, str] = dict(DEPLOYMENTS)
        self.anonymous_accepted = False
        self.in_flight = 0  # accepted calls being answered now
        self.most_in_flight = 0  # the most at once since the last reset
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.app = Starlette(
            routes=[
                Route(
                    "/openai/deployments/{deployment}/images/generations", self._generate, methods=["POST"]
                ),
                Route("/openai/v1/images/generations", self._generate, methods=["POST"]),
                Route("/blobs/{name}", self._blob, methods=["GET"]),
            ]
        )

    def endpoint(self, deployment: str = DEFAULT_DEPLOYMENT) -> str:
        """The deployment URL a catalogue row keeps as its ``api_endpoint`` (the deployments path)."""
        return f"{self.base_url}/openai/deployments/{deployment}"

    def v1_endpoint(self) -> str:
        return f"{self.base_url}/openai/v1"

    def deploy(self, name: str, family: str = rules.GPT_IMAGE) -> str:
        self.deployments[name] = family
        return self.endpoint(name)

    def accept_anonymous_callers(self) -> None:
        """Only for flows that cannot hand the model a credential yet: the stub then skips step 1."""
        self.anonymous_accepted = True

    def accept_keys(self, *keys: str) -> None:
        """Keys of the resource besides ``api_key`` (a rotated key's old and new value, say)."""
        self.keys.update(keys)

    def trust_tokens_of(self, issued: Container[str]) -> None:
        """Accept the bearer tokens an identity endpoint issues (read at each request)."""
        self.token_issuers.append(issued)

    def reply(self, *replies: Reply) -> None:
        self.script.extend(replies)

    def reply_on(self, deployment: str, *replies: Reply) -> None:
        """Answers for one deployment's calls only (the shared ``script`` answers the rest)."""
        self.scripts.setdefault(deployment, []).extend(replies)

    def reset(self) -> None:
        self.script.clear()
        self.scripts.clear()
        self.requests.clear()
        self.downloads.clear()
        self.api_key = STUB_API_KEY
        self.tokens = {STUB_TOKEN}
        self.keys = set()
        self.token_issuers = []
        self.deployments = dict(DEPLOYMENTS)
        self.anonymous_accepted = False
        self.most_in_flight = 0

    async def _generate(self, request: Request) -> Response:
        raw = await request.body()
        try:
            payload = json.loads(raw)
        except ValueError:
            payload = None
        self.requests.append(
            Recorded(
                path=request.url.path,
                query=dict(request.query_params),
                headers={k.lower(): v for k, v in request.headers.items()},
                json=payload if isinstance(payload, dict) else {},
            )
        )
        if (denied := self._auth_refusal(request)) is not None:
            return JSONResponse(denied, status_code=401)
        deployment = request.path_params.get("deployment")
        if deployment is None:  # the v1 path: the deployment is the body's model
            model = payload.get("model") if isinstance(payload, dict) else None
            if not isinstance(model, str):
                body = rules.invalid_request(
                    "Missing required parameter: 'model'.", "model", "missing_required_parameter"
                )
                return JSONResponse(body, status_code=400)
            deployment = model
        family = self.deployments.get(deployment)
        if "deployment" in request.path_params and (
            refused := rules.api_version_refusal(
                family or rules.GPT_IMAGE, request.query_params.get("api-version")
            )
        ):
            return JSONResponse(refused, status_code=400)
        if family is None:
            return JSONResponse(rules.DEPLOYMENT_NOT_FOUND, status_code=404)
        if (refused := rules.refusal(family, payload)) is not None:
            return JSONResponse(refused, status_code=400)
        own = self.scripts.get(deployment)
        reply = own.pop(0) if own else self.script.pop(0) if self.script else success_b64()
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            return await self._answer(reply, payload, family)
        finally:
            self.in_flight -= 1

    async def _answer(self, reply: Reply, payload: Any, family: str) -> Response:
        held = time.monotonic() + 30
        while self.most_in_flight < reply.wait_for_in_flight and time.monotonic() < held:  # noqa: ASYNC110
            await asyncio.sleep(0.01)  # other requests raise the count: a poll, as a test's stub may
        if reply.delay_seconds:
            await asyncio.sleep(reply.delay_seconds)
        if reply.one_image and int(payload.get("n", 1)) != 1:
            return JSONResponse(
                {"error": {"code": "StubScript", "message": "the scripted answer has one image"}}, 500
            )
        if reply.raw is not None and (reply.chunk_bytes or reply.cut_after_bytes is not None):
            pieces = _pieces(
                reply.raw, reply.chunk_bytes or len(reply.raw), reply.cut_after_bytes, reply.trickle_seconds
            )
            return StreamingResponse(
                pieces,
                status_code=reply.status,
                headers={**reply.headers, "content-length": str(len(reply.raw))},
                media_type=reply.content_type,
            )
        if reply.raw is not None:
            return Response(
                reply.raw, status_code=reply.status, headers=reply.headers, media_type=reply.content_type
            )
        assert isinstance(payload, dict)
        call = Call(payload, family, self.base_url)
        body = reply.body(call) if callable(reply.body) else reply.body
        if reply.trickle_seconds:
            return StreamingResponse(
                _trickled(json.dumps(body or {}).encode(), reply.trickle_seconds),
                status_code=reply.status,
                headers=reply.headers,
                media_type=reply.content_type,
            )
        return JSONResponse(body or {}, status_code=reply.status, headers=reply.headers)

    def _auth_refusal(self, request: Request) -> dict[str, Any] | None:
        key = request.headers.get("api-key")
        bearer = request.headers.get("authorization", "")
        if key is not None:
            return None if key == self.api_key or key in self.keys else rules.INVALID_KEY
        if bearer:
            token = bearer.removeprefix("Bearer ") if bearer.startswith("Bearer ") else None
            trusted = token in self.tokens or any(token in issued for issued in self.token_issuers)
            return None if trusted else rules.PERMISSION_DENIED
        if self.anonymous_accepted:
            return None
        return {
            "error": {
                "code": "401",
                "message": "Access denied due to missing subscription key. Make sure to include subscription "
                "key when making requests to an API.",
            }
        }

    async def _blob(self, request: Request) -> Response:
        self.downloads.append(request.path_params["name"])
        return Response(png((0, 0, 255)), media_type="image/png")

    def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        config = uvicorn.Config(self.app, log_level="warning", lifespan="off", timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the Azure OpenAI stub did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)


async def _pieces(
    body: bytes, size: int, cut_after: int | None, pause_seconds: float
) -> AsyncIterator[memoryview]:
    """Views of the shared body, not copies: a stub answering many calls at once holds one body."""
    view, end = memoryview(body), len(body) if cut_after is None else cut_after
    for start in range(0, end, size):
        yield view[start : min(start + size, end)]
        if pause_seconds:
            await asyncio.sleep(pause_seconds)


async def _trickled(body: bytes, pause_seconds: float) -> AsyncIterator[bytes]:
    for start in range(0, len(body), 16):
        yield body[start : start + 16]
        await asyncio.sleep(pause_seconds)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
