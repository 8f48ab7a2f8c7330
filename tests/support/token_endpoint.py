"""A loopback managed-identity token endpoint, as App Service and Container Apps run one.

The real ``azure-identity`` SDK finds it through ``IDENTITY_ENDPOINT`` and ``IDENTITY_HEADER`` and asks
``GET {IDENTITY_ENDPOINT}?api-version=2019-08-01&resource=<resource>[&client_id=<id>]`` with the header
``X-IDENTITY-HEADER``; the answer is ``{"access_token", "expires_on": "<epoch seconds>", "resource",
"token_type": "Bearer", "client_id"}``. As strict as the service: a wrong or missing header is 401, another
api-version or no resource is 400. Every token request is counted, and the tokens handed out are
remembered by resource so a stub of a service can check the bearer it is sent.
"""

from __future__ import annotations

import secrets
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest
from aiohttp import web

API_VERSION = "2019-08-01"
SYSTEM_IDENTITY = "7d1b6f5e-0000-4000-8000-5a5e5e5e0001"


@dataclass
class TokenRequest:
    resource: str
    client_id: str | None


@dataclass
class TokenEndpoint:
    header: str = field(default_factory=lambda: secrets.token_hex(16))
    port: int = 0
    lifetime_seconds: int = 3600  # of the next tokens handed out
    requests: list[TokenRequest] = field(default_factory=list)
    issued: dict[str, tuple[str, str]] = field(default_factory=dict)  # token -> (resource, client id)
    expires_on: int = 0  # of the last token handed out, in epoch seconds as the answer says

    def until_expired(self) -> float:
        """Seconds until the last token handed out has expired (what a test waits, to the instant)."""
        return max(0.0, self.expires_on - time.time()) + 0.05

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/msi/token"

    def asked_for(self, resource: str) -> int:
        return sum(1 for request in self.requests if request.resource == resource)

    def resource_of(self, authorization: str | None) -> str | None:
        """The resource a ``Bearer <token>`` header was issued for; None for anything else."""
        scheme, _, token = (authorization or "").partition(" ")
        found = self.issued.get(token) if scheme == "Bearer" else None
        return found[0] if found else None

    async def handle(self, request: web.Request) -> web.Response:
        if request.headers.get("X-IDENTITY-HEADER") != self.header:
            return _error(401, "The X-IDENTITY-HEADER header is missing or does not match")
        if request.query.get("api-version") != API_VERSION:
            return _error(400, f"api-version must be {API_VERSION}")
        resource = request.query.get("resource")
        if not resource:
            return _error(400, "resource is required")
        client_id = request.query.get("client_id")
        self.requests.append(TokenRequest(resource, client_id))
        token = f"mi-{secrets.token_urlsafe(24)}"
        self.issued[token] = (resource, client_id or SYSTEM_IDENTITY)
        self.expires_on = int(time.time()) + self.lifetime_seconds
        return web.json_response(
            {
                "access_token": token,
                "expires_on": str(self.expires_on),
                "resource": resource,
                "token_type": "Bearer",
                "client_id": client_id or SYSTEM_IDENTITY,
            }
        )


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"statusCode": status, "message": message}, status=status)


@asynccontextmanager
async def serving(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[TokenEndpoint]:
    """The endpoint on a free loopback port, named in this process's environment as App Service does."""
    endpoint = TokenEndpoint()
    app = web.Application()
    app.router.add_get("/msi/token", endpoint.handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
    await runner.setup()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    endpoint.port = listener.getsockname()[1]
    await web.SockSite(runner, listener).start()
    point_identity_at(monkeypatch, endpoint.url, endpoint.header)
    try:
        yield endpoint
    finally:
        await runner.cleanup()


def point_identity_at(monkeypatch: pytest.MonkeyPatch, url: str, header: str) -> None:
    """Managed identity as App Service / Container Apps announce it; nothing else the SDK could try."""
    monkeypatch.setenv("IDENTITY_ENDPOINT", url)
    monkeypatch.setenv("IDENTITY_HEADER", header)
    for name in ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_FEDERATED_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
