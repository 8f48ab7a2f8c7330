"""Large cost exports run as background jobs: the request answers 202, the worker job writes the file to
storage with progress, and the job's download link returns a file that adds up to the ledger. A job that
cannot store its file ends failed with a clear error and no file; another tenant's job is not found."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from donatello.auth.tokens import TokenSigner
from donatello.config import Settings
from donatello.core.database import transaction
from donatello.exports.tasks import Exporter
from donatello.models import ExportJob
from donatello.storage.blob import BlobImageStore
from tests.support import factories
from tests.support.factories import unique
from tests.support.ledger import committed_tenant
from tests.support.reports_world import build, flat_charges, ledger_sum
from tests.support.signin import bearer_for

LARGE = "/v1/cost-events/export?from=2025-01-01&to=2026-12-31"  # over export_inline_max_days


async def _events(db: AsyncSession, job_id: str) -> list[dict[str, Any]]:
    rows = await db.execute(
        text(
            "SELECT payload FROM audit_outbox WHERE event_type = 'cost_events.export_completed'"
            " AND payload->>'resource_id' = :id"
        ),
        {"id": job_id},
    )
    return list(rows.scalars())


async def test_a_large_export_runs_as_a_job_and_its_link_downloads_the_ledger(
    db: AsyncSession, client: httpx.AsyncClient, tokens: TokenSigner, app: FastAPI, settings: Settings
) -> None:
    world = await build(db)
    org = world.orgs[0]
    finance = world.members["finance"]
    response = await client.get(f"{LARGE}&format=csv", headers=bearer_for(tokens, finance))
    assert response.status_code == 202, response.text
    queued = response.json()
    assert response.headers["location"] == f"/v1/exports/{queued['id']}"
    assert queued["status"] == "queued" and queued["download_url"] is None
    assert queued["rows_estimate"] > 0 and queued["progress_percent"] == "0.00"

    # Progress is written beside the export on a connection of its own, which this harness (every
    # session on the test's one connection) cannot give it: progress is proven on committed rows below.
    exporter = Exporter(
        app.state.sessionmaker, settings, app.state.image_store, progress_every=10**9, batch=10
    )
    while await exporter.run_once():
        pass

    status = await client.get(f"/v1/exports/{queued['id']}", headers=bearer_for(tokens, finance))
    assert status.status_code == 200
    done = status.json()
    count = (
        await db.execute(text("SELECT count(*) FROM cost_events WHERE organization_id = :o"), {"o": org.id})
    ).scalar_one()
    assert done["status"] == "done" and done["error"] is None, done
    assert done["progress_percent"] == "100.00" and done["rows_written"] == count
    assert done["download_url"]

    listed = (await client.get("/v1/exports", headers=bearer_for(tokens, finance))).json()
    assert [job["id"] for job in listed["items"]] == [queued["id"]]
    assert listed["items"][0]["status"] == "done" and listed["items"][0]["download_url"]

    download = await client.get(done["download_url"])
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("text/csv")
    disposition = download.headers["content-disposition"]
    organization = org.name.lower().replace(" ", "-")
    assert disposition.startswith(f'attachment; filename="{organization}-cost-events-')
    assert disposition.endswith('.csv"')
    tampered = await client.get(done["download_url"][:-3] + "AAA")
    assert tampered.status_code == 404 and "link has expired or is not valid" in tampered.json()["detail"]
    rows = list(csv.DictReader(io.StringIO(download.text)))
    assert len(rows) == count
    everything = await ledger_sum(
        db, org, datetime(2024, 12, 1, tzinfo=UTC), datetime(2027, 2, 1, tzinfo=UTC)
    )
    assert sum(Decimal(r["actual_cost_aud"]) for r in rows) == everything
    assert {r["kind"] for r in rows} == {"charge", "refund", "correction"}
    assert list(exporter.scratch.iterdir()) == []  # the temporary file went with the job

    (event,) = await _events(db, queued["id"])
    assert event["status"] == "success" and event["user_id"] == str(finance.id)
    assert event["organization_id"] == str(org.id)
    assert event["metadata"]["rows_written"] == count

    outsider = await factories.user(db, world.orgs[1], role="finance")
    other = await client.get(f"/v1/exports/{queued['id']}", headers=bearer_for(tokens, outsider))
    assert other.status_code == 404
    assert (await client.get("/v1/exports", headers=bearer_for(tokens, outsider))).json()["items"] == []
    assert other.headers["content-type"].startswith("application/problem+json")


async def test_a_parquet_job_reads_back_with_decimals(
    db: AsyncSession, client: httpx.AsyncClient, tokens: TokenSigner, app: FastAPI, settings: Settings
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    world = await build(db, per_window=3)
    org, dept = world.orgs[0], world.departments[0]
    headers = bearer_for(tokens, world.members["org_admin"])
    response = await client.get(f"{LARGE}&format=focus&department_id={dept.id}", headers=headers)
    assert response.status_code == 202
    while await Exporter(app.state.sessionmaker, settings, app.state.image_store).run_once():
        pass
    done = (await client.get(f"/v1/exports/{response.json()['id']}", headers=headers)).json()
    assert done["status"] == "done"
    table = pq.read_table(io.BytesIO((await client.get(done["download_url"])).content))
    assert table.schema.field("BilledCost").type == pa.decimal128(14, 4)
    truth = await ledger_sum(
        db, org, datetime(2024, 12, 1, tzinfo=UTC), datetime(2027, 2, 1, tzinfo=UTC), dept
    )
    assert sum(table.column("BilledCost").to_pylist(), Decimal(0)) == truth


async def test_a_job_that_cannot_store_its_file_fails_clearly_and_leaves_no_file(
    db: AsyncSession,
    client: httpx.AsyncClient,
    tokens: TokenSigner,
    settings: Settings,
    app: FastAPI,
    azurite_connection_string: str,
) -> None:
    world = await build(db, per_window=2)
    headers = bearer_for(tokens, world.members["finance"])
    response = await client.get(f"{LARGE}&format=parquet", headers=headers)
    assert response.status_code == 202
    job_id = response.json()["id"]
    missing = unique("no-such-container")  # never created: every upload is refused by the storage
    store = BlobImageStore.from_connection_string(azurite_connection_string, missing)
    try:
        exporter = Exporter(app.state.sessionmaker, settings, store)
        while await exporter.run_once():
            pass
    finally:
        await store.close()

    failed = (await client.get(f"/v1/exports/{job_id}", headers=headers)).json()
    assert failed["status"] == "failed" and failed["download_url"] is None
    assert failed["error"].startswith("ResourceNotFoundError: ")
    assert "container does not exist" in failed["error"]
    assert failed["finished_at"] is not None
    assert list(exporter.scratch.iterdir()) == []
    (event,) = await _events(db, job_id)
    assert event["status"] == "failure" and event["error_message"] == failed["error"]


async def test_a_job_whose_worker_died_is_taken_over_and_a_live_one_is_left_alone(
    db: AsyncSession, client: httpx.AsyncClient, tokens: TokenSigner, app: FastAPI, settings: Settings
) -> None:
    world = await build(db, per_window=2)
    headers = bearer_for(tokens, world.members["finance"])
    abandoned = (await client.get(f"{LARGE}&format=csv", headers=headers)).json()
    alive = (await client.get(f"{LARGE}&format=parquet", headers=headers)).json()
    # Both were claimed; one worker died ten minutes ago, the other beat a moment ago.
    await db.execute(
        text(
            "UPDATE export_jobs SET status = 'running', heartbeat_at = now() - interval '10 minutes' WHERE id = :id"
        ),
        {"id": abandoned["id"]},
    )
    await db.execute(
        text("UPDATE export_jobs SET status = 'running', heartbeat_at = now() WHERE id = :id"),
        {"id": alive["id"]},
    )

    exporter = Exporter(app.state.sessionmaker, settings, app.state.image_store)
    while await exporter.run_once():
        pass

    taken_over = (await client.get(f"/v1/exports/{abandoned['id']}", headers=headers)).json()
    left_alone = (await client.get(f"/v1/exports/{alive['id']}", headers=headers)).json()
    assert taken_over["status"] == "done" and taken_over["download_url"]
    assert left_alone["status"] == "running"


async def test_progress_moves_while_a_large_export_runs(
    engine: AsyncEngine, postgres_url: str, settings: Settings, app: FastAPI
) -> None:
    """What a finance user polling GET /v1/exports/{id} sees: rows_written rising while the job runs
    (written beside the export's COPY, never blocking it), then the whole count when it is done."""
    total = 150_000
    async with committed_tenant(engine, postgres_url, budget="100.00") as tenant:
        member = tenant.members[0]
        owner = create_async_engine(postgres_url)
        async with owner.begin() as connection:
            await flat_charges(connection, tenant.organization_id, tenant.department.id, member.id, total)
        await owner.dispose()
        sessions = async_sessionmaker(engine, expire_on_commit=False)
        async with transaction(sessions, platform=True) as session:
            job = ExportJob(
                organization_id=tenant.organization_id,
                requested_by=member.id,
                range_from=datetime(2026, 3, 1, tzinfo=UTC),
                range_to=datetime(2026, 6, 1, tzinfo=UTC),
                format="csv",
                rows_estimate=total,
            )
            session.add(job)
        exporter = Exporter(sessions, settings, app.state.image_store, progress_every=2_000, batch=1_000)

        seen: list[tuple[str, int]] = []

        async def watch() -> None:
            while True:
                async with transaction(sessions, platform=True) as session:
                    row = (
                        await session.execute(
                            select(ExportJob.status, ExportJob.rows_written).where(ExportJob.id == job.id)
                        )
                    ).one()
                seen.append((row[0], row[1]))
                await asyncio.sleep(0.005)

        watcher = asyncio.create_task(watch())
        try:
            assert await exporter.run_once()
        finally:
            watcher.cancel()
        async with transaction(sessions, platform=True) as session:
            done = await session.get(ExportJob, job.id)
            assert done is not None and done.storage_name is not None
            assert (done.status, done.rows_written) == ("done", total)
            await app.state.image_store.delete(done.storage_name)
        midway = [rows for status, rows in seen if status == "running" and 0 < rows < total]
        assert midway, seen[-5:]
        assert midway == sorted(midway)  # never backwards
