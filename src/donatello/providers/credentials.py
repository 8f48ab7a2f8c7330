"""Model credentials: what a call sends to prove who it is, obtained from the model's configured credential
just before the call. Nothing here is stored, returned or logged.

* ``key-vault``: the secret is read with ``azure-keyvault-secrets`` as the app's Entra identity
  (``DefaultAzureCredential``: its managed identity in Azure) and sent as ``api-key``; a read secret is
  used for ``provider_secret_cache_seconds``, so a rotated key takes effect within that time.
* ``managed-identity``: no key at all; an Entra token for the scope (Cognitive Services by default) sent
  as ``Authorization: Bearer``. The token comes from one process-wide credential (one per user-assigned
  identity), which caches it and fetches a new one shortly before it expires; ``headers()`` asks it
  before every call, which is free while the cached token is good.
* ``environment``: a key the platform mounts as an environment variable (``config.mounted_secret``),
  sent as ``api-key``.
* ``aws-keys``, ``google-service-account``, ``google-default``: the other clouds' credentials
  (:mod:`donatello.providers.cloud_credentials`), their secrets read from environment variables or Key
  Vault the same way; a service account's token is obtained here first, as a managed identity's is.

The way is decided by configuration, never by trying one and falling back to another. A credential that
cannot be obtained raises ``CredentialUnavailable``: the caller makes no call and the model unavailable.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from azure.core.credentials_async import AsyncTokenCredential
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
)
from azure.core.pipeline.transport import AsyncHttpTransport
from azure.identity.aio import DefaultAzureCredential
from azure.keyvault.secrets.aio import SecretClient
from pydantic import ValidationError

from donatello.config import Settings, mounted_secret
from donatello.providers import cloud_credentials as clouds
from donatello.providers.contract import ApiKeyHeader, ProviderCredential
from donatello.providers.credential_schemas import (
    CREDENTIAL,
    AwsKeysCredential,
    EnvironmentCredential,
    GoogleDefaultCredential,
    GoogleServiceAccountCredential,
    KeyVaultCredential,
    ManagedIdentityCredential,
    key_vault_secret,
)
from donatello.providers.errors import CredentialUnavailable, ProviderUnavailable


@dataclass(frozen=True)
class BearerToken:
    """An Entra token for ``scope``, asked of the process-wide credential before every call. One per
    identity and scope, asked one caller at a time: jobs starting together (or a token expiring under
    load) fetch one token, not one each; asking for a cached token costs nothing."""

    source: AsyncTokenCredential = field(repr=False)
    scope: str
    kind: str = "managed-identity"
    _asking: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False, compare=False)

    async def headers(self) -> dict[str, str]:
        """Raises ``ProviderUnavailable`` (retried, then the next candidate) in the rare case that a token
        obtained at selection cannot be renewed by the time of the call."""
        try:
            return await self.checked()
        except CredentialUnavailable as error:
            raise ProviderUnavailable(error.reason) from error

    async def checked(self) -> dict[str, str]:
        try:
            async with self._asking:
                token = await self.source.get_token(self.scope)
        except AzureError as error:
            raise CredentialUnavailable(_no_token(self.scope), _described(error)) from error
        return {"Authorization": f"Bearer {token.token}"}


class ModelCredentials:
    """The process's model credentials: opened once (``Resources``), closed at shutdown.

    ``vault_transport`` replaces the Key Vault client's HTTP transport (tests: a loopback vault).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        vault_transport: AsyncHttpTransport[Any, Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._vault_transport = vault_transport
        self._clock = clock
        self._identities: dict[str | None, DefaultAzureCredential] = {}
        self._bearers: dict[tuple[str | None, str], BearerToken] = {}
        self._vaults: dict[str, SecretClient] = {}
        self._secrets: dict[str, tuple[float, str]] = {}  # secret URL -> (good until, value)
        self._reading = asyncio.Lock()  # a cold cache under load reads Key Vault once per secret
        self._google: dict[str, clouds.GoogleToken] = {}  # key file content (or "default") -> its token
        self._finding_google = asyncio.Lock()

    async def resolve(self, configured: dict[str, Any]) -> ProviderCredential:
        """What calls to the model send, ready to use; ``CredentialUnavailable`` when it cannot be had."""
        try:
            credential = CREDENTIAL.validate_python(configured)
        except ValidationError as error:
            raise CredentialUnavailable(
                "its configured credential is not valid; set it again", _validation(error)
            ) from None
        if isinstance(credential, KeyVaultCredential):
            return ApiKeyHeader(await self._secret(credential.secret), kind="key-vault")
        if isinstance(credential, EnvironmentCredential):
            return ApiKeyHeader(self._mounted(credential.variable), kind="environment")
        if isinstance(credential, AwsKeysCredential):
            return await self._aws_keys(credential)
        if isinstance(credential, GoogleServiceAccountCredential | GoogleDefaultCredential):
            return await self._google_token(credential)
        return await self._token(credential)

    async def _aws_keys(self, credential: AwsKeysCredential) -> clouds.AwsKeys:
        if credential.secret is not None:
            where = f"the Key Vault secret {key_vault_secret(credential.secret)[1]}"
            return clouds.aws_keys_from_json(await self._secret(credential.secret), where)
        assert credential.access_key_id_variable and credential.secret_access_key_variable
        token = credential.session_token_variable
        return clouds.AwsKeys(
            self._mounted(credential.access_key_id_variable),
            self._mounted(credential.secret_access_key_variable),
            self._mounted(token) if token else None,
        )

    async def _google_token(
        self, credential: GoogleServiceAccountCredential | GoogleDefaultCredential
    ) -> clouds.GoogleToken:
        """One token holder per key (a rotated key is a new one); its token obtained now, so a model
        whose key is refused is never called."""
        if isinstance(credential, GoogleDefaultCredential):
            key = "default"
        elif credential.secret is not None:
            key = await self._secret(credential.secret)
        else:
            key = self._mounted(str(credential.variable))
        async with self._finding_google:  # jobs starting together share one holder, hence one token
            if (token := self._google.get(key)) is None:
                if isinstance(credential, GoogleDefaultCredential):
                    token = clouds.GoogleToken(await clouds.application_default(), kind="google-default")
                else:
                    where = f"the environment variable {credential.variable}"
                    if credential.secret is not None:
                        where = f"the Key Vault secret {key_vault_secret(credential.secret)[1]}"
                    token = clouds.GoogleToken(clouds.service_account_key(key, where))
                self._google[key] = token
        await token.checked()
        return token

    async def aclose(self) -> None:
        for client in self._vaults.values():
            await client.close()
        for identity in self._identities.values():
            await identity.close()
        self._vaults.clear()
        self._identities.clear()
        self._bearers.clear()
        self._google.clear()

    def _identity(self, client_id: str | None) -> DefaultAzureCredential:
        """One credential per identity for the whole process: its token cache is shared by every call."""
        if (found := self._identities.get(client_id)) is None:
            options: dict[str, Any] = {"retry_total": self._settings.provider_identity_retries}
            if client_id is not None:
                options["managed_identity_client_id"] = client_id
            found = self._identities[client_id] = DefaultAzureCredential(**options)
        return found

    async def _token(self, credential: ManagedIdentityCredential) -> BearerToken:
        client_id = str(credential.client_id) if credential.client_id else None
        key = (client_id, credential.scope)
        if (bearer := self._bearers.get(key)) is None:
            bearer = self._bearers[key] = BearerToken(self._identity(client_id), credential.scope)
        await bearer.checked()  # obtained now (and cached), so a model without a token is never called
        return bearer

    def _mounted(self, variable: str) -> str:
        value = mounted_secret(variable)
        if value is None:
            raise CredentialUnavailable(
                f"the environment variable {variable} holding its key is not set",
                f"environment variable {variable} is unset or empty in this process",
            )
        return value.get_secret_value()

    async def _secret(self, url: str) -> str:
        if (value := self._fresh(url)) is not None:
            return value
        async with self._reading:
            if (value := self._fresh(url)) is not None:
                return value
            value = await self._read(url)
            self._secrets[url] = (self._clock() + self._settings.provider_secret_cache_seconds, value)
            return value

    def _fresh(self, url: str) -> str | None:
        entry = self._secrets.get(url)
        return entry[1] if entry is not None and entry[0] > self._clock() else None

    async def _read(self, url: str) -> str:
        vault, name, version = key_vault_secret(url)
        timeout = self._settings.key_vault_timeout_seconds
        try:
            secret = await self._vault(vault).get_secret(
                name, version, connection_timeout=timeout, read_timeout=timeout
            )
        except AzureError as error:
            raise CredentialUnavailable(_vault_reason(error, name), _described(error)) from error
        if not secret.value:
            raise CredentialUnavailable(f"the Key Vault secret {name} is empty", f"{url} has an empty value")
        return secret.value

    def _vault(self, vault_url: str) -> SecretClient:
        if (client := self._vaults.get(vault_url)) is None:
            options: dict[str, Any] = {
                "retry_total": self._settings.key_vault_retries,
                "verify_challenge_resource": self._settings.provider_key_vault_verify_challenge_resource,
            }
            if self._vault_transport is not None:
                options["transport"] = self._vault_transport
            client = self._vaults[vault_url] = SecretClient(vault_url, self._identity(None), **options)
        return client


def _vault_reason(error: AzureError, name: str) -> str:
    if isinstance(error, ResourceNotFoundError):
        return f"the Key Vault secret {name} does not exist"
    if isinstance(error, ClientAuthenticationError) and getattr(error, "status_code", None) is None:
        return "the app's identity got no token for Key Vault"
    if isinstance(error, HttpResponseError) and error.status_code in (401, 403):
        return f"the app's identity may not read the Key Vault secret {name} (HTTP {error.status_code})"
    if isinstance(error, HttpResponseError) and error.status_code is not None:
        return f"Key Vault answered HTTP {error.status_code} for the secret {name}"
    return "Key Vault could not be reached"


def _no_token(scope: str) -> str:
    return f"the app's managed identity got no token for {scope}"


def _described(error: Exception) -> str:
    """The error for administrators: its type, status and first line (SDK messages carry no secret)."""
    status = getattr(error, "status_code", None)
    message = str(getattr(error, "message", None) or error).strip().splitlines()
    head = f"{type(error).__name__}" + (f" (HTTP {status})" if status else "")
    return f"{head}: {message[0] if message else ''}"[:2000]


def _validation(error: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())[:2000]
