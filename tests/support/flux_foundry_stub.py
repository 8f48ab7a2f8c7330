"""A loopback stub of FLUX on Azure AI Foundry: the Black Forest Labs route and the OpenAI-compatible
images route of one Foundry resource, as strict as the service.

Every request is checked, in this order, before anything scripted answers:

1. auth: ``Authorization: Bearer <key or Entra token>`` or ``api-key: <key>``, the key in ``stub.keys``
   or the token one a trusted identity endpoint issued for Cognitive Services (``trust_tokens_of``) —
   otherwise Foundry's 401 ``{"error": {"code": "401", "message": "Access denied due to invalid
   subscription key ..."}}``;
2. ``api-version=preview`` (400 ``BadRequest`` otherwise);
3. the deployment: on the BFL route the body's ``model`` names a deployment of the model the path names
   (``/providers/blackforestlabs/v1/flux-2-pro``); on the images route the path names it — 404
   ``DeploymentNotFound`` otherwise;
4. the body: on the BFL route ``prompt``, ``width``/``height`` (integers, multiples of 16, at least 64, at
   most 4 megapixels), ``seed`` (integer), ``safety_tolerance`` (0-6), ``output_format`` (``jpeg`` or
   ``png``), ``n``/``num_images`` (1), and for flex ``guidance`` (1.5-10) and ``steps`` (1-50): anything
   else is Black Forest Labs' 422 ``{"detail": [{"type", "loc": ["body", <name>], "msg", "input"}]}``
   (FastAPI's validation body); on the images route ``prompt``, ``n`` (1) and ``size`` (1024x1024 or
   512x512; at most 1 MP), with OpenAI's invalid-request bodies.

Sources: MicrosoftDocs/azure-ai-docs ``foundry-models/how-to/use-foundry-models-flux.md`` (routes, model
paths, ``api-version=preview``, Bearer key or Entra token, the body's parameters, one image per call of at
most 4 MP for FLUX.2 and 1 MP for Kontext, ``guidance``/``steps`` ranges), Black Forest Labs' API reference
(multiples of 16, ``safety_tolerance`` 0-6, ``output_format``, moderation verdicts ``Request Moderated`` /
``Content Moderated`` with ``details["Moderation Reasons"]``). Foundry answers synchronously with
``{"created", "data": [{"b64_json"}]}``; the image is the asked width x height, its colour a function of
the seed (the same seed gives the same image).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.support import azure_openai_rules as azure_rules
from tests.support.azure_openai_stub import Recorded, Reply
from tests.support.threaded_server import ThreadedServer

__all__ = ["STUB_KEY", "FluxFoundryStub", "Reply", "content_moderated", "request_moderated"]

STUB_KEY = "foundry-stub-key-0123456789"
#: deployment name -> the model path of the BFL route it answers on ("" for the images route only)
DEPLOYMENTS = {"FLUX.2-pro": "flux-2-pro", "FLUX.2-flex": "flux-2-flex", "FLUX.1-Kontext-pro": ""}
MAX_PIXELS = 4 * 1024 * 1024
COGNITIVE_SERVICES = "https://cognitiveservices.azure.com"
BFL_PARAMETERS = {"model", "prompt", "width", "height", "seed", "safety_tolerance", "output_format", "n",
                  "num_images"}  # fmt: skip
FLEX_PARAMETERS = {"guidance": (1.5, 10), "steps": (1, 50)}


def _moderated(verdict: str, *reasons: str) -> Reply:
    return Reply(
        body={
            "id": "0f3c5a52-8b1e-4c55-a1b6-6a0c1f2e9d10",
            "status": verdict,
            "result": None,
            "details": {"Moderation Reasons": list(reasons or ("Sexual",))},
        }
    )


def request_moderated(*reasons: str) -> Reply:
    """The prompt was refused by Black Forest Labs' moderation (no image was made)."""
    return _moderated("Request Moderated", *reasons)


def content_moderated(*reasons: str) -> Reply:
    """The generated image was refused by the moderation."""
    return _moderated("Content Moderated", *reasons)


def _invalid(name: str, message: str, kind: str, value: object) -> dict[str, Any]:
    return {"detail": [{"type": kind, "loc": ["body", name], "msg": message, "input": value}]}


def image(width: int, height: int, seed: int | None, fmt: str = "png") -> bytes:
    colour = hashlib.sha256(str(seed).encode()).digest()[:3] if seed is not None else (128, 128, 128)
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), tuple(colour)).save(buffer, format="JPEG" if fmt == "jpeg" else "PNG")
    return buffer.getvalue()


@dataclass
class FluxFoundryStub:
    keys: set[str] = field(default_factory=lambda: {STUB_KEY})
    deployments: dict[str, str] = field(default_factory=lambda: dict(DEPLOYMENTS))
    script: list[Reply] = field(default_factory=list)
    requests: list[Recorded] = field(default_factory=list)
    #: each tells the resource a ``Bearer`` header's token was issued for (a loopback identity endpoint)
    token_issuers: list[Callable[[str | None], str | None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        app = Starlette(
            routes=[
                Route("/providers/blackforestlabs/v1/{path}", self._bfl, methods=["POST"]),
                Route("/openai/deployments/{deployment}/images/generations", self._images, methods=["POST"]),
            ]
        )
        self.server = ThreadedServer(app, "Foundry FLUX")

    @property
    def base_url(self) -> str:
        """A model's ``api_endpoint`` (``https://<resource>.services.ai.azure.com`` in production)."""
        return self.server.base_url

    def reply(self, *replies: Reply) -> None:
        self.script.extend(replies)

    def trust_tokens_of(self, resource_of: Callable[[str | None], str | None]) -> None:
        """Accept Entra tokens an identity endpoint issued for Cognitive Services (the role assignment)."""
        self.token_issuers.append(resource_of)

    def reset(self) -> None:
        self.keys = {STUB_KEY}
        self.token_issuers = []
        self.deployments = dict(DEPLOYMENTS)
        self.script.clear()
        self.requests.clear()

    async def _bfl(self, request: Request) -> Response:
        payload, refused = await self._checked(request)
        if refused is not None:
            return refused
        path = request.path_params["path"]
        model = payload.get("model")
        if not isinstance(model, str) or self.deployments.get(model) != path:
            return JSONResponse(azure_rules.DEPLOYMENT_NOT_FOUND, status_code=404)
        if (invalid := _bfl_refusal(payload, flex=path == "flux-2-flex")) is not None:
            return JSONResponse(invalid, status_code=422)
        return self._answer(
            lambda: image(
                payload["width"], payload["height"], payload.get("seed"), payload.get("output_format", "jpeg")
            )
        )

    async def _images(self, request: Request) -> Response:
        payload, refused = await self._checked(request)
        if refused is not None:
            return refused
        if request.path_params["deployment"] not in self.deployments:
            return JSONResponse(azure_rules.DEPLOYMENT_NOT_FOUND, status_code=404)
        if (invalid := _images_refusal(payload)) is not None:
            return JSONResponse(invalid, status_code=400)
        side = int(str(payload.get("size", "1024x1024")).split("x")[0])
        return self._answer(lambda: image(side, side, None))

    async def _checked(self, request: Request) -> tuple[dict[str, Any], Response | None]:
        try:
            payload = json.loads(await request.body())
        except ValueError:
            payload = None
        headers = {k.lower(): v for k, v in request.headers.items()}
        body = payload if isinstance(payload, dict) else {}
        self.requests.append(Recorded(request.url.path, dict(request.query_params), headers, body))
        bearer = headers.get("authorization", "")
        key = bearer.removeprefix("Bearer ") if bearer.startswith("Bearer ") else headers.get("api-key")
        entra = any(issued(bearer) == COGNITIVE_SERVICES for issued in self.token_issuers)
        if key not in self.keys and not entra:
            return body, JSONResponse(azure_rules.INVALID_KEY, status_code=401)
        if request.query_params.get("api-version") != "preview":
            refusal = {"error": {"code": "BadRequest", "message": "API version not supported"}}
            return body, JSONResponse(refusal, status_code=400)
        if not isinstance(payload, dict):
            return body, JSONResponse(
                _invalid("body", "JSON object expected", "dict_type", None), status_code=422
            )
        return payload, None

    def _answer(self, made: Any) -> Response:
        reply = self.script.pop(0) if self.script else Reply()
        if reply.body is not None:
            return JSONResponse(reply.body, status_code=reply.status, headers=reply.headers)
        encoded = base64.b64encode(made()).decode()
        return JSONResponse({"created": 1765000000, "data": [{"b64_json": encoded}]}, headers=reply.headers)


def _bfl_refusal(body: dict[str, Any], *, flex: bool) -> dict[str, Any] | None:
    allowed = BFL_PARAMETERS | (set(FLEX_PARAMETERS) if flex else set())
    for name, value in body.items():
        if name not in allowed:
            return _invalid(name, "Extra inputs are not permitted", "extra_forbidden", value)
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt:
        return _invalid("prompt", "Field required", "missing", prompt)
    for side in ("width", "height"):
        value = body.get(side)
        if not isinstance(value, int) or isinstance(value, bool):
            return _invalid(side, "Input should be a valid integer", "int_type", value)
        if value < 64 or value % 16:
            return _invalid(side, "Value must be a multiple of 16 and at least 64", "value_error", value)
    if body["width"] * body["height"] > MAX_PIXELS:
        return _invalid("width", "Output may be at most 4 megapixels", "value_error", body["width"])
    if "seed" in body and (not isinstance(body["seed"], int) or isinstance(body["seed"], bool)):
        return _invalid("seed", "Input should be a valid integer", "int_type", body["seed"])
    tolerance = body.get("safety_tolerance", 2)
    if not isinstance(tolerance, int) or not 0 <= tolerance <= 6:
        return _invalid("safety_tolerance", "Input should be between 0 and 6", "less_than_equal", tolerance)
    if body.get("output_format", "jpeg") not in ("jpeg", "png"):
        return _invalid("output_format", "Input should be 'jpeg' or 'png'", "enum", body["output_format"])
    for name in ("n", "num_images"):
        if body.get(name, 1) != 1:
            return _invalid(name, "Input should be 1", "literal_error", body[name])
    for name, (smallest, largest) in FLEX_PARAMETERS.items():
        value = body.get(name, smallest)
        if not isinstance(value, int | float) or not smallest <= value <= largest:
            return _invalid(name, f"Input should be between {smallest} and {largest}", "value_error", value)
    return None


def _images_refusal(body: dict[str, Any]) -> dict[str, Any] | None:
    for name in body:
        if name not in {"prompt", "n", "size", "model", "user"}:
            return azure_rules.invalid_request(f"Unknown parameter: '{name}'.", name, "unknown_parameter")
    if not isinstance(body.get("prompt"), str) or not body["prompt"]:
        return azure_rules.invalid_request(
            "Missing required parameter: 'prompt'.", "prompt", "missing_required_parameter"
        )
    if body.get("n", 1) != 1:
        return azure_rules.invalid_request(
            "Invalid 'n': only 1 image per request.", "n", "integer_above_max_value"
        )
    if body.get("size", "1024x1024") not in ("1024x1024", "512x512"):
        return azure_rules.invalid_request(
            f"Invalid value: '{body['size']}'. Supported values are: '1024x1024' and '512x512'.",
            "size",
            "invalid_value",
        )
    return None
