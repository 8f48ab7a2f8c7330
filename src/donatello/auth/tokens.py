"""The app's own short-lived access tokens (EdDSA-signed JWTs, at most 15 minutes).

Sign-in (Entra ID) and refresh mint them; every request presents one as a Bearer token. The token only
names the user and organization: role, department and active state are read fresh from the database on
each request, so a deactivation or role change takes effect at once.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from donatello.config import Settings
from donatello.core.clock import utcnow
from donatello.core.errors import Unauthenticated
from donatello.core.keys import load_or_create_ed25519

ISSUER = "donatello"
AUDIENCE = "donatello-api"
ACCESS_TOKEN_LIFETIME = timedelta(minutes=15)
#: Verified tokens remembered per process (at most 15 minutes each): about 1 MB when full.
VERIFIED_TOKENS_KEPT = 4096


@dataclass(frozen=True)
class AccessClaims:
    user_id: uuid.UUID
    organization_id: uuid.UUID
    session_id: uuid.UUID | None


class TokenSigner:
    def __init__(
        self,
        key: Ed25519PrivateKey,
        lifetime: timedelta = ACCESS_TOKEN_LIFETIME,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.clock = clock  # when tokens are issued and until when they are accepted
        self._key = key
        self._public = key.public_key()
        self._lifetime = min(lifetime, ACCESS_TOKEN_LIFETIME)
        # A token verified once is the same string until it expires, so its claims are remembered until
        # then instead of checking the signature on every request (Ed25519 plus PyJWT's decoding was ~5 %
        # of an admission). Only the signature check is skipped: the user, organization and sign-in are
        # still read from the database on every request, so deactivation and revocation apply at once.
        self._verified: dict[str, tuple[AccessClaims, float]] = {}

    def issue(
        self,
        user_id: uuid.UUID,
        organization_id: uuid.UUID,
        session_id: uuid.UUID | None = None,
        lifetime: timedelta | None = None,
    ) -> str:
        """An access token; ``lifetime`` may shorten (never lengthen) the 15-minute maximum."""
        now = self.clock()
        lifetime = min(lifetime, self._lifetime) if lifetime else self._lifetime
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": str(user_id),
            "org": str(organization_id),
            "sid": str(session_id) if session_id else None,
            "iat": now,
            "nbf": now,
            # JWT times are whole seconds: round the end up, so a token lives its lifetime (and less than
            # a second more), never less.
            "exp": math.ceil((now + lifetime).timestamp()),
            "jti": str(uuid.uuid4()),
        }
        return jwt.encode(claims, self._key, algorithm="EdDSA")

    @property
    def lifetime(self) -> timedelta:
        return self._lifetime

    def seal(self, payload: dict[str, Any], *, audience: str, lifetime: timedelta) -> str:
        """Sign a short-lived statement for ``audience`` (e.g. the sign-in flow kept in a cookie)."""
        now = self.clock()
        claims = {"iss": ISSUER, "aud": audience, "iat": now, "exp": now + lifetime, "data": payload}
        return jwt.encode(claims, self._key, algorithm="EdDSA")

    def unseal(self, token: str, *, audience: str) -> dict[str, Any] | None:
        """The payload ``seal`` signed for ``audience``, or None when it is forged, altered or expired."""
        try:
            claims = self._decode(token, audience=audience, required=["exp", "iat", "aud", "iss"])
        except (jwt.InvalidTokenError, ValueError, TypeError):
            return None
        data = claims.get("data")
        return data if isinstance(data, dict) else None

    def is_ours(self, token: str) -> bool:
        """Whether a bearer token claims to be one of ours (unverified: only to pick the verifier)."""
        if token in self._verified:
            return True
        try:
            return bool(jwt.get_unverified_header(token).get("alg") == "EdDSA")
        except jwt.InvalidTokenError:
            return False

    def verify(self, token: str) -> AccessClaims:
        remembered = self._verified.get(token)
        if remembered is not None:
            claims, expires = remembered
            if self.clock().timestamp() < expires:  # as ``_decode``: valid while now < exp
                return claims
            self._verified.pop(token, None)
        return self._verify(token)

    def _verify(self, token: str) -> AccessClaims:
        try:
            claims = self._decode(token, audience=AUDIENCE, required=["exp", "iat", "sub", "aud", "iss"])
            verified = AccessClaims(
                user_id=uuid.UUID(claims["sub"]),
                organization_id=uuid.UUID(claims["org"]),
                session_id=uuid.UUID(claims["sid"]) if claims.get("sid") else None,
            )
            self._remember(token, verified, float(claims["exp"]))
            return verified
        except jwt.ExpiredSignatureError as exc:
            raise Unauthenticated("The access token has expired; refresh it") from exc
        except (jwt.InvalidTokenError, KeyError, ValueError, TypeError) as exc:
            raise Unauthenticated("The access token is not valid") from exc

    def _decode(self, token: str, *, audience: str, required: list[str]) -> dict[str, Any]:
        """PyJWT checks the signature, algorithm, audience, issuer and required claims; the times are
        checked here against this signer's clock, with PyJWT's rules and no leeway: we signed with our
        own clock, so --ttl 1s means one second. (Entra's tokens, from another clock, get
        entra_leeway_seconds.)"""
        claims: dict[str, Any] = jwt.decode(
            token,
            self._public,
            algorithms=["EdDSA"],
            audience=audience,
            issuer=ISSUER,
            options={"require": required, "verify_exp": False, "verify_nbf": False, "verify_iat": False},
        )
        now = self.clock().timestamp()
        if not now < float(claims["exp"]):
            raise jwt.ExpiredSignatureError("Signature has expired")
        if any(now < float(claims[name]) for name in ("nbf", "iat") if name in claims):
            raise jwt.ImmatureSignatureError("The token is not yet valid")
        return claims

    def _remember(self, token: str, claims: AccessClaims, expires: float) -> None:
        if len(self._verified) >= VERIFIED_TOKENS_KEPT:
            self._verified.pop(next(iter(self._verified)), None)  # the oldest
        self._verified[token] = (claims, expires)


def token_signer(settings: Settings) -> TokenSigner:
    """The signer for this deployment's key (a local key file by default)."""
    return TokenSigner(load_or_create_ed25519(settings.key_dir / "access-token-ed25519.pem"))
