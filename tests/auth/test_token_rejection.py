"""Entra tokens the backend must refuse, each on its own, through the same path a programmatic client uses
(``Authorization: Bearer <Entra access token>``) and through id_token validation at sign-in."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.auth.entra import EntraVerifier
from donatello.auth.errors import InvalidEntraToken
from donatello.config import Settings
from tests.support import factories
from tests.support.idp import EntraUser, IdentityProvider
from tests.support.signin import bearer


@dataclass
class Caller:
    who: EntraUser
    idp: IdentityProvider
    client: httpx.AsyncClient

    async def status(self, token: str) -> int:
        response = await self.client.get("/v1/me", headers=bearer(token))
        if response.status_code != 200:
            assert response.headers["content-type"] == "application/problem+json"
        return response.status_code


@pytest.fixture
async def caller(client: httpx.AsyncClient, db: AsyncSession, idp: IdentityProvider) -> Caller:
    tid = str(uuid.uuid4())
    org = await factories.organization(db, azure_tenant_id=tid)
    who = EntraUser(tid=tid)
    await factories.user(db, org, azure_ad_id=who.oid)
    return Caller(who, idp, client)


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


async def test_a_genuine_access_token_is_accepted(caller: Caller) -> None:
    assert await caller.status(caller.idp.access_token_for(caller.who)) == 200


async def test_alg_none_is_rejected(caller: Caller) -> None:
    claims = {**caller.who.claims(), "aud": f"api://{caller.idp.client_id}", "scp": "access_as_user"}
    token = jwt.encode(
        {**claims, "iss": caller.idp.issuer(caller.who.tid), "exp": 9999999999, "nbf": 0, "iat": 0},
        "",  # PyJWT's "no key", the only key it takes for alg "none"
        algorithm="none",
    )
    assert await caller.status(token) == 401


async def test_hs256_signed_with_the_public_key_is_rejected(caller: Caller) -> None:
    public_pem = caller.idp.signing_key.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    good = jwt.decode(caller.idp.access_token_for(caller.who), options={"verify_signature": False})
    header = _b64({"alg": "HS256", "typ": "JWT", "kid": caller.idp.signing_key.kid})
    signing_input = f"{header}.{_b64(good)}".encode()
    import hashlib
    import hmac

    signature = (
        base64.urlsafe_b64encode(hmac.new(public_pem, signing_input, hashlib.sha256).digest())
        .decode()
        .rstrip("=")
    )
    assert await caller.status(f"{signing_input.decode()}.{signature}") == 401


async def test_an_unknown_kid_is_rejected(caller: Caller) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = caller.idp.access_token_for(caller.who)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert await caller.status(caller.idp.mint(claims, key=stranger, kid="not-published")) == 401


async def test_a_wrong_audience_is_rejected(caller: Caller) -> None:
    assert await caller.status(caller.idp.access_token_for(caller.who, aud="api://someone-else")) == 401


async def test_a_wrong_issuer_is_rejected(caller: Caller) -> None:
    other_tenant_issuer = caller.idp.issuer(str(uuid.uuid4()))
    assert await caller.status(caller.idp.access_token_for(caller.who, iss=other_tenant_issuer)) == 401


async def test_an_expired_token_is_rejected(caller: Caller) -> None:
    claims = jwt.decode(caller.idp.access_token_for(caller.who), options={"verify_signature": False})
    del claims["exp"], claims["nbf"], claims["iat"]
    assert await caller.status(caller.idp.mint({**claims, "iat": 0}, lifetime=-3600)) == 401


async def test_a_not_yet_valid_token_is_rejected(caller: Caller) -> None:
    claims = jwt.decode(caller.idp.access_token_for(caller.who), options={"verify_signature": False})
    del claims["exp"], claims["nbf"], claims["iat"]
    assert await caller.status(caller.idp.mint(claims, not_before=600)) == 401


async def test_a_foreign_tenant_is_rejected(caller: Caller) -> None:
    foreigner = EntraUser(tid=str(uuid.uuid4()), oid=caller.who.oid)
    assert await caller.status(caller.idp.access_token_for(foreigner)) == 401


async def test_a_deactivated_user_is_rejected(caller: Caller, db: AsyncSession) -> None:
    org = await factories.organization(db, azure_tenant_id=(tid := str(uuid.uuid4())))
    leaver = EntraUser(tid=tid)
    await factories.user(db, org, azure_ad_id=leaver.oid, is_active=False)
    assert await caller.status(caller.idp.access_token_for(leaver)) == 401


async def test_a_deactivated_organization_is_rejected(caller: Caller, db: AsyncSession) -> None:
    org = await factories.organization(db, azure_tenant_id=(tid := str(uuid.uuid4())), is_active=False)
    former = EntraUser(tid=tid)
    await factories.user(db, org, azure_ad_id=former.oid)
    assert await caller.status(caller.idp.access_token_for(former)) == 401


async def test_a_tampered_payload_is_rejected(caller: Caller) -> None:
    header, payload, signature = caller.idp.access_token_for(caller.who).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["roles"] = ["Images.Admin"]
    assert await caller.status(f"{header}.{_b64(claims)}.{signature}") == 401


async def test_an_access_token_without_our_scope_is_rejected(caller: Caller) -> None:
    assert await caller.status(caller.idp.access_token_for(caller.who, scp="User.Read")) == 401


@pytest.mark.parametrize(
    "spoil",
    [
        pytest.param(lambda idp, who: idp.id_token_for(who, aud="api://other"), id="aud"),
        pytest.param(lambda idp, who: idp.id_token_for(who, iss=idp.issuer("other")), id="iss"),
        pytest.param(lambda idp, who: idp.id_token_for(who, oid=None), id="no-oid"),
        pytest.param(lambda idp, who: idp.id_token_for(who, nonce="other"), id="nonce"),
    ],
)
async def test_id_tokens_are_validated_like_access_tokens(
    app: FastAPI, idp: IdentityProvider, spoil: Callable[[IdentityProvider, EntraUser], str]
) -> None:
    verifier: EntraVerifier = app.state.entra_verifier
    who = EntraUser(tid=str(uuid.uuid4()))
    assert (await verifier.id_token(idp.id_token_for(who, nonce="n"), nonce="n")).object_id == who.oid
    with pytest.raises(InvalidEntraToken):
        await verifier.id_token(spoil(idp, who), nonce="n")


async def test_after_a_rotation_new_keys_are_fetched_only_once_the_cooldown_has_passed(
    settings: Settings, idp: IdentityProvider
) -> None:
    who = EntraUser(tid=str(uuid.uuid4()))
    patient = EntraVerifier(settings.model_copy(update={"entra_jwks_cooldown_seconds": 3600}))
    eager = EntraVerifier(settings.model_copy(update={"entra_jwks_cooldown_seconds": 0}))
    for verifier in (patient, eager):
        assert await verifier.id_token(idp.id_token_for(who))
    idp.rotate_keys()

    token = idp.id_token_for(who)

    with pytest.raises(InvalidEntraToken):
        await patient.id_token(token)  # still inside its cooldown: the new kid is not looked up
    assert (await eager.id_token(token)).object_id == who.oid
