"""Probes an orchestrator relies on: live always, ready only when configured dependencies answer."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from donatello.config import Settings
from donatello.core.database import create_engine
from donatello.main import create_app
from tests.support.cosmos_emulator import KEY
from tests.support.ports import free_port


async def _get(app: FastAPI, path: str) -> httpx.Response:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return await client.get(path)


async def test_live_and_ready_with_the_database(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health/live")).json() == {"status": "ok"}
    ready = await client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"]["database"]["status"] == "ok"
    assert "redis" not in ready.json()["checks"]  # not configured, not checked


async def test_ready_checks_redis_when_configured(
    settings: Settings, engine: AsyncEngine, redis_url: str
) -> None:
    app = create_app(settings.model_copy(update={"redis_url": redis_url}), engine=engine)
    ready = await _get(app, "/health/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"]["redis"]["status"] == "ok"


async def test_without_redis_the_api_is_degraded_but_ready(
    settings: Settings, engine: AsyncEngine, tmp_path: object
) -> None:
    app = create_app(
        settings.model_copy(update={"redis_url": f"unix://{tmp_path}/absent.sock"}), engine=engine
    )
    ready = await _get(app, "/health/ready")
    assert ready.status_code == 200  # rate limits are counted per process meanwhile (core.fallback)
    assert ready.json()["checks"]["redis"]["status"] == "degraded"
    assert ready.json()["checks"]["database"]["status"] == "ok"


async def test_not_ready_while_the_database_does_not_answer(settings: Settings, tmp_path: object) -> None:
    unreachable = create_engine(
        f"postgresql+psycopg://postgres@/donatello?host={tmp_path}", app_role=None, pool_size=1
    )
    app = create_app(settings, engine=unreachable)
    ready = await _get(app, "/health/ready")
    await unreachable.dispose()
    assert ready.status_code == 503
    assert ready.json()["status"] == "unavailable"
    assert ready.json()["checks"]["database"]["status"] == "down"


async def test_every_response_carries_a_request_id(client: httpx.AsyncClient) -> None:
    generated = await client.get("/health/live")
    echoed = await client.get("/health/live", headers={"X-Request-ID": "trace-123"})
    refused = await client.get("/health/live", headers={"X-Request-ID": "bad id\twith spaces"})
    assert generated.headers["x-request-id"].startswith("req-")
    assert echoed.headers["x-request-id"] == "trace-123"
    assert refused.headers["x-request-id"].startswith("req-")


async def test_the_openapi_document_is_served(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert "/v1/departments" in spec["paths"]
    assert (
        "application/problem+json" in spec["paths"]["/v1/departments"]["post"]["responses"]["409"]["content"]
    )
    assert (await client.get("/docs")).status_code == 200


async def test_the_api_docs_work_without_internet(client: httpx.AsyncClient) -> None:
    page = await client.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "http://" not in page.text and "https://" not in page.text, "nothing is loaded from elsewhere"
    assert "<script>" not in page.text, "no inline script: a strict Content-Security-Policy holds"
    for asset, kind in (
        ("swagger-ui-bundle.js", "javascript"),
        ("init.js", "javascript"),
        ("swagger-ui.css", "text/css"),
    ):
        assert f'"/docs/assets/{asset}"' in page.text
        response = await client.get(f"/docs/assets/{asset}")
        assert response.status_code == 200 and kind in response.headers["content-type"], asset
    assert "SwaggerUIBundle" in (await client.get("/docs/assets/swagger-ui-bundle.js")).text
    assert (await client.get("/docs/assets/..%2Fpyproject.toml")).status_code == 404
    assert (await client.get("/redoc")).status_code == 404  # ReDoc only came from a CDN


async def test_with_the_audit_store_unreachable_the_api_starts_degraded_but_ready(
    settings: Settings, engine: AsyncEngine
) -> None:
    nowhere = settings.model_copy(
        update={"cosmos_endpoint": f"https://127.0.0.1:{free_port()}", "cosmos_key": SecretStr(KEY)}
    )
    ready = await _get(create_app(nowhere, engine=engine), "/health/ready")
    assert ready.status_code == 200  # events wait in the outbox meanwhile (bounded: audit.backlog)
    body = ready.json()
    assert body["status"] == "degraded"
    assert body["checks"]["cosmos"] | {"error": None} == {
        "status": "degraded",
        "error": None,
        "effect": "audit events wait in the outbox",
    }
    assert body["checks"]["audit_relay"]["max_backlog"] == settings.audit_outbox_max_backlog
