"""The authorization-code flow with PKCE through msal (blocking: run in a worker thread).

msal builds the authorize URL (state, nonce, PKCE S256) and redeems the code with the client secret; it
checks only ``state`` and ``nonce`` of the id_token, so ``auth.entra.EntraVerifier`` validates it again.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import msal
import requests

from donatello.auth.errors import SignInFailed
from donatello.config import Settings

# msal's token cache logs whole token responses (refresh tokens included) at DEBUG: never let them through.
logging.getLogger("msal").setLevel(logging.INFO)

# msal rejects the reserved scopes (openid, profile, offline_access) and adds them itself.
SCOPES: list[str] = []


class EntraSignIn:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._app: msal.ConfidentialClientApplication | None = None
        self._lock = threading.Lock()

    def _client(self) -> msal.ConfidentialClientApplication:
        with self._lock:
            if self._app is None:
                http = requests.Session()
                http.trust_env = False  # REQUESTS_CA_BUNDLE would override verify=
                if self._settings.entra_ca_bundle:
                    http.verify = str(self._settings.entra_ca_bundle)
                secret = self._settings.entra_client_secret
                self._app = msal.ConfidentialClientApplication(
                    self._settings.entra_client_id,
                    client_credential=secret.get_secret_value() if secret else None,
                    authority=f"{self._settings.entra_authority_host.rstrip('/')}/{self._settings.entra_tenant_id}",
                    instance_discovery=False,
                    http_client=http,
                    token_cache=msal.TokenCache(),
                )
            return self._app

    async def start(self, redirect_uri: str) -> dict[str, Any]:
        """A new flow: the browser goes to ``flow["auth_uri"]``; the rest is kept for the callback."""

        def initiate() -> dict[str, Any]:
            flow: dict[str, Any] = self._client().initiate_auth_code_flow(
                SCOPES, redirect_uri=redirect_uri, response_mode="form_post"
            )
            return flow

        try:
            return await asyncio.to_thread(initiate)
        except (requests.RequestException, ValueError) as exc:
            raise SignInFailed("The identity provider cannot be reached") from exc

    async def finish(self, flow: dict[str, Any], response: dict[str, str]) -> str:
        """Redeem the code of the callback; returns the raw id_token (validated by the caller)."""

        def redeem() -> dict[str, Any]:
            result: dict[str, Any] = self._client().acquire_token_by_auth_code_flow(flow, response)
            return result

        try:
            result = await asyncio.to_thread(redeem)
        except (requests.RequestException, ValueError) as exc:
            raise SignInFailed("The sign-in response does not match the sign-in that was started") from exc
        if "error" in result or not result.get("id_token"):
            # error_description may quote the request; keep only Entra's stable error code.
            raise SignInFailed("The identity provider refused the sign-in", error=str(result.get("error")))
        return str(result["id_token"])
