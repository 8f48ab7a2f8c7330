"""Prompt KEKs held as Azure Key Vault secrets — a thin adapter over ``azure-keyvault-secrets`` (aio).

Each KEK is one *version* of one secret whose value is 32 random bytes in standard base64
(``openssl rand -base64 32``). The key id stored with an envelope is ``<secret name>/<version>``: the latest
version seals, any enabled version opens. Rotation is adding a version in Key Vault; old versions must stay
enabled for as long as prompts sealed under them are kept.

Fetched KEKs are cached in memory for ``cache_seconds``, so sealing does not call Key Vault per prompt, a new
version becomes active within that time, and a disabled version stops opening within it too. Every SDK
failure becomes ``KeyUnavailable`` with a reason (forbidden, not-found, timeout, unreachable, …).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import time
from collections.abc import Callable
from typing import Any

from azure.core.credentials_async import AsyncTokenCredential
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceRequestTimeoutError,
    ServiceResponseError,
    ServiceResponseTimeoutError,
)
from azure.core.pipeline.transport import AsyncHttpTransport
from azure.keyvault.secrets.aio import SecretClient

from donatello.sealing import envelope
from donatello.sealing.errors import KeyFault, KeyUnavailable
from donatello.sealing.keyring import KEK_BYTES, Kek


def key_vault_client(
    vault_url: str,
    credential: AsyncTokenCredential,
    *,
    retries: int,
    transport: AsyncHttpTransport[Any, Any] | None = None,
) -> SecretClient:
    """The SDK client with a bounded number of retries (timeouts are set per request by the key ring)."""
    options: dict[str, Any] = {"retry_total": retries}
    if transport is not None:
        options["transport"] = transport
    return SecretClient(vault_url, credential, **options)


class AzureKeyVaultKeyRing:
    """KEKs from the versions of one Key Vault secret, cached in memory for a while."""

    def __init__(
        self,
        client: SecretClient,
        *,
        secret_name: str,
        cache_seconds: float,
        timeout_seconds: float,
        credential: AsyncTokenCredential | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not envelope.valid_key_id(f"{secret_name}/{'0' * 32}"):
            raise ValueError(f"secret name {secret_name!r} does not make a key id of at most 100 characters")
        self._client = client
        self._credential = credential  # closed with the ring when the ring owns it
        self._secret_name = secret_name
        self._cache_seconds = cache_seconds
        # Per request rather than on the client, so they hold whichever transport the client was given.
        self._timeout_seconds = timeout_seconds
        self._clock = clock
        self._active: tuple[float, Kek] | None = None
        self._versions: dict[str, tuple[float, Kek]] = {}
        self._fetching = asyncio.Lock()  # one fetch at a time: a cold cache under load calls Key Vault once

    async def active(self) -> Kek:
        if (kek := self._fresh(self._active)) is not None:
            return kek
        async with self._fetching:
            if (kek := self._fresh(self._active)) is not None:
                return kek
            kek = await self._fetch(self._secret_name, None)
            expires = self._clock() + self._cache_seconds
            self._active = (expires, kek)
            self._versions[kek.id] = (expires, kek)
            return kek

    async def get(self, key_id: str) -> Kek:
        if (kek := self._fresh(self._versions.get(key_id))) is not None:
            return kek
        name, _, version = key_id.partition("/")
        if not name or not version or "/" in version:
            raise KeyUnavailable("not-found", key_id, "a Key Vault key id is <secret name>/<version>")
        async with self._fetching:
            if (kek := self._fresh(self._versions.get(key_id))) is not None:
                return kek
            kek = await self._fetch(name, version)
            self._versions[key_id] = (self._clock() + self._cache_seconds, kek)
            return kek

    async def aclose(self) -> None:
        await self._client.close()
        if self._credential is not None:
            await self._credential.close()

    def _fresh(self, entry: tuple[float, Kek] | None) -> Kek | None:
        if entry is None or entry[0] <= self._clock():
            return None
        return entry[1]

    async def _fetch(self, name: str, version: str | None) -> Kek:
        wanted = f"{name}/{version}" if version else name
        try:
            secret = await self._client.get_secret(
                name, version, connection_timeout=self._timeout_seconds, read_timeout=self._timeout_seconds
            )
        except AzureError as error:
            raise KeyUnavailable(_fault(error), wanted, f"Key Vault: {type(error).__name__}") from error
        key_id = f"{name}/{secret.properties.version}"
        try:
            material = base64.b64decode(secret.value or "", validate=True)
        except binascii.Error:
            material = b""
        if len(material) != KEK_BYTES:
            raise KeyUnavailable("malformed", key_id, "the secret is not 32 bytes in standard base64")
        return Kek(key_id, material)


def _fault(error: AzureError) -> KeyFault:
    if isinstance(error, ResourceNotFoundError):
        return "not-found"
    if isinstance(error, ClientAuthenticationError):
        return "forbidden"
    if isinstance(error, HttpResponseError):
        return "forbidden" if error.status_code in (401, 403) else "failed"
    if isinstance(error, ServiceRequestTimeoutError | ServiceResponseTimeoutError):
        return "timeout"
    if isinstance(error, ServiceRequestError | ServiceResponseError):
        return "unreachable"
    return "failed"
