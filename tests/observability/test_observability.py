"""What an operator sees: Prometheus series at /metrics after real generations, and JSON logs that name
the request, organization and user but never a prompt, token or secret."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.auth.tokens import TokenSigner
from donatello.budgets.tasks import expire_lapsed_holds
from donatello.config import Settings
from donatello.core import metrics
from donatello.core.clock import utcnow
from donatello.core.logging import JsonFormatter
from donatello.models import AuditOutbox
from donatello.observability import tracing
from tests.support import generation_world as gw
from tests.support.audit_helpers import record_events
from tests.support.savepoints import sessions_in

PROMPT = "a platypus auditing the quarterly ledger under a jacaranda"


def _value(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


def _scraped(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    families: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            families.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
        families.setdefault(family.name, {})
    return families


async def test_metrics_expose_the_listed_series_after_an_end_to_end_generation(
    client: httpx.AsyncClient, db: AsyncSession, app: FastAPI, http: httpx.AsyncClient, tokens: TokenSigner
) -> None:
    world = await gw.world(db, tokens)
    poor = await gw.world(db, tokens, budget="0.01")
    before = {
        "completed": _value("donatello_generations_total", status="completed", provider="local"),
        "refused": _value("donatello_budget_refusals_total", reason="budget"),
        "expired": _value("donatello_reservation_expiries_total"),
        "provider": _value(
            "donatello_provider_request_duration_seconds_count",
            provider="local",
            model=world.local.model_name,
            outcome="ok",
        ),
    }

    accepted = await client.post("/v1/generations", json={"prompt": PROMPT}, headers=world.headers)
    assert accepted.status_code == 202, accepted.text
    assert await (await gw.worker(app, db, http)).run_once()
    done = await client.get(f"/v1/generations/{accepted.json()['id']}", headers=world.headers)
    assert done.json()["status"] == "completed"
    refused = await client.post("/v1/generations", json={"prompt": PROMPT}, headers=poor.headers)
    assert refused.status_code == 402
    # a hold nobody settles lapses; the sweep records it
    held = await client.post("/v1/generations", json={"prompt": PROMPT}, headers=world.headers)
    assert held.status_code == 202
    sessions = sessions_in(await db.connection())
    expired = await expire_lapsed_holds(sessions, at=utcnow() + timedelta(days=1))
    assert expired >= 1

    # A known backlog: everything written so far counts as shipped; one event written 40 minutes ago waits.
    await db.execute(
        update(AuditOutbox).where(AuditOutbox.delivered_at.is_(None)).values(delivered_at=func.now())
    )
    waiting_since = utcnow() - timedelta(minutes=40)
    await record_events(db, world.org.id, 1, timestamp=waiting_since)

    scraped_from = utcnow()
    scrape = await client.get("/metrics")
    scraped_by = utcnow()
    assert scrape.status_code == 200 and scrape.headers["content-type"].startswith("text/plain")
    series = _scraped(scrape.text)

    latency = series["donatello_http_request_duration_seconds_count"]
    routes = {dict(labels)["route"] for labels in latency}
    assert {"/v1/generations", "/v1/generations/{generation_id}"} <= routes
    assert not any(accepted.json()["id"] in route for route in routes)  # templates, never raw paths
    generations = series["donatello_generations_total"]
    assert generations[(("provider", "local"), ("status", "completed"))] == before["completed"] + 1
    provider = series["donatello_provider_request_duration_seconds_count"]
    key = (("model", world.local.model_name), ("outcome", "ok"), ("provider", "local"))
    assert provider[key] == before["provider"] + 1
    assert "donatello_provider_errors" in series  # declared (no failure happened here)
    assert series["donatello_budget_refusals_total"][(("reason", "budget"),)] == before["refused"] + 1
    assert series["donatello_reservation_expiries_total"][()] == before["expired"] + expired
    assert "donatello_webhook_delivery_failures" in series
    queued: dict[str, int] = dict(
        (
            await db.execute(
                text(
                    "SELECT status, count(*) FROM generations WHERE status IN ('pending', 'processing')"
                    " GROUP BY status"
                )
            )
        ).all()
    )
    depth = series["donatello_generation_queue_depth"]
    assert depth[(("status", "pending"),)] == queued.get("pending", 0)
    assert depth[(("status", "processing"),)] == queued.get("processing", 0)
    assert series["donatello_audit_outbox_pending"][()] == 1
    lag = series["donatello_audit_outbox_lag_seconds"][()]
    assert (
        (scraped_from - waiting_since).total_seconds() <= lag <= (scraped_by - waiting_since).total_seconds()
    )


async def test_logs_of_an_end_to_end_generation_name_the_request_and_tenant_but_hold_no_secret(
    client: httpx.AsyncClient,
    db: AsyncSession,
    app: FastAPI,
    http: httpx.AsyncClient,
    tokens: TokenSigner,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    world = await gw.world(db, tokens)
    token = world.headers["Authorization"].removeprefix("Bearer ")
    with caplog.at_level(logging.DEBUG):
        accepted = await client.post(
            "/v1/generations",
            json={"prompt": PROMPT, "negative_prompt": "no watermark"},
            headers={**world.headers, "X-Request-ID": "req-observability-1"},
        )
        assert accepted.status_code == 202
        assert await (await gw.worker(app, db, http)).run_once()
        done = (await client.get(f"/v1/generations/{accepted.json()['id']}", headers=world.headers)).json()
        await client.get(f"/v1/generations/{accepted.json()['id']}/prompt", headers=world.headers)
        await gw.fetch(client, done["image_urls"][0])

    # The test's own HTTP client (the "browser") logs the URLs it fetched; the service's logs are the rest.
    ours = [record for record in caplog.records if not record.name.startswith(("httpx", "httpcore"))]
    formatter = JsonFormatter()
    lines = [formatter.format(record) for record in ours]
    logged = "\n".join([*(record.getMessage() for record in ours), *lines])
    assert ours
    assert settings.entra_client_secret is not None, "the test settings sign in through the stub provider"
    secrets = [PROMPT, "platypus", "no watermark", token, settings.entra_client_secret.get_secret_value()]
    assert [secret[:12] for secret in secrets if secret in logged] == []
    # the signed file link (a bearer capability) never appears either
    link_token = done["image_urls"][0].rsplit("/", 1)[-1].split("?")[0]
    assert link_token not in logged

    entries = [json.loads(line) for line in lines]
    [finished] = [
        entry
        for entry in entries
        if entry["message"] == "request finished" and entry.get("request_id") == "req-observability-1"
    ]
    assert finished["route"] == "/v1/generations" and finished["status"] == 202
    assert finished["organization_id"] == str(world.org.id)
    assert finished["user_id"] == str(world.member.id)


def test_tracing_is_off_by_default_and_missing_opentelemetry_does_not_break_startup(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    assert settings.tracing_enabled is False
    assert tracing.install(FastAPI(), settings) is False
    enabled = settings.model_copy(update={"tracing_enabled": True})
    try:
        import opentelemetry  # noqa: F401
    except ImportError:
        with caplog.at_level(logging.WARNING):
            assert tracing.install(FastAPI(), enabled) is False
        assert "OpenTelemetry is not installed" in caplog.text
