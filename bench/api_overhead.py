"""Request-path overhead as a ratio against a bare SQL transaction measured in the same run.

Baseline: one `BEGIN; SELECT 1; COMMIT` on the same engine. Measured: an authenticated
`GET /v1/departments` through the whole app (token check, tenant setting, principal load, scoped query,
serialisation) in process. The figure to watch is the ratio, not the milliseconds.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Awaitable, Callable

import httpx
from sqlalchemy import select, text

from donatello import demo
from donatello.config import Settings
from donatello.core.database import create_engine, create_sessionmaker, transaction
from donatello.main import create_app
from donatello.models import User

ROUNDS = 300


async def _timed(operation: Callable[[], Awaitable[object]], rounds: int = ROUNDS) -> list[float]:
    for _ in range(20):  # warm-up
        await operation()
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        await operation()
        samples.append(time.perf_counter() - started)
    return samples


def _p(samples: list[float], q: float) -> float:
    return sorted(samples)[int(q * (len(samples) - 1))] * 1000


async def run(url: str, settings: Settings) -> None:
    engine = create_engine(url, app_role=settings.database_app_role)
    sessions = create_sessionmaker(engine)
    async with transaction(sessions, platform=True) as session:
        await demo.seed_in(session, settings.default_timezone)

    async def bare_transaction() -> None:
        async with transaction(sessions) as session:
            await session.execute(text("SELECT 1"))

    app = create_app(settings, engine=engine)
    async with app.router.lifespan_context(app):
        async with transaction(sessions, platform=True) as session:
            admin = (
                await session.execute(select(User).where(User.email == "org_admin@acme.com.au"))
            ).scalar_one()
        token = app.state.token_signer.issue(admin.id, admin.organization_id)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:

            async def list_departments() -> None:
                response = await client.get("/v1/departments", headers={"Authorization": f"Bearer {token}"})
                response.raise_for_status()

            baseline = await _timed(bare_transaction)
            measured = await _timed(list_departments)
    await engine.dispose()

    ratio = statistics.median(measured) / statistics.median(baseline)
    print(
        f"baseline  bare transaction      p50 {_p(baseline, 0.5):6.2f} ms  p95 {_p(baseline, 0.95):6.2f} ms"
    )
    print(
        f"measured  GET /v1/departments   p50 {_p(measured, 0.5):6.2f} ms  p95 {_p(measured, 0.95):6.2f} ms"
    )
    print(f"ratio     median request / median bare transaction = {ratio:.1f}x  ({ROUNDS} rounds each)")
