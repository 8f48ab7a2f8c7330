"""Unexpected failures become a problem document with a request id, and leak nothing."""

from __future__ import annotations

import http.client
import json
import logging
import uuid

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from donatello.auth.tokens import TokenSigner
from donatello.config import Settings
from donatello.core.database import create_engine
from donatello.core.logging import JsonFormatter
from donatello.main import create_app
from tests.support.live_server import LiveServer


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


def test_after_a_500_the_same_keep_alive_connection_serves_the_next_request(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """The exception reached the server after the 500 was sent, which then reset the
    connection; and the server's own log line about it carried no request id."""
    app = create_app(settings)

    @app.get("/explode")
    async def explode() -> None:
        raise RuntimeError("boom")

    with LiveServer(app) as server, caplog.at_level(logging.DEBUG):
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        connection.request("GET", "/explode", headers={"X-Request-ID": "req-explode-1"})
        failed = connection.getresponse()
        problem = json.loads(failed.read())
        connection.request("GET", "/health/live")  # the same socket: keep-alive
        after = connection.getresponse()
        after.read()
        connection.close()

    assert failed.status == 500 and failed.getheader("content-type") == "application/problem+json"
    assert problem["request_id"] == "req-explode-1" == failed.getheader("x-request-id")
    assert problem["type"].endswith("/internal-error")
    assert after.status == 200
    about_it = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert about_it, "the error was not logged"
    formatter = JsonFormatter()
    for record in about_it:
        line = json.loads(formatter.format(record))
        assert line["request_id"] == "req-explode-1", line
    assert any("RuntimeError: boom" in json.loads(formatter.format(r)).get("exc_info", "") for r in about_it)
