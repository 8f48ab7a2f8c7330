"""A loopback stub of the Azure OpenAI images API, served by uvicorn on a free port in a thread.

Each test scripts the replies it wants (``stub.reply(...)``); with nothing scripted the stub answers a
plain b64 success. Every request is recorded so tests can check what the adapter sent.
"""

from __future__ import annotations

import asyncio
import base64
import io
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

Body = dict[str, Any] | Callable[[dict[str, Any], str], dict[str, Any]]


def png(colour: tuple[int, int, int] = (200, 30, 30), size: tuple[int, int] = (8, 8)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


@dataclass
class Reply:
    status: int = 200
    body: Body | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_seconds: float = 0.0


@dataclass
class Recorded:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: dict[str, Any]


SAFE = {
    category: {"filtered": False, "severity": "safe"}
    for category in ("hate", "self_harm", "sexual", "violence")
}


def success_b64(
    *, revised_prompt: str = "a revised prompt", content_filter_results: dict[str, Any] | None = None
) -> Reply:
    def body(request: dict[str, Any], base_url: str) -> dict[str, Any]:
        return {
            "created": 1700000000,
            "data": [
                {
                    "b64_json": base64.b64encode(png((10 * i, 100, 200))).decode(),
                    "revised_prompt": revised_prompt,
                    "prompt_filter_results": SAFE,
                    "content_filter_results": content_filter_results or SAFE,
                }
                for i in range(int(request.get("n", 1)))
            ],
        }

    return Reply(body=body)


def success_url() -> Reply:
    def body(request: dict[str, Any], base_url: str) -> dict[str, Any]:
        return {
            "created": 1700000000,
            "data": [{"url": f"{base_url}/blobs/image-{i}.png"} for i in range(int(request.get("n", 1)))],
        }

    return Reply(body=body)


def rate_limited(*, retry_after: str | None = None, retry_after_ms: str | None = None) -> Reply:
    headers = {}
    if retry_after is not None:
        headers["retry-after"] = retry_after
    if retry_after_ms is not None:
        headers["retry-after-ms"] = retry_after_ms
    body = {"error": {"code": "429", "message": "Requests to the images API have exceeded the rate limit."}}
    return Reply(status=429, body=body, headers=headers)


def server_error(status: int = 500) -> Reply:
    return Reply(
        status=status, body={"error": {"code": "InternalServerError", "message": "The server had an error"}}
    )


def slow(seconds: float = 1.0) -> Reply:
    return Reply(delay_seconds=seconds, body=success_b64().body)


def content_filter(severity: str = "high") -> Reply:
    results = {
        "hate": {"filtered": False, "severity": "safe"},
        "self_harm": {"filtered": False, "severity": "safe"},
        "sexual": {"filtered": True, "severity": severity},
        "violence": {"filtered": False, "severity": "low"},
    }
    body = {
        "error": {
            "code": "content_policy_violation",
            "message": "Your request was rejected as a result of our safety system.",
            "inner_error": {
                "code": "ResponsibleAIPolicyViolation",
                "content_filter_results": results,
            },
        }
    }
    return Reply(status=400, body=body)


class AzureOpenAIStub:
    def __init__(self) -> None:
        self.script: list[Reply] = []
        self.requests: list[Recorded] = []
        self.downloads: list[str] = []
        self.base_url = ""
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.app = Starlette(
            routes=[
                Route(
                    "/openai/deployments/{deployment}/images/generations", self._generate, methods=["POST"]
                ),
                Route("/blobs/{name}", self._blob, methods=["GET"]),
            ]
        )

    def endpoint(self, deployment: str = "dall-e-3") -> str:
        return f"{self.base_url}/openai/deployments/{deployment}"

    def reply(self, *replies: Reply) -> None:
        self.script.extend(replies)

    def reset(self) -> None:
        self.script.clear()
        self.requests.clear()
        self.downloads.clear()

    async def _generate(self, request: Request) -> Response:
        payload = await request.json()
        self.requests.append(
            Recorded(
                path=request.url.path,
                query=dict(request.query_params),
                headers={k.lower(): v for k, v in request.headers.items()},
                json=payload,
            )
        )
        reply = self.script.pop(0) if self.script else success_b64()
        if reply.delay_seconds:
            await asyncio.sleep(reply.delay_seconds)
        body = reply.body(payload, self.base_url) if callable(reply.body) else reply.body
        return JSONResponse(body or {}, status_code=reply.status, headers=reply.headers)

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
