"""Exports that arrive by themselves: finance defines a schedule; the worker drops each day's file and the
month to date into Blob Storage (Azurite here) in the FinOps hubs layout, once per run, replacing rather
than duplicating, and a failed upload is shown on the schedule and retried."""

from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import httpx
import pyarrow.parquet as pq
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.auth.tokens import TokenSigner
from donatello.core.clock import utcnow
from donatello.exports import schedules
from donatello.exports.drops import Owed, owed_on
from donatello.exports.schedule_tasks import ScheduledExporter
from donatello.storage.blob import BlobImageStore
from tests.support import factories
from tests.support import generation_world as gw
from tests.support.savepoints import sessions_in

SYDNEY = ZoneInfo("Australia/Sydney")


def test_each_run_day_owes_yesterday_the_month_so_far_and_once_the_closed_month() -> None:
    def owed(local: datetime, since: date = date(2026, 1, 1)) -> list[Owed]:
        return owed_on(local, time(2, 0), daily=True, month_to_date=True, close_after_days=2, since=since)

    assert owed(datetime(2026, 12, 7, 3, 0, tzinfo=SYDNEY)) == [
        Owed("daily", date(2026, 12, 6), date(2026, 12, 6)),
        Owed("month-to-date", date(2026, 12, 1), date(2026, 12, 6)),
    ]
    # Before the day's time, the run day is still yesterday.
    assert owed(datetime(2026, 12, 7, 1, 59, tzinfo=SYDNEY))[0] == Owed(
        "daily", date(2026, 12, 5), date(2026, 12, 5)
    )
    # On the 1st, the month to date is the whole month just ended; two days on, it is exported once more.
    assert owed(datetime(2026, 12, 1, 3, 0, tzinfo=SYDNEY))[1] == Owed(
        "month-to-date", date(2026, 11, 1), date(2026, 11, 30)
    )
    assert owed(datetime(2026, 12, 3, 3, 0, tzinfo=SYDNEY))[2] == Owed(
        "month-close", date(2026, 11, 1), date(2026, 11, 30)
    )
    # A schedule made today does not backfill the days before it.
    assert owed(datetime(2026, 12, 7, 3, 0, tzinfo=SYDNEY), since=date(2026, 12, 8)) == []
    # A day's range is local midnight to local midnight (DST included).
    starts, ends = Owed("daily", date(2026, 10, 4), date(2026, 10, 4)).instants("Australia/Sydney")
    assert (ends - starts) == timedelta(hours=23)


async def test_a_daily_schedule_drops_its_files_in_the_hubs_layout_once_per_run_and_retries_a_failed_upload(
    app: FastAPI,
    client: httpx.AsyncClient,
    db: AsyncSession,
    tokens: TokenSigner,
    http: httpx.AsyncClient,
    azurite_connection_string: str,
) -> None:
    world = await gw.world(db, tokens)
    admitted = await client.post(
        "/v1/generations",
        json={"prompt": "a tram in the rain", "model": f"local/{world.local.model_name}", "size": "512x512"},
        headers=world.headers,
    )
    assert admitted.status_code == 202, admitted.text
    assert await (await gw.worker(app, db, http)).run_once()
    finance = await factories.user(db, world.org, role="finance")
    headers = {"Authorization": f"Bearer {tokens.issue(finance.id, world.org.id)}"}

    created = await client.post(
        "/v1/export-schedules",
        json={"name": "FinOps hub", "format": "focus", "focus_version": "1.3", "daily_at": "00:00"},
        headers=headers,
    )
    assert created.status_code == 201, created.text
    schedule = created.json()
    assert (schedule["container"], schedule["daily"], schedule["month_to_date"]) == ("ingestion", True, True)
    bad = await client.post(
        "/v1/export-schedules", json={"name": "x", "format": "csv", "focus_version": "1.3"}, headers=headers
    )
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")

    settings = app.state.settings
    sessions = sessions_in(await db.connection())
    zone = ZoneInfo(schedule["timezone"])
    local_day = utcnow().astimezone(zone).date()  # the charge's day (it was made just now)
    # Noon of the next day, whatever the time of day the test runs: the charge's day is "yesterday".
    now = [datetime.combine(local_day + timedelta(days=1), time(12, 0), zone).astimezone(UTC)]
    async with sessions() as session, session.begin():
        assert await schedules.plan_due(session, settings, now=now[0]) == 2
    async with sessions() as session, session.begin():
        assert await schedules.plan_due(session, settings, now=now[0]) == 0  # planned once

    container = f"ingestion-{uuid.uuid4().hex[:8]}"
    store = BlobImageStore.from_connection_string(azurite_connection_string, container)
    try:
        # The container is not there yet: the upload fails, is shown, and waits for its back-off.
        exporter = ScheduledExporter(sessions, settings, store, clock=lambda: now[0])
        assert await exporter.run_once()
        shown = (await client.get(f"/v1/export-schedules/{schedule['id']}", headers=headers)).json()
        [failed] = [run for run in shown["runs"] if run["status"] == "failed"]
        assert failed["attempts"] == 1 and "container does not exist" in failed["error"]
        assert datetime.fromisoformat(failed["next_attempt_at"]) == now[0] + timedelta(minutes=1)

        await store.ensure_container()
        while await exporter.run_once():
            pass
        shown = (await client.get(f"/v1/export-schedules/{schedule['id']}", headers=headers)).json()
        assert sorted(run["status"] for run in shown["runs"]) == [
            "done",
            "failed",
        ]  # waiting out its back-off
        now[0] += timedelta(minutes=2)
        while await exporter.run_once():
            pass

        shown = (await client.get(f"/v1/export-schedules/{schedule['id']}", headers=headers)).json()
        assert sorted(run["status"] for run in shown["runs"]) == ["done", "done"]
        scope = f"donatello/{world.org.domain}/finops-hub"
        daily = f"Costs-daily/{local_day:%Y/%m/%d}/{scope}/costs.focus-1.3.parquet"
        monthly = f"Costs/{local_day:%Y/%m}/{scope}/costs.focus-1.3.parquet"
        manifest_of = {
            path: path.replace("costs.focus-1.3.parquet", "manifest.json") for path in (daily, monthly)
        }
        assert {run["path"] for run in shown["runs"]} == {daily, monthly}
        names = sorted([blob.name async for blob in store._container.list_blobs()])
        assert names == sorted([daily, monthly, *manifest_of.values()])
        [row] = pq.read_table(io.BytesIO(await store.get(daily))).to_pylist()
        assert str(row["BilledCost"]) == "0.0500" and row["ServiceProviderName"] == "DonatelloAI"
        manifest = json.loads(await store.get(manifest_of[daily]))
        assert (manifest["rows"], manifest["focusVersion"]) == (1, "1.3")
        assert manifest["files"] == ["costs.focus-1.3.parquet"]

        # The next day's month to date replaces the month's file; nothing is duplicated.
        now[0] += timedelta(days=1)
        while await exporter.run_once():
            pass
        after = sorted([blob.name async for blob in store._container.list_blobs()])
        assert [name for name in after if name.startswith("Costs/")] == [monthly, manifest_of[monthly]]
        assert (
            len([name for name in after if name.startswith("Costs-daily/")]) == 4
        )  # two days, two files each
        assert json.loads(await store.get(manifest_of[monthly]))["rows"] == 1
    finally:
        await store.close()

    paused = await client.patch(
        f"/v1/export-schedules/{schedule['id']}", json={"enabled": False}, headers=headers
    )
    assert paused.status_code == 200 and paused.json()["enabled"] is False
    async with sessions() as session, session.begin():
        assert await schedules.plan_due(session, settings, now=now[0] + timedelta(days=5)) == 0
    staff = await client.get("/v1/export-schedules", headers=world.headers)
    assert staff.status_code == 403
    other = await factories.organization(db)
    outsider = await factories.user(db, other, role="finance")
    hidden = await client.get(
        f"/v1/export-schedules/{schedule['id']}",
        headers={"Authorization": f"Bearer {tokens.issue(outsider.id, other.id)}"},
    )
    assert hidden.status_code == 404
    assert (await client.delete(f"/v1/export-schedules/{schedule['id']}", headers=headers)).status_code == 204
    assert (await client.get("/v1/export-schedules", headers=headers)).json() == []
