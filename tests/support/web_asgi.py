"""The browser edge in process (ASGI client, savepoints of the test's transaction) for fast page tests:
the app as ``make run`` serves it (no Entra ID, loopback, so local sign-in) and a local sign-in."""

from __future__ import annotations

import re

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.models import User
from tests.support.savepoints import sessions_in

ORIGIN = "http://127.0.0.1:8000"


async def page_client(app: FastAPI, db: AsyncSession) -> httpx.AsyncClient:
    app.state.sessionmaker = sessions_in(await db.connection())
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url=ORIGIN, follow_redirects=False)


async def sign_in_locally(http: httpx.AsyncClient, user: User, landing: str) -> str:
    """Sign in as ``user`` and land on ``landing``; returns that page's CSRF token."""
    signed = await http.post(
        "/sign-in/local", data={"user_id": str(user.id), "next": landing}, headers={"Origin": ORIGIN}
    )
    assert signed.status_code == 303, signed.text
    landed = await http.get(landing)
    match = re.search(r'name="csrf_token" value="([^"]+)"', landed.text)
    assert match, landed.text
    return match.group(1)
