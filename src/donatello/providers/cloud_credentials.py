"""Credentials of the non-Azure clouds, as calls use them. Nothing here is stored, returned or logged.

* ``AwsKeys`` — an access key pair (and a session token for temporary keys). Nothing is sent as a
  standing header: each request is signed with SigV4 by ``botocore``'s signer (``signed``), over its
  method, URL, headers and exact body bytes, for the service and region it goes to.
* ``GoogleToken`` — an OAuth access token from ``google-auth``: a service account's key is exchanged for
  a token at the key's ``token_uri`` (a signed JWT grant), or application default credentials (workload
  identity, the metadata server) give one. google-auth refreshes shortly before expiry; ``headers()`` asks
  it before every call, one caller at a time, in a thread (its transport is blocking).

Loading a key that is not a service-account key, or a token that cannot be had, raises
``CredentialUnavailable``: the model is made unavailable, with the reason, and never called.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from typing import Any

import google.auth
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials
from google.auth import exceptions as google_errors
from google.auth.credentials import Credentials as GoogleCredentials
from google.auth.transport.requests import Request as GoogleTransport
from google.oauth2 import service_account

from donatello.providers.errors import CredentialUnavailable, ProviderUnavailable

CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"

# botocore's signer logs the canonical request it signs at DEBUG, a session token among its headers:
# whatever the platform's log level, that logger never says more than INFO.
logging.getLogger("botocore.auth").setLevel(logging.INFO)


@dataclass(frozen=True)
class AwsKeys:
    access_key_id: str = field(repr=False)
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)
    kind: str = "aws-keys"

    async def headers(self) -> dict[str, str]:
        """No standing header: every request carries its own signature (``signed``)."""
        return {}

    def signed(
        self, method: str, url: str, body: bytes, headers: dict[str, str], *, service: str, region: str
    ) -> dict[str, str]:
        """``headers`` plus ``X-Amz-Date``, ``X-Amz-Security-Token`` (temporary keys), ``Authorization``."""
        request = AWSRequest(method=method, url=url, data=body, headers=headers)
        keys = BotoCredentials(self.access_key_id, self.secret_access_key, self.session_token)
        SigV4Auth(keys, service, region).add_auth(request)
        return dict(request.headers.items())


def aws_keys_from_json(value: str, where: str) -> AwsKeys:
    """The key pair a Key Vault secret holds as JSON: ``access_key_id``, ``secret_access_key`` and, for
    temporary keys, ``session_token``."""
    try:
        found = json.loads(value)
        return AwsKeys(found["access_key_id"], found["secret_access_key"], found.get("session_token"))
    except (ValueError, KeyError, TypeError, AttributeError):
        raise CredentialUnavailable(
            f"{where} does not hold an AWS key pair as JSON with access_key_id and secret_access_key",
            f"{where}: not a JSON object with access_key_id and secret_access_key",
        ) from None


@dataclass
class GoogleToken:
    """A bearer token of ``source``, refreshed by google-auth when it is missing or about to expire."""

    source: GoogleCredentials = field(repr=False)
    kind: str = "google-service-account"
    _asking: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False, compare=False)

    async def headers(self) -> dict[str, str]:
        try:
            return await self.checked()
        except CredentialUnavailable as error:
            raise ProviderUnavailable(error.reason) from error

    async def checked(self) -> dict[str, str]:
        async with self._asking:
            if not self.source.valid:
                await asyncio.to_thread(_refresh, self.source)
        return {"Authorization": f"Bearer {self.source.token}"}


def service_account_key(value: str, where: str) -> GoogleCredentials:
    """Credentials of a service-account key file's content, for the Cloud Platform scope."""
    try:
        info: Any = json.loads(value)
        if not isinstance(info, dict) or info.get("type") != "service_account":
            raise ValueError("not a service account key")
        loaded: GoogleCredentials = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
            info, scopes=[CLOUD_PLATFORM_SCOPE]
        )
        return loaded
    except (ValueError, KeyError, TypeError):
        raise CredentialUnavailable(
            f"{where} does not hold a Google service-account key (JSON with type service_account)",
            f"{where}: not a service-account key file",
        ) from None


async def application_default() -> GoogleCredentials:
    """Google's application default credentials (workload identity, metadata server, or key file)."""
    try:
        found, _ = await asyncio.to_thread(google.auth.default, scopes=[CLOUD_PLATFORM_SCOPE])
    except google_errors.GoogleAuthError as error:
        raise CredentialUnavailable(
            "no Google application default credentials were found", _described(error)
        ) from error
    return found


def _refresh(source: GoogleCredentials) -> None:
    session = requests.Session()
    session.trust_env = False  # never through an environment proxy or CA bundle meant for something else
    try:
        source.refresh(GoogleTransport(session))  # type: ignore[no-untyped-call]
    except google_errors.RefreshError as error:
        raise CredentialUnavailable(
            "Google refused to grant its service account a token", _described(error)
        ) from error
    except google_errors.GoogleAuthError as error:
        raise CredentialUnavailable(
            "Google's token endpoint could not be reached", _described(error)
        ) from error
    finally:
        session.close()


def _described(error: Exception) -> str:
    """Type and first line of the error (google-auth's messages carry the endpoint's answer, no secret)."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}"[:2000]
