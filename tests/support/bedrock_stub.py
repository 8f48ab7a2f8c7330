"""A loopback stub of Amazon Bedrock's runtime (``POST /model/{modelId}/invoke``), as strict as the service.

Every request is checked in the service's order, before anything scripted answers:

1. **SigV4**, verified here independently of botocore (the AWS General Reference's algorithm): an
   ``Authorization: AWS4-HMAC-SHA256 Credential=<key id>/<date>/<region>/bedrock/aws4_request,
   SignedHeaders=…, Signature=…`` header whose key id the stub knows (else 403
   ``UnrecognizedClientException``), scoped to the stub's region and the ``bedrock`` service, signing
   ``host`` and ``x-amz-date`` (within five minutes), with the session token of temporary keys, and a
   signature matching the canonical request over the exact body (else 403 ``InvalidSignatureException``);
   no header at all is 403 ``MissingAuthenticationTokenException``;
2. the model id must be one it serves (400 ``ValidationException`` "The provided model identifier is
   invalid.") and one the key was granted (403 ``AccessDeniedException``);
3. ``content-type: application/json`` and every body parameter per the model
   (:mod:`tests.support.bedrock_rules`): 400 ``ValidationException`` with Bedrock's words.

Only then does the script answer (``stub.reply``); with nothing scripted the model answers as it does:
Nova Canvas ``{"images": [...]}`` with ``numberOfImages`` PNGs of the asked size, Stability
``{"seeds", "finish_reasons": [null], "images"}``. Every request is recorded (``stub.requests``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, unquote

from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.support import bedrock_rules as rules
from tests.support.threaded_server import ThreadedServer

REGION = "ap-southeast-2"
ACCESS_KEY_ID = "AKIASTUBEXAMPLE00001"
SECRET_ACCESS_KEY = "stub/secret/K7MDENG+bPxRfiCYEXAMPLEKEY"
#: where the ``bedrock`` fixture mounts the key pair, and the credential that names them
KEY_ID_VARIABLE = "BEDROCK_TEST_ACCESS_KEY_ID"
SECRET_VARIABLE = "BEDROCK_TEST_SECRET_ACCESS_KEY"
CREDENTIAL = {
    "kind": "aws-keys",
    "access_key_id_variable": KEY_ID_VARIABLE,
    "secret_access_key_variable": SECRET_VARIABLE,
}
MODELS = {
    "amazon.nova-canvas-v1:0": rules.NOVA,
    "stability.stable-image-core-v1:1": rules.STABILITY_CORE,
    "stability.sd3-5-large-v1:0": rules.SD3,
}
_AUTHORIZATION = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)"
    r"/aws4_request, ?SignedHeaders=(?P<signed>[a-z0-9;-]+), ?Signature=(?P<signature>[0-9a-f]{64})$"
)
MAX_SKEW = timedelta(minutes=5)


@dataclass
class Reply:
    status: int = 200
    error_type: str | None = None  # the x-amzn-ErrorType of a failure
    body: dict[str, Any] | None = None  # None: the model's own success for the request
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Recorded:
    model_id: str
    headers: dict[str, str]
    json: dict[str, Any]


def png(size: tuple[int, int], colour: tuple[int, int, int] = (30, 120, 200)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def failure(status: int, error_type: str, message: str, **headers: str) -> Reply:
    return Reply(status=status, error_type=error_type, body={"message": message}, headers=headers)


def prompt_blocked() -> Reply:
    """Nova Canvas refusing the prompt (its input content filter)."""
    return failure(400, "ValidationException", rules.PROMPT_BLOCKED)


def output_blocked() -> Reply:
    """Nova Canvas refusing the image it generated (its output content filter)."""
    return failure(400, "ValidationException", rules.OUTPUT_BLOCKED)


def stability_filtered(reason: str = "Filter reason: prompt") -> Reply:
    return Reply(body={"seeds": [42], "finish_reasons": [reason], "images": []})


def throttled(retry_after: str | None = None) -> Reply:
    headers = {"retry-after": retry_after} if retry_after is not None else {}
    return failure(
        429, "ThrottlingException", "Too many requests, please wait before trying again.", **headers
    )


def access_denied() -> Reply:
    return failure(403, "AccessDeniedException", rules.NO_ACCESS)


class BedrockStub:
    def __init__(self) -> None:
        self.server = ThreadedServer(
            Starlette(routes=[Route("/model/{model_id:path}/invoke", self._invoke, methods=["POST"])]),
            "Bedrock",
        )
        self.region = REGION
        self.keys: dict[str, tuple[str, str | None]] = {}
        self.granted: dict[str, set[str]] = {}  # key id -> model ids it may invoke (absent: all)
        self.script: list[Reply] = []
        self.requests: list[Recorded] = []
        self.reset()

    @property
    def endpoint(self) -> str:
        return self.server.base_url

    def start(self) -> None:
        self.server.start()

    def stop(self) -> None:
        self.server.stop()

    def reset(self) -> None:
        self.keys = {ACCESS_KEY_ID: (SECRET_ACCESS_KEY, None)}
        self.granted = {}
        self.script.clear()
        self.requests.clear()

    def accept_key(self, key_id: str, secret: str, session_token: str | None = None) -> None:
        self.keys[key_id] = (secret, session_token)

    def reply(self, *replies: Reply) -> None:
        self.script.extend(replies)

    async def _invoke(self, request: Request) -> Response:
        body = await request.body()
        model_id = unquote(request.path_params["model_id"])
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        self.requests.append(Recorded(model_id, headers, parsed if isinstance(parsed, dict) else {}))
        if (denied := self._signature_refusal(request, headers, body)) is not None:
            return denied
        family = MODELS.get(model_id)
        if family is None:
            return _error(400, "ValidationException", "The provided model identifier is invalid.")
        authorization = _AUTHORIZATION.match(headers["authorization"])
        assert authorization is not None  # the signature check let only a well-formed header through
        key_id = authorization.group("key")
        if key_id in self.granted and model_id not in self.granted[key_id]:
            return _error(403, "AccessDeniedException", rules.NO_ACCESS)
        if headers.get("content-type", "").split(";")[0] != "application/json":
            return _error(400, "ValidationException", "The provided contentType is not supported.")
        if (problem := rules.refusal(family, parsed)) is not None:
            return _error(400, "ValidationException", problem)
        reply = self.script.pop(0) if self.script else Reply()
        if reply.error_type is not None:
            return _error(
                reply.status, reply.error_type, str((reply.body or {}).get("message")), reply.headers
            )
        assert isinstance(parsed, dict)
        return JSONResponse(reply.body or _success(family, parsed), status_code=reply.status)

    def _signature_refusal(self, request: Request, headers: dict[str, str], body: bytes) -> Response | None:
        authorization = headers.get("authorization")
        if authorization is None:
            return _error(403, "MissingAuthenticationTokenException", "Missing Authentication Token")
        found = _AUTHORIZATION.match(authorization)
        if found is None:
            return _error(403, "IncompleteSignatureException", "Authorization header requires 'Credential'.")
        if found["key"] not in self.keys:
            return _error(403, "UnrecognizedClientException", rules.UNKNOWN_KEY)
        secret, session_token = self.keys[found["key"]]
        if found["region"] != self.region or found["service"] != "bedrock":
            return _error(
                403,
                "InvalidSignatureException",
                f"Credential should be scoped to a valid region and service 'bedrock' in {self.region}.",
            )
        signed = found["signed"].split(";")
        stamp = headers.get("x-amz-date", "")
        if "host" not in signed or "x-amz-date" not in signed or not stamp.startswith(found["date"]):
            return _error(403, "InvalidSignatureException", rules.BAD_SIGNATURE)
        try:
            when = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        except ValueError:
            return _error(403, "InvalidSignatureException", rules.BAD_SIGNATURE)
        if abs(datetime.now(UTC) - when) > MAX_SKEW:
            return _error(403, "InvalidSignatureException", "Signature expired.")
        if session_token is not None and headers.get("x-amz-security-token") != session_token:
            return _error(403, "UnrecognizedClientException", rules.UNKNOWN_KEY)
        raw_path = request.scope["raw_path"].decode()
        expected = signature(
            secret, request.method, raw_path, request.url.query, headers, signed, body, stamp, self.region
        )
        if not hmac.compare_digest(expected, found["signature"]):
            return _error(403, "InvalidSignatureException", rules.BAD_SIGNATURE)
        return None


def signature(
    secret: str,
    method: str,
    raw_path: str,
    query: str,
    headers: dict[str, str],
    signed: list[str],
    body: bytes,
    stamp: str,
    region: str,
) -> str:
    """SigV4 as the service computes it (the path URI-encoded once more, as for every service but S3)."""
    canonical_headers = "".join(f"{name}:{' '.join(headers.get(name, '').split())}\n" for name in signed)
    canonical = "\n".join(
        [
            method,
            quote(raw_path, safe="/~"),
            "&".join(sorted(query.split("&"))) if query else "",
            canonical_headers,
            ";".join(signed),
            hashlib.sha256(body).hexdigest(),
        ]
    )
    scope = f"{stamp[:8]}/{region}/bedrock/aws4_request"
    to_sign = f"AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    key = f"AWS4{secret}".encode()
    for part in (stamp[:8], region, "bedrock", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def _success(family: str, body: dict[str, Any]) -> dict[str, Any]:
    if family == rules.NOVA:
        config = body.get("imageGenerationConfig", {})
        size = (config.get("width", 1024), config.get("height", 1024))
        count = config.get("numberOfImages", 1)
        return {"images": [_b64(png(size, (40 * i, 120, 200))) for i in range(count)]}
    width, height = {"16:9": (1344, 768), "9:16": (768, 1344), "3:2": (1216, 832), "2:3": (832, 1216)}.get(
        body.get("aspect_ratio", "1:1"), (1024, 1024)
    )
    return {"seeds": [body.get("seed", 7)], "finish_reasons": [None], "images": [_b64(png((width, height)))]}


def _error(status: int, error_type: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(
        {"message": message},
        status_code=status,
        headers={"x-amzn-ErrorType": f"{error_type}:http://internal.amazon.com/coral/com.amazon.bedrock/"}
        | (headers or {}),
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
