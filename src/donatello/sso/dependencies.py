from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from donatello.auth.entra import EntraVerifier
from donatello.auth.errors import SignInNotConfigured
from donatello.auth.tokens import TokenSigner
from donatello.config import Settings
from donatello.dependencies import resources_of
from donatello.sso.entra_client import EntraSignIn


class SignInParts:
    def __init__(
        self, client: EntraSignIn, verifier: EntraVerifier, signer: TokenSigner, settings: Settings
    ) -> None:
        self.client, self.verifier, self.signer, self.settings = client, verifier, signer, settings


def _parts(request: Request) -> SignInParts:
    resources = resources_of(request)
    client, verifier = resources.entra_sign_in, resources.entra_verifier
    if client is None or verifier is None:  # both, or neither: Entra is configured or not
        raise SignInNotConfigured()
    return SignInParts(client, verifier, resources.token_signer, resources.settings)


SignIn = Annotated[SignInParts, Depends(_parts)]
