from __future__ import annotations

from donatello.core.errors import Unauthenticated


class RefreshTokenInvalid(Unauthenticated):
    type = "refresh-token-invalid"
    title = "The refresh token is not valid"


class RefreshTokenReused(Unauthenticated):
    """An already-rotated token came back: it was copied. The family's revocation must still commit."""

    type = "refresh-token-reused"
    title = "The refresh token was already used"
    keeps_transaction = True
