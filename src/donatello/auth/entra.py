"""Validating Microsoft Entra ID tokens ourselves (msal checks only state and nonce).

Both id_tokens (sign-in) and access tokens (programmatic clients) go through ``_verify``: RS256 only,
a key from the tenant's JWKS (refetched on an unknown ``kid``, at most once per cooldown), ``iss`` for
the token's own ``tid``, ``aud``, ``exp``/``nbf`` with a small leeway, and required ``tid`` and ``oid``.
The ``tid`` is then mapped to an organization by the caller.
"""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
from dataclasses import dataclass
from typing import Any

import jwt

from donatello.auth.errors import InvalidEntraToken
from donatello.config import Settings

log = logging.getLogger(__name__)

_TENANT_ID = re.compile(r"^[0-9A-Za-z-]{1,64}$")
_GROUPS_OVERAGE = "groups"


@dataclass(frozen=True)
class EntraIdentity:
    """The verified facts of an Entra token that the application uses."""

    tenant_id: str
    object_id: str
    email: str | None
    name: str | None
    roles: tuple[str, ...]
    groups: tuple[str, ...] | None  # None: more groups than fit in the token (overage), not readable
    mfa: bool  # ``amr`` says mfa (or ``acrs`` holds a context the deployment counts as MFA)
    scopes: tuple[str, ...] = ()
    #: The authentication contexts the sign-in satisfied (Entra's ``acrs`` claim, e.g. ``c1``).
    acrs: frozenset[str] = frozenset()

    @classmethod
    def from_claims(cls, claims: dict[str, Any], mfa_contexts: frozenset[str]) -> EntraIdentity:
        overage = _GROUPS_OVERAGE in (claims.get("_claim_names") or {})
        groups = None if overage else tuple(str(g) for g in claims.get("groups") or ())
        amr = {str(value) for value in claims.get("amr") or ()}
        acrs = {str(value) for value in claims.get("acrs") or ()}
        email = claims.get("preferred_username") or claims.get("email") or claims.get("upn")
        return cls(
            tenant_id=str(claims["tid"]),
            object_id=str(claims["oid"]),
            email=str(email).lower() if email else None,
            name=claims.get("name"),
            roles=tuple(str(r) for r in claims.get("roles") or ()),
            groups=groups,
            mfa="mfa" in amr or bool(acrs & mfa_contexts),
            scopes=tuple(str(claims.get("scp", "")).split()),
            acrs=frozenset(acrs),
        )


class EntraVerifier:
    def __init__(self, settings: Settings) -> None:
        self._client_id = settings.entra_client_id or ""
        self._host = settings.entra_authority_host.rstrip("/")
        self._api_scope = settings.entra_api_scope
        self._leeway = settings.entra_leeway_seconds
        self._mfa_contexts = frozenset(settings.entra_mfa_auth_contexts)
        context = ssl.create_default_context(
            cafile=str(settings.entra_ca_bundle) if settings.entra_ca_bundle else None
        )
        tenant = settings.entra_tenant_id or "common"
        self._jwks = jwt.PyJWKClient(
            f"{self._host}/{tenant}/discovery/v2.0/keys",
            cache_jwk_set=True,
            lifespan=24 * 3600,
            timeout=10,
            ssl_context=context,
            cooldown_duration=settings.entra_jwks_cooldown_seconds,
        )

    async def id_token(self, token: str, *, nonce: str | None = None) -> EntraIdentity:
        """A sign-in id_token issued to this application (``aud`` = client id)."""
        claims = await self._verify(token, audience=[self._client_id])
        if nonce is not None and claims.get("nonce") != nonce:
            raise InvalidEntraToken("The id_token does not answer this sign-in (nonce mismatch)")
        return EntraIdentity.from_claims(claims, self._mfa_contexts)

    async def access_token(self, token: str) -> EntraIdentity:
        """An access token for this API (``aud`` = ``api://{client id}`` or the client id) with our scope."""
        claims = await self._verify(token, audience=[f"api://{self._client_id}", self._client_id])
        identity = EntraIdentity.from_claims(claims, self._mfa_contexts)
        if self._api_scope not in identity.scopes:
            raise InvalidEntraToken(f"The access token does not carry the '{self._api_scope}' scope")
        return identity

    async def _verify(self, token: str, *, audience: list[str]) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
            if header.get("alg") != "RS256":
                raise InvalidEntraToken("Only RS256-signed tokens are accepted")
            unverified = jwt.decode(token, options={"verify_signature": False})
            tenant_id = unverified.get("tid")
            if not isinstance(tenant_id, str) or not _TENANT_ID.match(tenant_id):
                raise InvalidEntraToken("The token names no tenant (tid)")
            key = await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=["RS256"],
                audience=audience,
                issuer=f"{self._host}/{tenant_id}/v2.0",
                leeway=self._leeway,
                options={"require": ["exp", "nbf", "iat", "iss", "aud", "tid", "oid"]},
            )
        except InvalidEntraToken:
            raise
        except jwt.ExpiredSignatureError as exc:
            raise InvalidEntraToken("The token has expired") from exc
        except jwt.ImmatureSignatureError as exc:
            raise InvalidEntraToken("The token is not valid yet") from exc
        except jwt.InvalidAudienceError as exc:
            raise InvalidEntraToken("The token was issued for another application") from exc
        except jwt.InvalidIssuerError as exc:
            raise InvalidEntraToken("The token was not issued by the tenant it names") from exc
        except jwt.PyJWKClientConnectionError as exc:
            log.warning("entra signing keys unavailable", extra={"error_type": type(exc).__name__})
            raise InvalidEntraToken("The identity provider's signing keys are unavailable") from exc
        except jwt.PyJWKClientError as exc:
            raise InvalidEntraToken("The token is signed with an unknown key") from exc
        except (jwt.InvalidTokenError, ValueError, TypeError) as exc:
            raise InvalidEntraToken("The token is not valid") from exc
        return claims
