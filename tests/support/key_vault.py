"""A loopback Azure Key Vault for model keys: TLS from a ``trustme`` CA under the vault's real host name.

The real ``azure-keyvault-secrets`` client reaches it through an aiohttp session that trusts the CA and
resolves ``*.vault.azure.net`` (any port it is asked for) to this server, so the secret URLs are exactly
those an administrator configures. It answers as Key Vault does:

* ``GET /secrets/{name}[/{version}]?api-version=…`` without a bearer token: 401 with the challenge
  ``WWW-Authenticate: Bearer authorization="https://login.microsoftonline.com/<tenant>",
  resource="https://vault.azure.net"``; the SDK then asks the app's identity for a Key Vault token
  (``tests.support.token_endpoint``) and repeats the request with it;
* a bearer that the token endpoint did not issue for ``https://vault.azure.net``: 401 again;
* a refused secret: 403 ``Forbidden``; an unknown one: 404 ``SecretNotFound``; else the latest (or the
  named) version as ``{"value", "id", "attributes"}``.

Because the challenge names ``vault.azure.net`` while the connection goes to loopback, tests set
``provider_key_vault_verify_challenge_resource`` off (the SDK's resource check), and only tests do.
"""

from __future__ import annotations

import json
import secrets
import socket
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import aiohttp
import trustme
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from azure.core.pipeline.transport import AioHttpTransport
from azure.keyvault.secrets._shared import http_challenge_cache

from tests.support.token_endpoint import TokenEndpoint

VAULT_HOST = "acme-kv.vault.azure.net"
VAULT_RESOURCE = "https://vault.azure.net"
TENANT = "72f988bf-0000-0000-0000-2d7cd011db47"


@dataclass
class LoopbackVault:
    identity: TokenEndpoint
    port: int = 0
    versions: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    refusing: set[str] = field(default_factory=set)
    challenged: int = 0
    served: list[str] = field(default_factory=list)  # "name/version" of each secret handed out

    def secret_url(self, name: str) -> str:
        return f"https://{VAULT_HOST}/secrets/{name}"

    def set_secret(self, name: str, value: str) -> str:
        """A new version, which becomes the latest (rotation)."""
        version = secrets.token_hex(16)
        self.versions.setdefault(name, []).append((version, value))
        return version

    async def handle(self, request: web.Request) -> web.Response:
        if "api-version" not in request.query:
            return _error(400, "BadParameter", "api-version is required")
        if self.identity.resource_of(request.headers.get("Authorization")) != VAULT_RESOURCE:
            self.challenged += 1
            challenge = (
                f'Bearer authorization="https://login.microsoftonline.com/{TENANT}", '
                f'resource="{VAULT_RESOURCE}"'
            )
            return web.Response(status=401, headers={"WWW-Authenticate": challenge})
        name, version = request.match_info["name"], request.match_info.get("version", "")
        if name in self.refusing:
            return _error(
                403,
                "Forbidden",
                f"The user, group or application does not have secrets get permission on key vault "
                f"'{VAULT_HOST.split('.')[0]}'.",
            )
        stored = dict(self.versions.get(name, []))
        if not stored or (version and version not in stored):
            return _error(
                404, "SecretNotFound", f"A secret with (name/id) {name} was not found in this key vault."
            )
        version = version or self.versions[name][-1][0]
        self.served.append(f"{name}/{version}")
        return web.json_response(
            {
                "value": stored[version],
                "id": f"https://{VAULT_HOST}/secrets/{name}/{version}",
                "attributes": {"enabled": True, "created": 1_700_000_000, "updated": 1_700_000_000},
                "tags": {},
            }
        )


def _error(status: int, code: str, message: str) -> web.Response:
    body = json.dumps({"error": {"code": code, "message": message}})
    return web.Response(status=status, text=body, content_type="application/json")


class _ToLoopback(AbstractResolver):
    """Resolves Key Vault host names to the loopback vault (its port, whatever the URL's), nothing else."""

    def __init__(self, port: int) -> None:
        self._port = port

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET) -> list[ResolveResult]:
        if not host.endswith(".vault.azure.net"):
            raise OSError(f"{host} is not the loopback vault")
        return [
            ResolveResult(
                hostname=host, host="127.0.0.1", port=self._port, family=socket.AF_INET, proto=0, flags=0
            )
        ]

    async def close(self) -> None:
        return None


@asynccontextmanager
async def serving(
    ca: trustme.CA, identity: TokenEndpoint
) -> AsyncIterator[tuple[LoopbackVault, AioHttpTransport]]:
    """The vault, and the transport through which the SDK reaches it."""
    # A new vault meets a client that has never seen it: the SDK keeps each vault's challenge for the whole
    # process (by address), and one an earlier vault left would skip the challenge flow a test counts.
    http_challenge_cache.clear()
    vault = LoopbackVault(identity)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(VAULT_HOST).configure_cert(server_tls)
    app = web.Application()
    app.router.add_get("/secrets/{name}", vault.handle)
    app.router.add_get(
        "/secrets/{name}/{version:[0-9a-f]*}", vault.handle
    )  # the SDK sends "name/" for the latest
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
    await runner.setup()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    vault.port = listener.getsockname()[1]
    await web.SockSite(runner, listener, ssl_context=server_tls).start()
    client_tls = ssl.create_default_context()
    ca.configure_trust(client_tls)
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(resolver=_ToLoopback(vault.port), ssl=client_tls)
    )
    try:
        yield vault, AioHttpTransport(session=session, session_owner=False)
    finally:
        await session.close()
        await runner.cleanup()
