"""Driving the browser's part of the sign-in: our /login, the IdP's authorize page, our /callback."""

from __future__ import annotations

import asyncio
import re
import ssl
from typing import Any

import httpx

from donatello.auth.tokens import TokenSigner
from donatello.models import User
from donatello.sso.endpoints import FLOW_COOKIE
from tests.support.idp import EntraUser, IdentityProvider

_FIELD = re.compile(r'name="(\w+)" value="([^"]*)"')


async def start_and_authorize(
    client: httpx.AsyncClient, idp: IdentityProvider, who: EntraUser
) -> tuple[str, dict[str, str]]:
    """Returns the flow cookie and the form the IdP's page would post back."""
    idp.sign_in_as(who)
    started = await client.get("/v1/auth/login")
    assert started.status_code == 302, started.text
    cookie = started.cookies[FLOW_COOKIE]

    def authorize() -> str:
        with httpx.Client(
            verify=ssl.create_default_context(cafile=str(idp.ca_bundle)), trust_env=False
        ) as browser:
            page = browser.get(started.headers["location"])
            assert page.status_code == 200, page.text
            return page.text

    return cookie, dict(_FIELD.findall(await asyncio.to_thread(authorize)))


async def callback(client: httpx.AsyncClient, cookie: str, form: dict[str, str]) -> httpx.Response:
    return await client.post("/v1/auth/callback", data=form, headers={"Cookie": f"{FLOW_COOKIE}={cookie}"})


async def sign_in(client: httpx.AsyncClient, idp: IdentityProvider, who: EntraUser) -> httpx.Response:
    cookie, form = await start_and_authorize(client, idp, who)
    return await callback(client, cookie, form)


def bearer(token: str) -> dict[str, Any]:
    return {"Authorization": f"Bearer {token}"}


def bearer_for(tokens: TokenSigner, member: User) -> dict[str, str]:
    """The header of ``member`` signed in to their own organization (an access token, as after sign-in)."""
    return {"Authorization": f"Bearer {tokens.issue(member.id, member.organization_id)}"}
