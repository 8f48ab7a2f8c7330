"""Secrets, tokens and refresh tokens never reach the logs, whatever the level."""

from __future__ import annotations

import logging
import uuid

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.core.logging import JsonFormatter
from tests.support import factories
from tests.support.idp import EntraUser, IdentityProvider
from tests.support.signin import bearer, sign_in


async def test_the_sign_in_refresh_and_api_key_flows_log_no_secret(
    client: httpx.AsyncClient, db: AsyncSession, idp: IdentityProvider, caplog: pytest.LogCaptureFixture
) -> None:
    tid = str(uuid.uuid4())
    org = await factories.organization(
        db, azure_tenant_id=tid, entra={"role_mapping": {"Power": "power_user"}}
    )
    who = EntraUser(tid=tid, roles=["Power"], amr=["mfa"], preferred_username=f"ada@{org.domain}")
    ours: list[str] = []
    with caplog.at_level(logging.DEBUG):
        pair = (await sign_in(client, idp, who)).json()
        rotated = (
            await client.post("/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
        ).json()
        await client.post("/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})  # reuse
        again = (await sign_in(client, idp, who)).json()
        key = (
            await client.post(
                "/v1/api-keys",
                json={"name": "k", "scopes": ["generations:create"]},
                headers=bearer(again["access_token"]),
            )
        ).json()["key"]
        await client.get("/v1/me", headers=bearer(key))
        await client.get("/v1/me", headers=bearer(idp.access_token_for(who)))
        await client.get("/v1/me", headers=bearer(idp.access_token_for(who, aud="wrong")))
        ours += [
            pair["access_token"],
            pair["refresh_token"],
            rotated["refresh_token"],
            again["refresh_token"],
            key,
        ]

    formatter = JsonFormatter()
    logged = "\n".join([caplog.text, *(formatter.format(record) for record in caplog.records)])
    assert caplog.records, "the flows should have logged something to search"
    secrets = [*ours, *idp.issued, idp.client_secret]
    leaked = [secret[:12] + "…" for secret in secrets if secret in logged]
    assert leaked == []
