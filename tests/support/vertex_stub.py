"""A loopback stub of Vertex AI's ``generateContent`` for Gemini image models, and of Google's OAuth token
endpoint, as strict as the services.

**Token endpoint** (``POST /token``, the ``token_uri`` of the service-account keys ``stub.key_file()``
makes): the JWT-bearer grant (RFC 7523) Google's service accounts use — form fields ``grant_type=
urn:ietf:params:oauth:grant-type:jwt-bearer`` and ``assertion``, an RS256 JWT whose ``kid`` is the key's
``private_key_id``, signed by that key, with ``iss`` the account's e-mail, ``aud`` Google's token
endpoint ``https://oauth2.googleapis.com/token`` (what google-auth asserts, whatever the ``token_uri``),
``scope`` including ``cloud-platform`` and at most an hour between ``iat`` and ``exp``. Anything else is
400 ``invalid_grant`` / ``unsupported_grant_type`` / ``invalid_scope`` as Google answers. A good grant
gets ``{"access_token", "expires_in", "token_type": "Bearer"}``; the stub remembers whose token it is.

**generateContent** (``POST /v1/projects/{p}/locations/{l}/publishers/google/models/{m}:generateContent``)
checks, in order: the bearer is a live token this endpoint issued (401 ``UNAUTHENTICATED``); the project
is one the token's account may predict in (403 ``PERMISSION_DENIED``); the location and model exist
(404 ``NOT_FOUND``); the body has only fields ``GenerateContentRequest`` / ``GenerationConfig`` /
``ImageConfig`` define, with valid values (400 ``INVALID_ARGUMENT``, "Invalid JSON payload received.
Unknown name …"). Then the script answers (``stub.reply``), or the model does: one PNG at the asked
aspect ratio, ``finishReason: STOP`` and ``usageMetadata`` (1290 image tokens per image, as Google's
pricing page documents for Gemini 2.5 Flash Image).

Sources: googleapis ``google/cloud/aiplatform/v1/content.proto`` and ``prediction_service.proto``
(``GenerationConfig.seed``, ``response_modalities``, ``ImageConfig.aspect_ratio``, ``FinishReason``
``IMAGE_SAFETY``, ``PromptFeedback.BlockedReason``, ``UsageMetadata`` with per-modality token counts),
google-auth's ``google/oauth2/_client.py`` (the JWT grant and its error bodies), and Google's API error
model (``{"error": {"code", "message", "status"}}``).
"""

from __future__ import annotations

import base64
import io
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.support.threaded_server import ThreadedServer

PROJECT = "acme-images-prod"
LOCATION = "australia-southeast1"
MODELS = ("gemini-2.5-flash-image", "gemini-3-pro-image-preview")
IMAGE_TOKENS = 1290
#: where the ``vertex`` fixture mounts a service account's key file, and the credential that names it
KEY_VARIABLE = "VERTEX_TEST_SERVICE_ACCOUNT_KEY"
CREDENTIAL = {"kind": "google-service-account", "variable": KEY_VARIABLE}
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
ASPECT_RATIOS = {
    "1:1": (1024, 1024),
    "2:3": (832, 1248),
    "3:2": (1248, 832),
    "3:4": (864, 1184),
    "4:3": (1184, 864),
    "4:5": (896, 1152),
    "5:4": (1152, 896),
    "9:16": (768, 1344),
    "16:9": (1344, 768),
    "21:9": (1536, 672),
}
REQUEST_FIELDS = {
    "contents",
    "systemInstruction",
    "generationConfig",
    "safetySettings",
    "tools",
    "toolConfig",
    "labels",
    "cachedContent",
}
CONFIG_FIELDS = {
    "temperature",
    "topP",
    "topK",
    "candidateCount",
    "maxOutputTokens",
    "stopSequences",
    "presencePenalty",
    "frequencyPenalty",
    "seed",
    "responseMimeType",
    "responseModalities",
    "imageConfig",
    "mediaResolution",
}
UNAUTHENTICATED = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other "
    "valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project."
)


@dataclass
class Account:
    email: str
    key_id: str
    public_key: Any
    projects: set[str]


@dataclass
class Reply:
    status: int = 200
    body: dict[str, Any] | None = None  # None: the model's own success


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    json: dict[str, Any]


def google_error(status: int, code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": status, "message": message, "status": code}}


def prompt_blocked(reason: str = "SAFETY") -> Reply:
    return Reply(
        body={
            "promptFeedback": {
                "blockReason": reason,
                "safetyRatings": [
                    {"category": "HARM_CATEGORY_SEXUALLY_EXPLICIT", "probability": "HIGH", "blocked": True},
                    {"category": "HARM_CATEGORY_HATE_SPEECH", "probability": "NEGLIGIBLE"},
                ],
            },
            "usageMetadata": {"promptTokenCount": 9, "totalTokenCount": 9},
            "modelVersion": MODELS[0],
        }
    )


def image_blocked(reason: str = "IMAGE_SAFETY") -> Reply:
    return Reply(
        body={
            "candidates": [{"content": {"role": "model"}, "finishReason": reason}],
            "usageMetadata": {"promptTokenCount": 9, "candidatesTokenCount": 0, "totalTokenCount": 9},
            "modelVersion": MODELS[0],
        }
    )


def resource_exhausted() -> Reply:
    return Reply(
        status=429,
        body=google_error(
            429,
            "RESOURCE_EXHAUSTED",
            "Resource exhausted. Please try again later. Please refer to "
            "https://cloud.google.com/vertex-ai/generative-ai/docs/error-code-429 for more details.",
        ),
    )


class VertexStub:
    def __init__(self) -> None:
        self.server = ThreadedServer(
            Starlette(
                routes=[
                    Route("/token", self._token, methods=["POST"]),
                    Route(
                        "/v1/projects/{project}/locations/{location}/publishers/google/models/{action}",
                        self._generate,
                        methods=["POST"],
                    ),
                ]
            ),
            "Vertex AI",
        )
        self.accounts: dict[str, Account] = {}
        self.tokens: dict[str, tuple[str, float]] = {}  # access token -> (account e-mail, expiry)
        self.grants: list[str] = []  # e-mail of each account a token was granted to
        self.token_lifetime = 3600
        self.script: list[Reply] = []
        self.requests: list[Recorded] = []

    @property
    def endpoint(self) -> str:
        return self.server.base_url

    def start(self) -> None:
        self.server.start()

    def stop(self) -> None:
        self.server.stop()

    def reset(self) -> None:
        self.accounts.clear()
        self.tokens.clear()
        self.grants.clear()
        self.token_lifetime = 3600
        self.script.clear()
        self.requests.clear()

    def reply(self, *replies: Reply) -> None:
        self.script.extend(replies)

    def key_file(self, name: str = "donatello", projects: tuple[str, ...] = (PROJECT,)) -> str:
        """A new service account's key file (JSON) whose ``token_uri`` is this stub; it may predict in
        ``projects``."""
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        email = f"{name}@{PROJECT}.iam.gserviceaccount.com"
        key_id = secrets.token_hex(20)
        self.accounts[email] = Account(email, key_id, private.public_key(), set(projects))
        pem = private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        return json.dumps(
            {
                "type": "service_account",
                "project_id": PROJECT,
                "private_key_id": key_id,
                "private_key": pem,
                "client_email": email,
                "client_id": str(secrets.randbelow(10**20)),
                "auth_uri": "https://accounts.google.com/o/oauth2/auth",
                "token_uri": f"{self.endpoint}/token",
            }
        )

    async def _token(self, request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        if form.get("grant_type") != JWT_GRANT:
            return _oauth_error("unsupported_grant_type", f"Invalid grant_type: {form.get('grant_type')}")
        assertion = form.get("assertion", "")
        try:
            unverified = jwt.decode(assertion, options={"verify_signature": False})
            header = jwt.get_unverified_header(assertion)
        except jwt.PyJWTError:
            return _oauth_error("invalid_request", "Invalid JWT: malformed")
        account = self.accounts.get(str(unverified.get("iss")))
        if account is None or header.get("kid") != account.key_id:
            return _oauth_error("invalid_grant", "Invalid grant: account not found")
        try:
            claims = jwt.decode(assertion, account.public_key, algorithms=["RS256"], audience=TOKEN_AUDIENCE)
        except jwt.PyJWTError:
            return _oauth_error("invalid_grant", "Invalid JWT Signature.")
        if claims["exp"] - claims["iat"] > 3600:
            return _oauth_error(
                "invalid_grant", "Invalid JWT: Token must be a short-lived token (60 minutes)"
            )
        if CLOUD_PLATFORM not in str(claims.get("scope", "")).split():
            return _oauth_error("invalid_scope", "Invalid OAuth scope or ID token audience provided.")
        token = f"ya29.stub-{secrets.token_urlsafe(24)}"
        self.tokens[token] = (account.email, time.time() + self.token_lifetime)
        self.grants.append(account.email)
        return JSONResponse(
            {"access_token": token, "expires_in": self.token_lifetime, "token_type": "Bearer"}
        )

    async def _generate(self, request: Request) -> Response:
        raw = await request.body()
        try:
            payload: Any = json.loads(raw)
        except ValueError:
            payload = None
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.requests.append(
            Recorded(request.url.path, headers, payload if isinstance(payload, dict) else {})
        )
        scheme, _, token = headers.get("authorization", "").partition(" ")
        holder = self.tokens.get(token) if scheme == "Bearer" else None
        if holder is None or holder[1] < time.time():
            return JSONResponse(google_error(401, "UNAUTHENTICATED", UNAUTHENTICATED), status_code=401)
        project, location = request.path_params["project"], request.path_params["location"]
        model, _, method = request.path_params["action"].partition(":")
        resource = f"projects/{project}/locations/{location}/publishers/google/models/{model}"
        if project not in self.accounts[holder[0]].projects:
            message = f"Permission 'aiplatform.endpoints.predict' denied on resource '//aiplatform.googleapis.com/{resource}' (or it may not exist)."
            return JSONResponse(google_error(403, "PERMISSION_DENIED", message), status_code=403)
        if method != "generateContent" or location not in (LOCATION, "global") or model not in MODELS:
            message = f"Publisher Model `{resource}` not found."
            return JSONResponse(google_error(404, "NOT_FOUND", message), status_code=404)
        if (problem := refusal(payload, model)) is not None:
            return JSONResponse(google_error(400, "INVALID_ARGUMENT", problem), status_code=400)
        reply = self.script.pop(0) if self.script else Reply()
        return JSONResponse(reply.body or success(payload, model), status_code=reply.status)


def refusal(body: Any, model: str) -> str | None:
    """The INVALID_ARGUMENT message for this request, or None when the model accepts it."""
    if not isinstance(body, dict):
        return "Invalid JSON payload received. Expected an object."
    if (unknown := next((k for k in body if k not in REQUEST_FIELDS), None)) is not None:
        return f'Invalid JSON payload received. Unknown name "{unknown}": Cannot find field.'
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        return "Unable to submit request because it must include at least one parts field."
    for content in contents:
        parts = content.get("parts") if isinstance(content, dict) else None
        if content.get("role") not in ("user", None) or not isinstance(parts, list) or not parts:
            return "Unable to submit request because it must include at least one parts field."
    config = body.get("generationConfig", {})
    unknown = next((k for k in config if k not in CONFIG_FIELDS), None)
    if unknown is not None:
        return f"Invalid JSON payload received. Unknown name \"{unknown}\" at 'generation_config': Cannot find field."
    modalities = config.get("responseModalities", ["TEXT"])
    if not set(modalities) <= {"TEXT", "IMAGE"} or "IMAGE" not in modalities:
        return "Model only supports response modalities that include IMAGE."
    if "seed" in config and (not isinstance(config["seed"], int) or isinstance(config["seed"], bool)):
        return "Invalid value at 'generation_config.seed' (TYPE_INT32)"
    image = config.get("imageConfig", {})
    allowed = {"aspectRatio", "imageSize"} if "3-pro" in model else {"aspectRatio"}
    if (unknown := next((k for k in image if k not in allowed), None)) is not None:
        return (
            f"Invalid JSON payload received. Unknown name \"{unknown}\" at 'generation_config.image_config'."
        )
    if image.get("aspectRatio", "1:1") not in ASPECT_RATIOS:
        return f"Unsupported aspect ratio: {image.get('aspectRatio')}"
    return None


def success(body: dict[str, Any], model: str) -> dict[str, Any]:
    ratio = body.get("generationConfig", {}).get("imageConfig", {}).get("aspectRatio", "1:1")
    buffer = io.BytesIO()
    Image.new("RGB", ASPECT_RATIOS[ratio], (20, 160, 90)).save(buffer, format="PNG")
    text = " ".join(p.get("text", "") for c in body["contents"] for p in c["parts"])
    prompt_tokens = max(1, len(text) // 4)
    return {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [
                        {
                            "inlineData": {
                                "mimeType": "image/png",
                                "data": base64.b64encode(buffer.getvalue()).decode(),
                            }
                        }
                    ],
                },
                "finishReason": "STOP",
            }
        ],
        "usageMetadata": {
            "promptTokenCount": prompt_tokens,
            "candidatesTokenCount": IMAGE_TOKENS,
            "totalTokenCount": prompt_tokens + IMAGE_TOKENS,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt_tokens}],
            "candidatesTokensDetails": [{"modality": "IMAGE", "tokenCount": IMAGE_TOKENS}],
        },
        "modelVersion": model,
        "responseId": secrets.token_urlsafe(12),
    }


def _oauth_error(error: str, description: str) -> Response:
    return JSONResponse({"error": error, "error_description": description}, status_code=400)
