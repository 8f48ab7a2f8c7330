"""Unexpected failures become a problem document with a request id, and leak nothing."""

from __future__ import annotations

import logging
import uuid

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from donatello.auth.tokens import TokenSigner
from donatello.config import Settings
from donatello.core.database import create_engine
from donatello.main import create_app


async def test_an_unexpected_error_is_a_500_problem_without_internals(
    settings: Settings, engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(settings, engine=engine)

    @app.get("/explode")
    async def explode() -> None:
        raise RuntimeError("secret connection string postgres://admin:hunter2@db")

    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            with caplog.at_level(logging.ERROR):
                response = await client.get("/explode")

    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert "hunter2" not in response.text
    assert response.json()["request_id"] == response.headers["x-request-id"]
    assert any(record.levelno == logging.ERROR for record in caplog.records)


async def test_while_the_database_is_unreachable_requests_get_503_with_retry_after(
    settings: Settings, tokens: TokenSigner, tmp_path: object
) -> None:
    unreachable = create_engine(
        f"postgresql+psycopg://postgres@/donatello?host={tmp_path}", app_role=None, pool_size=1
    )
    app = create_app(settings, engine=unreachable)
    token = tokens.issue(user_id=uuid.uuid4(), organization_id=uuid.uuid4(), session_id=uuid.uuid4())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            response = await client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
    await unreachable.dispose()

    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == "2"
    body = response.json()
    assert body["type"] == "https://donatello.ai/problems/database-unavailable"
    assert "nothing was changed" in body["detail"]
