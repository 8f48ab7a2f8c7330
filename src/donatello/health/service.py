"""Dependency checks, each bounded in time so a hung dependency cannot hang the probe."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from donatello.audit import service as audit
from donatello.core.database import set_platform_scope
from donatello.health import repository

CHECK_TIMEOUT_SECONDS = 2.0
#: The relay ships within a second or two when the store answers: older events mean it is away or slow.
AUDIT_LAG_DEGRADED_SECONDS = 30.0


async def check_dependencies(state: Any) -> dict[str, dict[str, Any]]:
    checks: dict[str, Callable[[], Awaitable[None]]] = {"database": lambda: _database(state.engine)}
    redis = getattr(state, "redis", None)
    if redis is not None:
        checks["redis"] = redis.ping
    store = getattr(state, "audit_store", None)
    if store is not None:
        checks["cosmos"] = store.ping
    names = list(checks)
    results = await asyncio.gather(*(_timed(checks[name]) for name in names), _audit_lag(state))
    report = dict(zip(names, results[:-1], strict=True))
    report["audit_relay"] = results[-1]
    if report.get("redis", {}).get("status") == "down":
        # Serving goes on without Redis (core.fallback): degraded, not unready.
        report["redis"] |= {"status": "degraded", "effect": "rate limits counted per process"}
    if report.get("cosmos", {}).get("status") == "down":
        # Serving goes on without the audit store: events wait in the outbox (audit.backlog bounds it).
        report["cosmos"] |= {"status": "degraded", "effect": "audit events wait in the outbox"}
    return report


def ready(report: dict[str, dict[str, Any]]) -> bool:
    """Ready when every dependency answers; a degraded one (Redis, the audit store) still serves."""
    return all(check["status"] in ("ok", "degraded") for check in report.values())


def overall(report: dict[str, dict[str, Any]]) -> str:
    if not ready(report):
        return "unavailable"
    return "degraded" if any(check["status"] == "degraded" for check in report.values()) else "ok"


async def _audit_lag(state: Any) -> dict[str, Any]:
    """The relay's backlog and the age of its oldest event. It never makes the API unready (the outbox
    keeps every event): degraded once events wait longer than ``AUDIT_LAG_DEGRADED_SECONDS``, and it
    says when the backlog has reached the bound beyond which new generations are refused."""
    limit = state.settings.audit_outbox_max_backlog
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS), state.sessionmaker() as session, session.begin():
            await set_platform_scope(session)
            lag = await audit.lag(session)
    except Exception as exc:
        return {"status": "down", "error": type(exc).__name__}
    report: dict[str, Any] = {"status": "ok", **lag, "max_backlog": limit or None}
    if limit and lag["undelivered"] >= limit:
        report |= {"status": "degraded", "effect": "new generations refused until the relay catches up"}
    elif (lag["oldest_undelivered_age_s"] or 0) > AUDIT_LAG_DEGRADED_SECONDS:
        report |= {"status": "degraded", "effect": "audit events wait in the outbox"}
    return report


async def _database(engine: AsyncEngine) -> None:
    await repository.answers(engine)


async def _timed(check: Callable[[], Awaitable[Any]]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        await asyncio.wait_for(check(), CHECK_TIMEOUT_SECONDS)
    except Exception as exc:  # any failure makes the dependency "down"; its class tells why
        return {"status": "down", "error": type(exc).__name__}
    return {"status": "ok", "latency_ms": round((time.perf_counter() - started) * 1000, 1)}
