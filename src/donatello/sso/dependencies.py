from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from donatello.auth.entra import EntraVerifier
from donatello.auth.errors import SignInNotConfigured
from donatello.auth.tokens import TokenSigner
from donatello.config import Settings
from donatello.sso.entra_client import EntraSignIn


class SignInParts:
    def __init__(
        self, client: EntraSignIn, verifier: EntraVerifier, signer: TokenSigner, settings: Settings
    ) -> None:
        self.client, self.verifier, self.signer, self.settings = client, verifier, signer, settings


def _parts(request: Request) -> SignInParts:
    client = request.app.state.entra_sign_in
    if client is None:
        raise SignInNotConfigured()
    return SignInParts(
        client, request.app.state.entra_verifier, request.app.state.token_signer, request.app.state.settings
    )


SignIn = Annotated[SignInParts, Depends(_parts)]
