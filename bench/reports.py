"""Reports and finance exports at scale: a fast ledger generator, report latency, export throughput
against raw ``COPY`` of the same rows, and the exporting process's peak RSS.

Data: one organization (Australia/Sydney), 8 departments with budgets, 200 users, ``N`` cost events
(``DONATELLO_BENCH_EVENTS``, default 200,000) spread over the last 365 days across 4 models — charges,
plus a refund for every 50th and a correction for every 97th — written by set-based SQL
(``generate_series``) as the table owner, in chunks of 250,000 on two connections at once with
foreign-key and ledger triggers off for the load (``session_replication_role = replica``: the rows are
consistent by construction) and time-ordered ids (``uuidv7`` at each event's own time), then the daily
rollups rebuilt from the ledger (the same ``rollups.rebuild`` an operator runs). 10 M events::

    DONATELLO_BENCH_EVENTS=10000000 .venv/bin/python -m bench reports

Measured: p50/p95 of every report endpoint and of the dashboard pages (browser-session cookie) through
the whole app in process (ASGI client); CSV export
rows/s (``exports.to_file``, what the worker job and the CLI run) against ``COPY (SELECT …) TO STDOUT``
of the same rows in the same run; Parquet rows/s; peak RSS (``wait4``) of ``donatello export`` processes
exporting one month and the whole year — flat memory means the two are close.
"""

from __future__ import annotations

import asyncio
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import psycopg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from bench.api_overhead import _p
from donatello.budgets import rollups
from donatello.budgets.periods import period_at
from donatello.config import Settings
from donatello.core.clock import utcnow
from donatello.core.database import create_engine, create_sessionmaker, set_tenant, transaction
from donatello.exports import files as exports
from donatello.exports.files import ExportRange
from donatello.main import create_app
from donatello.models import Department, DepartmentBudget, Organization, User
from donatello.sessions import browser
from donatello.web.dependencies import lifetimes
from donatello.web.security import session_cookie_name

ZONE = "Australia/Sydney"
DEPARTMENTS = 8
USERS = 200
ROUNDS = 60
CHUNK = 250_000  # charges per load transaction
LOADERS = 2  # connections loading at once (one per core here)
MODELS = (  # provider, model, size, quality, price AUD
    ("azure_openai", "dall-e-3", "1024x1024", "standard", "0.0620"),
    ("azure_openai", "dall-e-3", "1024x1792", "hd", "0.1860"),
    ("azure_openai", "gpt-image-1", "1024x1024", "medium", "0.0650"),
    ("local", "pillow-sketch", "512x512", None, "0.0000"),
)

#: The ledger columns every export reads, unformatted: the baseline copies these as they are stored.
RAW_COLUMNS = (
    "id", "generation_id", "kind", "corrects_event_id", "created_at", "department_id", "department_code",
    "department_name", "user_id", "user_email", "model_provider", "model_name", "size", "quality",
    "image_count", "estimated_cost_aud", "actual_cost_aud", "currency", "pricing_currency", "pricing_amount",
    "fx_rate", "fx_rate_source", "fx_rate_date",
)  # fmt: skip

_GENERATE = text(
    """
    CREATE TEMP TABLE bench_seq ON COMMIT DROP AS
    SELECT i, uuidv7(t.at - now()) AS generation_id, uuidv7(t.at - now() + interval '5 seconds') AS event_id,
        1 + (i * 7919) % :users AS who, 1 + i % 4 AS what, t.at
    FROM generate_series(CAST(:lo AS bigint), :hi) AS i,
        LATERAL (SELECT now() - interval '365 days' + (i::double precision / :n) * interval '365 days'
            + ((i * 104729) % 3600) * interval '1 second' AS at) AS t;

    INSERT INTO generations (id, organization_id, user_id, department_id, model_provider, model_name,
        prompt_encrypted, status, completed_at, image_url, created_at)
    SELECT s.generation_id, :org, (CAST(:user_ids AS uuid[]))[s.who], (CAST(:dept_ids AS uuid[]))[s.who], (CAST(:providers AS text[]))[s.what],
        (CAST(:models AS text[]))[s.what], 'sealed', 'completed', s.at,
        'images/bench/' || s.generation_id || '-0.png', s.at
    FROM bench_seq s;

    INSERT INTO cost_events (id, organization_id, generation_id, department_id, user_id, kind,
        model_provider, model_name, size, quality, image_count, estimated_cost_aud, actual_cost_aud,
        pricing_currency, pricing_amount, fx_rate, fx_rate_source, fx_rate_date,
        department_code, department_name, user_email, created_at)
    SELECT s.event_id, :org, s.generation_id, (CAST(:dept_ids AS uuid[]))[s.who], (CAST(:user_ids AS uuid[]))[s.who], 'charge',
        (CAST(:providers AS text[]))[s.what], (CAST(:models AS text[]))[s.what], (CAST(:sizes AS text[]))[s.what], (CAST(:qualities AS text[]))[s.what], 1,
        (CAST(:prices AS numeric[]))[s.what], (CAST(:prices AS numeric[]))[s.what], 'USD', round((CAST(:prices AS numeric[]))[s.what] / 1.52, 4), 1.52,
        'bench', s.at::date, (CAST(:codes AS text[]))[s.who], (CAST(:names AS text[]))[s.who], (CAST(:emails AS text[]))[s.who], s.at + interval '5 seconds'
    FROM bench_seq s;

    INSERT INTO cost_events (organization_id, generation_id, department_id, user_id, kind,
        corrects_event_id, model_provider, model_name, size, quality, image_count, estimated_cost_aud,
        actual_cost_aud, department_code, department_name, user_email, created_at)
    SELECT :org, s.generation_id, (CAST(:dept_ids AS uuid[]))[s.who], (CAST(:user_ids AS uuid[]))[s.who],
        CASE WHEN s.i % 50 = 0 THEN 'refund' ELSE 'correction' END, s.event_id,
        (CAST(:providers AS text[]))[s.what], (CAST(:models AS text[]))[s.what], (CAST(:sizes AS text[]))[s.what], (CAST(:qualities AS text[]))[s.what], 0,
        0, CASE WHEN s.i % 50 = 0 THEN -(CAST(:prices AS numeric[]))[s.what] ELSE 0.0125 END,
        (CAST(:codes AS text[]))[s.who], (CAST(:names AS text[]))[s.who], (CAST(:emails AS text[]))[s.who], s.at + interval '2 hours'
    FROM bench_seq s WHERE s.i % 50 = 0 OR s.i % 97 = 0;
    """
)


async def _tenant(
    sessions: async_sessionmaker[AsyncSession],
) -> tuple[Organization, list[User], User, dict[uuid.UUID, Department]]:
    name = f"bench-{uuid.uuid4().hex[:8]}"
    async with transaction(sessions, platform=True) as session:
        org = Organization(name=name, domain=f"{name}.com.au", settings={"timezone": ZONE})
        session.add(org)
        await session.flush()
        period = period_at(utcnow(), ZONE)
        departments = []
        for index in range(DEPARTMENTS):
            dept = Department(organization_id=org.id, name=f"Department {index}", code=f"D{index:02d}")
            session.add(dept)
            await session.flush()
            session.add(
                DepartmentBudget(
                    organization_id=org.id,
                    department_id=dept.id,
                    monthly_budget_aud=Decimal("5000.00") * (index + 1),
                    budget_period_start=period.start,
                    budget_period_end=period.end,
                )
            )
            departments.append(dept)
        users = [
            User(
                organization_id=org.id,
                department_id=departments[index % DEPARTMENTS].id,
                azure_ad_id=f"{name}-{index}",
                email=f"user{index}@{name}.com.au",
                role="power_user",
                mfa_enabled=True,
            )
            for index in range(USERS)
        ]
        admin = User(
            organization_id=org.id,
            azure_ad_id=f"{name}-admin",
            email=f"admin@{name}.com.au",
            role="org_admin",
            mfa_enabled=True,
        )
        session.add_all([*users, admin])
        await session.flush()
    return org, users, admin, {d.id: d for d in departments}


async def _generate(
    url: str, sessions: async_sessionmaker[AsyncSession], count: int
) -> tuple[Organization, User]:
    org, users, admin, departments = await _tenant(sessions)
    owner = create_async_engine(url)  # the table owner: set-based inserts without row-level checks
    started = time.perf_counter()
    params = {
        "org": org.id,
        "n": count,
        "users": USERS,
        "user_ids": [u.id for u in users],
        "dept_ids": [u.department_id for u in users],
        "codes": [departments[u.department_id].code for u in users],
        "names": [departments[u.department_id].name for u in users],
        "emails": [u.email for u in users],
        "providers": [m[0] for m in MODELS],
        "models": [m[1] for m in MODELS],
        "sizes": [m[2] for m in MODELS],
        "qualities": [m[3] for m in MODELS],
        "prices": [Decimal(m[4]) for m in MODELS],
    }
    async with owner.connect() as connection:  # the bench's own server: fewer checkpoints for the load
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.execute(text("ALTER SYSTEM SET max_wal_size = '16GB'"))
        await connection.execute(text("SELECT pg_reload_conf()"))
    chunks = [(lo, min(lo + CHUNK - 1, count)) for lo in range(1, count + 1, CHUNK)]
    done = 0

    async def load() -> None:
        nonlocal done
        async with owner.connect() as connection:
            await connection.execute(text("SET session_replication_role = replica"))
            await connection.commit()
            while chunks:
                lo, hi = chunks.pop(0)
                async with connection.begin():
                    for statement in str(_GENERATE.text).split(";"):
                        if statement.strip():
                            await connection.execute(text(statement), {**params, "lo": lo, "hi": hi})
                done += hi - lo + 1
                elapsed = time.perf_counter() - started
                print(f"  {done:,} charges in {elapsed:.0f} s", file=sys.stderr, flush=True)

    await asyncio.gather(*(load() for _ in range(LOADERS)))
    async with owner.begin() as connection:
        await connection.execute(text("ANALYZE generations"))
        await connection.execute(text("ANALYZE cost_events"))
    generated = time.perf_counter() - started
    started = time.perf_counter()
    today = utcnow().astimezone(ZoneInfo(ZONE)).date()
    async with transaction(sessions, platform=True) as session:
        written = await rollups.rebuild(
            session, org.id, ZONE, today - timedelta(days=370), today + timedelta(days=1)
        )
    async with owner.begin() as connection:
        await connection.execute(text("ANALYZE cost_daily_rollups"))
        total = (
            await connection.execute(
                text("SELECT count(*) FROM cost_events WHERE organization_id = :o"), {"o": org.id}
            )
        ).scalar_one()
    await owner.dispose()
    print(
        f"generated {total:,} cost events ({count:,} charges + refunds/corrections) in {generated:.1f} s"
        f" ({total / generated:,.0f} rows/s); {written:,} rollup rows rebuilt in {time.perf_counter() - started:.1f} s"
    )
    return org, admin


async def _reports(
    settings: Settings, engine: object, org: Organization, admin: User, department: uuid.UUID
) -> None:
    app = create_app(settings, engine=engine)  # type: ignore[arg-type]
    month = (utcnow().astimezone(ZoneInfo(ZONE)).date().replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    paths = {
        "status": f"/v1/reports/departments/{department}/status",
        "burn-down": f"/v1/reports/departments/{department}/burn-down",
        "spend/user": f"/v1/reports/departments/{department}/spend/user?period={month}",
        "spend/model": f"/v1/reports/departments/{department}/spend/model?period={month}",
        "spend/day": f"/v1/reports/departments/{department}/spend/day?period={month}",
        "top-spenders": f"/v1/reports/departments/{department}/spend/top-spenders?period={month}",
        "periods (12)": f"/v1/reports/departments/{department}/periods?count=12",
        "organization": f"/v1/reports/organization?period={month}",
        "organization csv": f"/v1/reports/organization?period={month}&format=csv",
    }
    # The browser pages over the same services, signed in with a browser session's cookie.
    pages = {
        "dashboard page": f"/reports/{department}",
        "dashboard, month": f"/reports/{department}?period={month}",
        "overview page": f"/reports?period={month}",
    }
    async with app.router.lifespan_context(app):
        bearer = {"Authorization": f"Bearer {app.state.token_signer.issue(admin.id, org.id)}"}
        async with transaction(app.state.sessionmaker, platform=True) as session:
            signed_in = await browser.open_session(
                session, admin.id, org.id, device=None, lifetimes=lifetimes(settings), method="bench"
            )
        cookie = {"Cookie": f"{session_cookie_name(settings)}={signed_in.cookie}"}
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            for kind, paths_of_kind, headers in (("report", paths, bearer), ("page", pages, cookie)):
                for label, path in paths_of_kind.items():
                    for _ in range(5):
                        (await client.get(path, headers=headers)).raise_for_status()
                    samples = []
                    for _ in range(ROUNDS):
                        started = time.perf_counter()
                        (await client.get(path, headers=headers)).raise_for_status()
                        samples.append(time.perf_counter() - started)
                    print(
                        f"{kind:<6} {label:<17} p50 {_p(samples, 0.5):6.2f} ms  p95 {_p(samples, 0.95):6.2f} ms"
                    )


async def _copy_baseline(url: str, rng: ExportRange) -> tuple[int, float]:
    """The same rows, in the same order, as PostgreSQL's own CSV — the floor for any export."""
    columns = ", ".join(RAW_COLUMNS)
    sql = (
        f"COPY (SELECT {columns} FROM cost_events WHERE organization_id = %s AND created_at >= %s"
        " AND created_at < %s ORDER BY created_at, id) TO STDOUT WITH (FORMAT csv, HEADER)"
    )
    size = 0
    started = time.perf_counter()
    async with (
        await psycopg.AsyncConnection.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn,
        conn.cursor() as cursor,
        cursor.copy(sql, (rng.organization_id, rng.starts, rng.ends)) as copy,
    ):
        async for data in copy:
            size += len(data)
    return size, time.perf_counter() - started


async def _export(
    sessions: async_sessionmaker[AsyncSession], rng: ExportRange, path: Path
) -> tuple[int, float]:
    started = time.perf_counter()
    async with transaction(sessions) as session:
        await set_tenant(session, rng.organization_id)
        rows = await exports.to_file(session, rng, path)
    return rows, time.perf_counter() - started


#: Runs the command and prints its peak RSS (KiB). A process forked from this bench would inherit the
#: bench's own high-water mark (Linux keeps it across exec), so the export runs as a grandchild of
#: this small launcher and is measured with RUSAGE_CHILDREN there.
_LAUNCHER = (
    "import resource, subprocess, sys; code = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL,"
    " stderr=subprocess.DEVNULL); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss);"
    " sys.exit(code)"
)


def _cli_peak_rss(
    url: str, org: Organization, first: date, last: date, fmt: str, out: Path
) -> tuple[int, float]:
    """Peak RSS (MiB) of a ``donatello export`` process alone, and how long it took."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("DONATELLO_")},
        "DONATELLO_DATABASE_URL": url,
    }
    command = [sys.executable, "-c", _LAUNCHER, str(Path(sys.executable).with_name("donatello")), "export",
               "--org", str(org.id), "--from", str(first), "--to", str(last), "--format", fmt,
               "--out", str(out)]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return int(done.stdout.strip()) // 1024, time.perf_counter() - started  # Linux reports KiB


async def run(url: str, settings: Settings) -> None:
    count = int(os.environ.get("DONATELLO_BENCH_EVENTS", "200000"))
    engine = create_engine(url, app_role=settings.database_app_role, pool_size=4)
    sessions = create_sessionmaker(engine)
    org, admin = await _generate(url, sessions, count)
    async with transaction(sessions, platform=True) as session:
        department = (
            await session.execute(
                text("SELECT id FROM departments WHERE organization_id = :o ORDER BY code LIMIT 1"),
                {"o": org.id},
            )
        ).scalar_one()
    await _reports(settings, engine, org, admin, department)

    today = utcnow().astimezone(ZoneInfo(ZONE)).date()
    first, last = today - timedelta(days=366), today + timedelta(days=1)
    zone = ZoneInfo(ZONE)
    starts = datetime.combine(first, datetime.min.time(), zone)
    ends = datetime.combine(last + timedelta(days=1), datetime.min.time(), zone)
    with tempfile.TemporaryDirectory(prefix="donatello-bench-export-") as scratch:
        folder = Path(scratch)
        csv_range = ExportRange(org.id, org.name, ZONE, starts, ends, None, "csv")
        raw_bytes, raw_seconds = await _copy_baseline(url, csv_range)
        rows, csv_seconds = await _export(sessions, csv_range, folder / "all.csv")
        raw_rate, csv_rate = rows / raw_seconds, rows / csv_seconds
        print(
            f"baseline  COPY … TO STDOUT csv  {rows:,} rows in {raw_seconds:6.2f} s = {raw_rate:10,.0f} rows/s"
            f"  ({raw_bytes / 2**20:,.0f} MiB)"
        )
        print(
            f"measured  CSV export           {rows:,} rows in {csv_seconds:6.2f} s = {csv_rate:10,.0f} rows/s"
            f"  ({(folder / 'all.csv').stat().st_size / 2**20:,.0f} MiB)"
        )
        print(f"ratio     CSV export / COPY = {csv_rate / raw_rate:.2f} (rows/s)")
        for fmt in ("parquet", "focus"):
            rows, seconds = await _export(
                sessions, ExportRange(org.id, org.name, ZONE, starts, ends, None, fmt), folder / f"all.{fmt}"
            )
            print(
                f"measured  {fmt:<8} export       {rows:,} rows in {seconds:6.2f} s = {rows / seconds:10,.0f} rows/s"
                f"  ({(folder / f'all.{fmt}').stat().st_size / 2**20:,.1f} MiB)"
            )
        await engine.dispose()
        print(
            f"bench process peak RSS (all of the above, in process): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MiB"
        )
        month_first = today.replace(day=1)
        for fmt in ("csv", "parquet"):
            small, small_s = _cli_peak_rss(url, org, month_first, today, fmt, folder / f"month.{fmt}")
            large, large_s = _cli_peak_rss(url, org, first, last, fmt, folder / f"year.{fmt}")
            print(
                f"peak RSS  donatello export --format {fmt:<7}  this month {small:4d} MiB ({small_s:5.1f} s)"
                f"   whole range ({rows:,} rows) {large:4d} MiB ({large_s:5.1f} s)"
            )
