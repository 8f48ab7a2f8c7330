"""The other clouds' credentials: kept in Key Vault like Azure keys, set through the API, never shown."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import trustme
from azure.core.pipeline.transport import AioHttpTransport
from azure.keyvault.secrets._shared import http_challenge_cache as challenges
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.auth.tokens import TokenSigner
from donatello.config import Settings
from donatello.providers.bedrock import BedrockProvider
from donatello.providers.contract import ImageRequest, ProviderTarget
from donatello.providers.errors import CredentialUnavailable
from tests.support import factories, key_vault, provider_rows, token_endpoint
from tests.support import model_credentials as mc
from tests.support.bedrock_stub import BedrockStub
from tests.support.signin import bearer_for
from tests.support.vertex_stub import VertexStub

Vault = tuple[key_vault.LoopbackVault, AioHttpTransport]


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
async def vault(monkeypatch: pytest.MonkeyPatch, ca: trustme.CA) -> AsyncIterator[Vault]:
    async with token_endpoint.serving(monkeypatch) as identity, key_vault.serving(ca, identity) as served:
        try:
            yield served
        finally:
            # The SDK remembers each vault's challenge for the whole process: forget it, so a later test
            # of the same vault sees the challenge flow from its start.
            challenges.remove_challenge_for_url(served[0].secret_url("any"))


def ask() -> ImageRequest:
    return ImageRequest("a quokka selfie", None, "1024x1024", "standard", None, 1, None)


async def test_an_aws_key_pair_kept_in_key_vault_signs_calls_bedrock_accepts(
    http: httpx.AsyncClient,
    settings: Settings,
    bedrock: BedrockStub,
    vault: Vault,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    stub_vault, transport = vault
    bedrock.accept_key("ASIAVAULTKEY00000001", "vault-held-secret", session_token="vault-session-token")
    stub_vault.set_secret(
        "bedrock-keys",
        '{"access_key_id": "ASIAVAULTKEY00000001", "secret_access_key": "vault-held-secret",'
        ' "session_token": "vault-session-token"}',
    )
    source = mc.credentials(settings, vault=transport)
    try:
        keys = await source.resolve({"kind": "aws-keys", "secret": stub_vault.secret_url("bedrock-keys")})
    finally:
        await source.aclose()
    target = ProviderTarget(
        "aws-bedrock", "canvas", bedrock.endpoint, 5, 0,
        {"model_id": "amazon.nova-canvas-v1:0", "region": bedrock.region}, keys,
    )  # fmt: skip

    result = await BedrockProvider(http).generate(target, ask())

    [call] = bedrock.requests
    assert call.headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=ASIAVAULTKEY00000001/")
    assert call.headers["x-amz-security-token"] == "vault-session-token" and len(result.images) == 1
    logged = caplog.text + "".join(str(record.__dict__) for record in caplog.records)
    assert "vault-held-secret" not in logged and "vault-held-secret" not in repr(keys)
    assert "vault-session-token" not in logged  # botocore's signer logs what it signs at DEBUG


async def test_a_vault_secret_that_is_not_a_key_pair_names_the_secret_never_its_value(
    settings: Settings, vault: Vault
) -> None:
    stub_vault, transport = vault
    stub_vault.set_secret("bedrock-keys", "AKIA-just-a-key-id")
    source = mc.credentials(settings, vault=transport)
    try:
        with pytest.raises(CredentialUnavailable) as unavailable:
            await source.resolve({"kind": "aws-keys", "secret": stub_vault.secret_url("bedrock-keys")})
    finally:
        await source.aclose()

    assert "the Key Vault secret bedrock-keys does not hold an AWS key pair" in unavailable.value.reason
    assert "just-a-key-id" not in unavailable.value.reason + unavailable.value.detail


async def test_a_service_account_key_kept_in_key_vault_gets_a_google_token(
    settings: Settings, vertex: VertexStub, vault: Vault
) -> None:
    stub_vault, transport = vault
    stub_vault.set_secret("vertex-key", vertex.key_file("vaulted"))
    source = mc.credentials(settings, vault=transport)
    try:
        credential = {"kind": "google-service-account", "secret": stub_vault.secret_url("vertex-key")}
        bearer = await source.resolve(credential)
        again = await source.resolve(credential)  # the same key: the same token, no second grant
        headers = await bearer.headers()
    finally:
        await source.aclose()

    assert again is bearer and bearer.kind == "google-service-account"
    assert vertex.grants == ["vaulted@acme-images-prod.iam.gserviceaccount.com"]
    assert headers["Authorization"] in {f"Bearer {token}" for token in vertex.tokens}


@pytest.mark.parametrize(
    ("credential", "field"),
    [
        ({"kind": "aws-keys", "access_key_id_variable": "BEDROCK_KEY_ID"}, "aws-keys"),
        ({"kind": "aws-keys", "secret": "https://acme-kv.vault.azure.net/keys/x"}, "aws-keys.secret"),
        (
            {
                "kind": "aws-keys",
                "access_key_id_variable": "AZURE_CLIENT_ID",
                "secret_access_key_variable": "S",
            },
            "aws-keys.access_key_id_variable",
        ),
        ({"kind": "google-service-account"}, "google-service-account"),
        ({"kind": "google-default", "variable": "X"}, "google-default.variable"),
    ],
)
async def test_a_cloud_credential_of_the_wrong_shape_is_a_422_naming_the_field(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner, credential: dict[str, Any], field: str
) -> None:
    org = await factories.organization(db)
    admin = await factories.user(db, org, role="super_admin", department=await factories.department(db, org))
    model = await provider_rows.model(db, "aws-bedrock", credential=None)

    response = await client.put(
        f"/v1/providers/{model.id}/config", json={"credential": credential}, headers=bearer_for(tokens, admin)
    )

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert any(error["field"].endswith(field) for error in response.json()["errors"]), response.json()


@pytest.mark.parametrize(
    "credential",
    [
        {
            "kind": "aws-keys",
            "access_key_id_variable": "BEDROCK_KEY_ID",
            "secret_access_key_variable": "BEDROCK_SECRET",
        },
        {"kind": "aws-keys", "secret": "https://acme-kv.vault.azure.net/secrets/bedrock-keys"},
        {"kind": "google-service-account", "variable": "VERTEX_SA_KEY"},
        {"kind": "google-default"},
    ],
)
async def test_each_cloud_credential_is_stored_and_only_its_kind_is_shown(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner, credential: dict[str, Any]
) -> None:
    org = await factories.organization(db)
    admin = await factories.user(db, org, role="super_admin", department=await factories.department(db, org))
    model = await provider_rows.model(db, "google-vertex", credential=None)

    response = await client.put(
        f"/v1/providers/{model.id}/config", json={"credential": credential}, headers=bearer_for(tokens, admin)
    )

    assert response.status_code == 200, response.text
    assert (response.json()["credential_kind"], response.json()["has_credential"]) == (
        credential["kind"],
        True,
    )
    assert all(str(value) not in response.text for key, value in credential.items() if key != "kind")


async def test_many_jobs_starting_at_once_get_one_google_token(
    http: httpx.AsyncClient, settings: Settings, vertex: VertexStub
) -> None:
    source = mc.credentials(settings)
    credential = {"kind": "google-service-account", "variable": "VERTEX_TEST_SERVICE_ACCOUNT_KEY"}
    try:
        bearers = await asyncio.gather(*(source.resolve(dict(credential)) for _ in range(25)))
        headers = await asyncio.gather(*(bearer.headers() for bearer in bearers))
    finally:
        await source.aclose()

    assert len(vertex.grants) == 1  # one JWT grant for all 25, the token shared
    assert len({h["Authorization"] for h in headers}) == 1 and len({id(b) for b in bearers}) == 1
