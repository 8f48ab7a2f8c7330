"""The Key Vault key ring against a loopback HTTPS stub of the Key Vault secrets REST API.

No Key Vault emulator exists, so the stub answers ``GET /secrets/{name}/{version}?api-version=…`` the way Key
Vault does — including its 401 authentication challenge — over TLS from a ``trustme`` CA. The real SDK client
(``azure-keyvault-secrets`` aio) talks to it through an aiohttp session that trusts that CA and resolves the
vault's host name to 127.0.0.1; a credential hands out a static token, so nothing ever reaches Azure.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import socket
import ssl
import time
from base64 import b64encode
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
import trustme
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from azure.core.credentials import AccessToken
from azure.core.pipeline.transport import AioHttpTransport

from donatello.sealing import KeyUnavailable, PromptSealer, SealBroken
from donatello.sealing.key_vault import AzureKeyVaultKeyRing, key_vault_client

HOST = "kv.localhost"
TOKEN = "static-test-token"
TENANT = "72f988bf-0000-0000-0000-2d7cd011db47"
SECRET = "donatello-prompt-kek"
CONTEXT = "org:7f1c/generation:42"
PROMPT = "A koala in a business suit, oil on canvas"
CACHE_SECONDS = 300.0


@dataclass
class StubVault:
    """Secrets as Key Vault keeps them: versions per name, the last one the latest."""

    port: int = 0
    versions: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    refusing: set[str] = field(default_factory=set)
    hanging: set[str] = field(default_factory=set)
    served: list[str] = field(default_factory=list)  # authenticated requests, "GET /secrets/name/version"
    challenged: int = 0
    release: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        return f"https://{HOST}:{self.port}"

    def add_version(self, name: str = SECRET, value: str | None = None) -> str:
        version = secrets.token_hex(16)
        self.versions.setdefault(name, []).append(
            (version, value or b64encode(secrets.token_bytes(32)).decode())
        )
        return version

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if "api-version" not in request.query:
            return _error(400, "BadParameter", "api-version is required")
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            self.challenged += 1
            challenge = (
                f'Bearer authorization="https://login.microsoftonline.com/{TENANT}", '
                f'resource="https://localhost:{self.port}"'
            )
            return web.Response(status=401, headers={"WWW-Authenticate": challenge})
        _, collection, name, *rest = request.path.split("/")
        version = rest[0] if rest else ""
        self.served.append(f"GET /{collection}/{name}/{version}")
        if name in self.hanging:
            await self.release.wait()
        if name in self.refusing:
            return _error(403, "Forbidden", f"The caller does not have secrets get permission on {self.url}")
        stored = dict(self.versions.get(name, []))
        if not stored or (version and version not in stored):
            return _error(
                404, "SecretNotFound", f"A secret with (name/id) {name} was not found in this key vault."
            )
        version = version or self.versions[name][-1][0]
        return web.json_response(
            {
                "value": stored[version],
                "id": f"{self.url}/secrets/{name}/{version}",
                "attributes": {"enabled": True, "created": 1_700_000_000, "updated": 1_700_000_000},
                "tags": {},
            }
        )


def _error(status: int, code: str, message: str) -> web.Response:
    body = json.dumps({"error": {"code": code, "message": message}})
    return web.Response(status=status, text=body, content_type="application/json")


class StaticToken:
    """An AsyncTokenCredential that never calls Entra ID; it remembers what it was asked for."""

    def __init__(self) -> None:
        self.scopes: list[str] = []

    async def get_token(self, *scopes: str, **_: Any) -> AccessToken:
        self.scopes.extend(scopes)
        return AccessToken(TOKEN, int(time.time()) + 3600)

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> StaticToken:
        return self

    async def __aexit__(self, *_: object) -> None:
        return None


class Loopback(AbstractResolver):
    """Resolves the stub vault's name to 127.0.0.1 and nothing else, so no request can leave the machine."""

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET) -> list[ResolveResult]:
        if host != HOST:
            raise OSError(f"{host} is not the stub vault")
        return [
            ResolveResult(hostname=host, host="127.0.0.1", port=port, family=socket.AF_INET, proto=0, flags=0)
        ]

    async def close(self) -> None:
        return None


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
async def vault(ca: trustme.CA) -> AsyncIterator[StubVault]:
    stub = StubVault()
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(HOST).configure_cert(server_tls)
    app = web.Application()
    app.router.add_route("GET", "/secrets/{tail:.*}", stub.handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
    await runner.setup()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    stub.port = listener.getsockname()[1]
    await web.SockSite(runner, listener, ssl_context=server_tls).start()
    try:
        yield stub
    finally:
        stub.release.set()
        await runner.cleanup()


@pytest.fixture
async def http(ca: trustme.CA) -> AsyncIterator[aiohttp.ClientSession]:
    client_tls = ssl.create_default_context()
    ca.configure_trust(client_tls)
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(resolver=Loopback(), ssl=client_tls)
    ) as session:
        yield session


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def credential() -> StaticToken:
    return StaticToken()


@pytest.fixture
def connect(vault: StubVault, http: aiohttp.ClientSession, clock: Clock, credential: StaticToken) -> Any:
    def ring(*, url: str | None = None, timeout: float = 10.0) -> AzureKeyVaultKeyRing:
        client = key_vault_client(
            url or vault.url,
            credential,
            retries=0,
            transport=AioHttpTransport(session=http, session_owner=False),
        )
        return AzureKeyVaultKeyRing(
            client, secret_name=SECRET, cache_seconds=CACHE_SECONDS, timeout_seconds=timeout, clock=clock
        )

    return ring


async def test_prompts_seal_and_open_with_a_kek_from_key_vault(
    vault: StubVault, connect: Any, credential: StaticToken, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    version = vault.add_version()
    sealer = PromptSealer(connect())

    sealed = await sealer.seal(PROMPT, context=CONTEXT)

    assert sealed.key_id == f"{SECRET}/{version}"
    assert len(sealed.key_id) <= 100
    assert await sealer.open(sealed.envelope, context=CONTEXT) == PROMPT
    with pytest.raises(SealBroken):
        await sealer.open(sealed.envelope, context="org:other/generation:42")
    assert vault.challenged >= 1  # the SDK went through Key Vault's authentication challenge …
    assert credential.scopes and set(credential.scopes) == {f"https://localhost:{vault.port}/.default"}
    assert vault.served == [f"GET /secrets/{SECRET}/"]  # … and fetched the latest version once
    logged = caplog.text + "".join(repr(record.__dict__) for record in caplog.records)
    assert PROMPT not in logged and vault.versions[SECRET][0][1] not in logged and TOKEN not in logged
    await sealer.aclose()


async def test_fetched_keks_are_reused_until_the_cache_time_is_up(
    vault: StubVault, connect: Any, clock: Clock
) -> None:
    vault.add_version()
    sealer = PromptSealer(connect())

    envelopes = await asyncio.gather(*(sealer.seal(f"{PROMPT} {i}", context=CONTEXT) for i in range(20)))
    for sealed in envelopes:
        await sealer.open(sealed.envelope, context=CONTEXT)
    assert len(vault.served) == 1

    clock.now += CACHE_SECONDS + 1
    await sealer.seal(PROMPT, context=CONTEXT)
    assert len(vault.served) == 2
    await sealer.aclose()


async def test_a_new_secret_version_becomes_the_active_key_and_old_prompts_still_open(
    vault: StubVault, connect: Any, clock: Clock
) -> None:
    first = vault.add_version()
    server = PromptSealer(connect())
    old = await server.seal(PROMPT, context=CONTEXT)

    second = vault.add_version()  # the operator rotates in Key Vault
    assert (
        await server.seal(PROMPT, context=CONTEXT)
    ).key_id == f"{SECRET}/{first}"  # until the cache lapses
    clock.now += CACHE_SECONDS + 1
    new = await server.seal(PROMPT, context=CONTEXT)

    assert new.key_id == f"{SECRET}/{second}"
    restarted = PromptSealer(connect())
    assert await restarted.open(old.envelope, context=CONTEXT) == PROMPT
    assert await restarted.open(new.envelope, context=CONTEXT) == PROMPT
    assert f"GET /secrets/{SECRET}/{first}" in vault.served  # the old KEK fetched by its version
    await server.aclose()
    await restarted.aclose()


async def test_key_vault_refusing_access_is_a_key_unavailable_error(vault: StubVault, connect: Any) -> None:
    vault.add_version()
    vault.refusing.add(SECRET)
    sealer = PromptSealer(connect())

    with pytest.raises(KeyUnavailable) as refused:
        await sealer.seal(PROMPT, context=CONTEXT)

    assert refused.value.reason == "forbidden"
    problem = refused.value.problem()
    assert problem["status"] == 503
    assert problem["type"].endswith("/key-unavailable")
    assert SECRET not in json.dumps(problem) and vault.url not in json.dumps(problem)  # operator detail only
    await sealer.aclose()


async def test_a_missing_secret_is_key_unavailable_and_a_deleted_version_a_broken_seal(
    vault: StubVault, connect: Any
) -> None:
    sealer = PromptSealer(connect())
    with pytest.raises(KeyUnavailable) as missing:
        await sealer.seal(PROMPT, context=CONTEXT)
    assert missing.value.reason == "not-found"

    vault.add_version()
    sealed = await sealer.seal(PROMPT, context=CONTEXT)
    vault.versions[SECRET].clear()  # the version was purged from the vault
    fresh = PromptSealer(connect())
    with pytest.raises(SealBroken):
        await fresh.open(sealed.envelope, context=CONTEXT)
    await sealer.aclose()
    await fresh.aclose()


async def test_a_key_vault_that_does_not_answer_in_time_is_key_unavailable(
    vault: StubVault, connect: Any
) -> None:
    vault.add_version()
    vault.hanging.add(SECRET)
    sealer = PromptSealer(connect(timeout=0.5))

    with pytest.raises(KeyUnavailable) as timed_out:
        await sealer.seal(PROMPT, context=CONTEXT)

    assert timed_out.value.reason == "timeout"
    await sealer.aclose()


async def test_an_unreachable_key_vault_is_key_unavailable(connect: Any) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    sealer = PromptSealer(connect(url=f"https://{HOST}:{port}"))

    with pytest.raises(KeyUnavailable) as unreachable:
        await sealer.seal(PROMPT, context=CONTEXT)

    assert unreachable.value.reason == "unreachable"
    await sealer.aclose()


async def test_a_secret_that_is_not_a_256_bit_key_is_refused(vault: StubVault, connect: Any) -> None:
    vault.add_version(value="correct horse battery staple")
    sealer = PromptSealer(connect())

    with pytest.raises(KeyUnavailable) as malformed:
        await sealer.seal(PROMPT, context=CONTEXT)

    assert malformed.value.reason == "malformed"
    await sealer.aclose()
