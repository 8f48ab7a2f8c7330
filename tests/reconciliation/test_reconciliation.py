"""Finance uploads the provider's bill and sees, per local day and model, whether it matches what we
charged: a faithful FOCUS export (two currencies, a DST day, refunds) reconciles to zero drift to the
cent; a changed day, a missing day and an unknown meter are flagged exactly there; the same file twice
changes nothing; a large file runs as a job; another tenant's reconciliation is 404."""

from __future__ import annotations

import asyncio
import csv
import io
from decimal import Decimal
from pathlib import Path

import httpx
from bench.reconciliation import committed_organization
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from donatello.auth.tokens import TokenSigner
from donatello.config import Settings
from donatello.core.database import transaction
from donatello.core.pagination import encode_cursor
from donatello.reconciliation import service
from donatello.reconciliation.tasks import Reconciler
from tests.support import factories
from tests.support.reconciliation_world import (
    DAYS,
    SYDNEY,
    build,
    focus_lines,
    ledger_by_day_and_model,
    write_csv,
    write_parquet,
)
from tests.support.signin import bearer_for


async def _upload(
    client: httpx.AsyncClient, headers: dict[str, str], path: Path, *, file_format: str = "focus", **form: str
) -> httpx.Response:
    return await client.post(
        "/v1/reconciliations",
        data={"provider": "azure-openai", "format": file_format, **form},
        files={"file": (path.name, await asyncio.to_thread(path.read_bytes), "text/csv")},
        headers=headers,
    )


async def _all_rows(client: httpx.AsyncClient, headers: dict[str, str], rid: str) -> list[dict[str, str]]:
    rows, cursor = [], None
    while True:
        query = f"?rows=all&limit=7{f'&cursor={cursor}' if cursor else ''}"
        page = (await client.get(f"/v1/reconciliations/{rid}{query}", headers=headers)).json()
        rows += page["rows"]
        if not (cursor := page["next_cursor"]):
            return rows


async def _counts(db: AsyncSession, org_id: object) -> tuple[int, ...]:
    counts = []
    for table in ("reconciliations", "reconciliation_lines", "reconciliation_rows"):
        sql = f"SELECT count(*) FROM {table} WHERE organization_id = :o"
        counts.append((await db.execute(text(sql), {"o": org_id})).scalar_one())
    audit = (
        "SELECT count(*) FROM audit_outbox WHERE organization_id = :o AND event_type LIKE 'reconciliation.%'"
    )
    counts.append((await db.execute(text(audit), {"o": org_id})).scalar_one())
    return tuple(counts)


async def test_a_faithful_focus_export_reconciles_to_zero_drift_to_the_cent(
    db: AsyncSession, client: httpx.AsyncClient, tokens: TokenSigner, tmp_path: Path
) -> None:
    world = await build(db)
    path = write_csv(focus_lines(world), tmp_path / "focus.csv")
    response = await _upload(client, bearer_for(tokens, world.finance), path)
    assert response.status_code == 201, response.text
    summary = response.json()
    assert summary["status"] == "done"
    assert (summary["flagged_rows"], summary["unmapped_lines"]) == (0, 0)
    assert summary["drift_total_aud"] == "0.0000"
    assert (summary["period_from"], summary["period_to"]) == (str(DAYS[0]), str(DAYS[-1]))
    assert summary["rows_read"] == len(world.events)

    truth = await ledger_by_day_and_model(db, world)
    rows = await _all_rows(client, bearer_for(tokens, world.finance), summary["id"])
    assert {(r["day"], r["model_name"]): Decimal(r["charged_aud"]) for r in rows} == {
        (str(day), model): total for (day, model), total in truth.items()
    }
    assert all(r["drift_aud"] == "0.0000" and r["provider_aud"] == r["charged_aud"] for r in rows)
    assert Decimal(summary["charged_total_aud"]) == sum(truth.values())
    # the DST day (25 hours in Sydney) is compared as one local day, both models present
    assert {r["model_name"] for r in rows if r["day"] == "2031-04-06"} == {
        world.usd_model.model_name,
        world.aud_model.model_name,
    }
    # image counts: the provider's consumed quantity against the images we charged
    assert all(Decimal(r["provider_quantity"]) == r["charged_images"] for r in rows)

    table = await client.get(
        f"/v1/reconciliations/{summary['id']}/comparison.csv", headers=bearer_for(tokens, world.finance)
    )
    assert table.status_code == 200 and table.headers["content-type"].startswith("text/csv")
    usd_lines = [
        line
        for line in csv.DictReader(io.StringIO(table.text))
        if line["kind"] == "provider_line" and line["currency"] == "USD"
    ]
    assert usd_lines and all(line["fx_rate_source"] == "RBA 4pm" for line in usd_lines)
    assert {line["day"]: Decimal(line["fx_rate"]) for line in usd_lines}["2031-04-05"] == Decimal("1.52")


async def test_a_parquet_export_with_float_costs_reconciles_the_same(
    db: AsyncSession, client: httpx.AsyncClient, tokens: TokenSigner, tmp_path: Path
) -> None:
    world = await build(db, seed=5)
    path = write_parquet(focus_lines(world), tmp_path / "focus.parquet")
    response = await _upload(client, bearer_for(tokens, world.admin), path)
    assert response.status_code == 201, response.text
    assert response.json()["drift_total_aud"] == "0.0000"
    assert response.json()["flagged_rows"] == 0


async def test_a_changed_day_a_missing_day_and_an_unknown_meter_are_flagged_exactly_there(
    db: AsyncSession, client: httpx.AsyncClient, tokens: TokenSigner, tmp_path: Path
) -> None:
    world = await build(db)
    lines = focus_lines(world)
    changed_day, missing_day = "2031-04-06", "2031-04-04"
    usd, aud = world.usd_model.model_name, world.aud_model.model_name

    def local_day(line: dict[str, object]) -> str:
        from datetime import datetime

        return str(datetime.fromisoformat(str(line["ChargePeriodStart"])).astimezone(SYDNEY).date())

    for line in lines:
        if (
            local_day(line) == changed_day
            and line["SkuMeter"] == world.meters[usd]
            and line["ChargeCategory"] == "Usage"
        ):
            line["BilledCost"] = Decimal(str(line["BilledCost"])) * 2
    lines = [
        line
        for line in lines
        if not (local_day(line) == missing_day and line["SkuMeter"] == world.meters[aud])
    ]
    lines.append({**lines[0], "SkuMeter": "Sora Video Output", "x_SkuMeterName": "Sora Video Output"})
    path = write_csv(lines, tmp_path / "drifted.csv")

    response = await _upload(client, bearer_for(tokens, world.finance), path)
    assert response.status_code == 201, response.text
    summary = response.json()
    detail = (
        await client.get(f"/v1/reconciliations/{summary['id']}", headers=bearer_for(tokens, world.finance))
    ).json()
    flagged = {(row["day"], row["model_name"]) for row in detail["rows"]}
    assert flagged == {(changed_day, usd), (missing_day, aud)}
    assert summary["flagged_rows"] == 2
    missing = next(row for row in detail["rows"] if row["day"] == missing_day)
    assert missing["provider_aud"] == "0.0000" and missing["drift_percent"] == "-100.00"

    unmapped = (
        await client.get(
            f"/v1/reconciliations/{summary['id']}/unmapped", headers=bearer_for(tokens, world.finance)
        )
    ).json()["items"]
    assert [(line["source_key"], line["status"], line["model_name"]) for line in unmapped] == [
        ("acme-openai · Sora Video Output", "unmapped", None)
    ]
    assert unmapped[0]["cost"] == str(Decimal(str(lines[0]["BilledCost"])).quantize(Decimal("0.00000001")))


async def test_importing_the_same_file_twice_changes_nothing(
    db: AsyncSession, client: httpx.AsyncClient, tokens: TokenSigner, tmp_path: Path
) -> None:
    world = await build(db)
    path = write_csv(focus_lines(world), tmp_path / "focus.csv")
    first = await _upload(client, bearer_for(tokens, world.finance), path)
    assert first.status_code == 201
    before = await _counts(db, world.org.id)
    again = await _upload(client, bearer_for(tokens, world.admin), path)
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert await _counts(db, world.org.id) == before
    listed = (await client.get("/v1/reconciliations", headers=bearer_for(tokens, world.finance))).json()
    assert [item["id"] for item in listed["items"]] == [first.json()["id"]]


async def test_a_generic_csv_names_our_models_directly_by_local_day(
    db: AsyncSession, client: httpx.AsyncClient, tokens: TokenSigner, tmp_path: Path
) -> None:
    world = await build(db)
    truth = await ledger_by_day_and_model(db, world)
    path = tmp_path / "bill.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["date", "model", "cost", "currency", "quantity"])
        for (day, model), total in sorted(truth.items()):
            writer.writerow([day, f"azure-openai/{model}", total, "AUD", ""])
        writer.writerow([DAYS[0], "stability/sdxl", "3.10", "AUD", "10"])
    response = await _upload(client, bearer_for(tokens, world.finance), path, file_format="generic")
    assert response.status_code == 201, response.text
    assert response.json()["drift_total_aud"] == "0.0000"
    assert (response.json()["flagged_rows"], response.json()["unmapped_lines"]) == (0, 1)


async def test_a_large_file_is_reconciled_by_the_worker_job(
    db: AsyncSession,
    client: httpx.AsyncClient,
    tokens: TokenSigner,
    app: FastAPI,
    settings: Settings,
    tmp_path: Path,
) -> None:
    world = await build(db)
    path = write_csv(focus_lines(world), tmp_path / "focus.csv")
    small = settings.model_copy(update={"reconciliation_inline_max_bytes": 1000})
    app.state.settings = small
    try:
        queued = await _upload(client, bearer_for(tokens, world.finance), path)
    finally:
        app.state.settings = settings
    assert queued.status_code == 202, queued.text
    assert queued.json()["status"] == "queued"

    reconciler = Reconciler(app.state.sessionmaker, settings, app.state.image_store)
    assert await reconciler.run_once()
    done = (
        await client.get(
            f"/v1/reconciliations/{queued.json()['id']}", headers=bearer_for(tokens, world.finance)
        )
    ).json()
    assert done["reconciliation"]["status"] == "done", done
    assert done["reconciliation"]["drift_total_aud"] == "0.0000"
    assert done["reconciliation"]["rows_read"] == len(world.events)


async def test_an_unreadable_file_is_refused_and_nothing_is_kept(
    db: AsyncSession, client: httpx.AsyncClient, tokens: TokenSigner, tmp_path: Path
) -> None:
    world = await build(db)
    path = tmp_path / "bad.csv"
    path.write_text("ChargePeriodStart,BilledCost,BillingCurrency,SkuMeter\n2031-04-03T00:00:00Z,abc,USD,x\n")
    response = await _upload(client, bearer_for(tokens, world.finance), path)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    missing = tmp_path / "missing.csv"
    missing.write_text("date,model\n2031-04-03,x\n")
    response = await _upload(client, bearer_for(tokens, world.finance), missing, file_format="generic")
    assert response.status_code == 422 and "cost" in response.json()["detail"]
    period = await _upload(client, bearer_for(tokens, world.finance), path, period="April")
    assert period.status_code == 422
    assert await _counts(db, world.org.id) == (0, 0, 0, 0)


async def test_another_tenants_reconciliation_is_404_and_staff_cannot_reconcile(
    db: AsyncSession, client: httpx.AsyncClient, tokens: TokenSigner, tmp_path: Path
) -> None:
    world = await build(db)
    path = write_csv(focus_lines(world), tmp_path / "focus.csv")
    rid = (await _upload(client, bearer_for(tokens, world.finance), path)).json()["id"]
    stranger_org = await factories.organization(db)
    stranger = await factories.user(db, stranger_org, role="finance")
    for suffix in ("", "/unmapped", "/comparison.csv"):
        response = await client.get(
            f"/v1/reconciliations/{rid}{suffix}", headers=bearer_for(tokens, stranger)
        )
        assert response.status_code == 404, suffix
    assert (await client.get("/v1/reconciliations", headers=bearer_for(tokens, stranger))).json()[
        "items"
    ] == []
    staff = await factories.user(db, world.org, role="power_user")
    assert (
        await client.get(f"/v1/reconciliations/{rid}", headers=bearer_for(tokens, staff))
    ).status_code == 403
    assert (await _upload(client, bearer_for(tokens, staff), path)).status_code == 403


async def test_finance_sets_the_mapping_and_the_next_import_uses_it(
    db: AsyncSession, client: httpx.AsyncClient, tokens: TokenSigner, tmp_path: Path
) -> None:
    world = await build(db)
    headers = bearer_for(tokens, world.finance)
    lines = focus_lines(world)
    for line in lines:  # Azure renamed the meter
        if line["SkuMeter"] == world.meters[world.usd_model.model_name]:
            line["SkuMeter"] = line["x_SkuMeterName"] = "DALL-E-3 Std 1024 Images v2"
    path = write_csv(lines, tmp_path / "renamed.csv")
    before = (await _upload(client, headers, path)).json()
    assert before["unmapped_lines"] > 0 and before["flagged_rows"] > 0

    current = (await client.get("/v1/reconciliation-settings", headers=headers)).json()
    assert current["tolerance_aud"] == "0.05"
    wanted = {
        **current,
        "mappings": {
            **current["mappings"],
            "DALL-E-3 Std 1024 Images v2": f"azure-openai/{world.usd_model.model_name}",
        },
    }
    bad = {**wanted, "mappings": {"x": "azure-openai/no-such-model"}}
    refused = await client.put("/v1/reconciliation-settings", json=bad, headers=headers)
    assert refused.status_code == 422 and refused.json()["unknown_models"] == ["azure-openai/no-such-model"]
    changed = await client.put("/v1/reconciliation-settings", json=wanted, headers=headers)
    assert changed.status_code == 200, changed.text

    after = await _upload(client, headers, path)  # same file, new configuration: a new reconciliation
    assert after.status_code == 201
    assert after.json()["id"] != before["id"]
    assert (
        after.json()["unmapped_lines"],
        after.json()["flagged_rows"],
        after.json()["drift_total_aud"],
    ) == (
        0,
        0,
        "0.0000",
    )
    staff = await factories.user(db, world.org, role="dept_manager")
    denied = await client.put("/v1/reconciliation-settings", json=wanted, headers=bearer_for(tokens, staff))
    assert denied.status_code == 403


async def _until_another_transaction_waits_for_a_lock(owner_url: str) -> None:
    """Returns once a transaction of this database is blocked on a lock; fails if none ever is."""
    owner = create_async_engine(owner_url)
    try:
        deadline = asyncio.get_running_loop().time() + 60
        while asyncio.get_running_loop().time() < deadline:
            async with owner.connect() as connection:
                waiting = await connection.scalar(
                    text(
                        "SELECT count(*) FROM pg_stat_activity"
                        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                    )
                )
            if waiting:
                return
            await asyncio.sleep(0.02)
        raise AssertionError("the second upload never waited for the first one's insert")
    finally:
        await owner.dispose()


async def test_two_uploads_of_one_file_at_once_make_one_reconciliation(
    engine: AsyncEngine, postgres_url: str, tmp_path: Path
) -> None:
    organization_id = committed_organization(postgres_url)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    path = tmp_path / "bill.csv"
    path.write_text("date,model,cost,currency\n2031-04-03,azure-openai/dall-e-3,1.00,AUD\n")
    upload = service.fingerprint(path)

    async def submit() -> tuple[str, bool]:
        async with transaction(sessions, platform=True) as session:
            config = await service.configure(session, organization_id, "azure-openai", "generic", None)
            found, created = await service.submit(
                session, organization_id, None, upload, "generic", config, queued=True
            )
            if created:  # keep it uncommitted until the other upload is blocked behind its insert
                await _until_another_transaction_waits_for_a_lock(postgres_url)
            return str(found.id), created

    try:
        results = await asyncio.gather(submit(), submit())
        assert len({rid for rid, _ in results}) == 1
        assert sorted(created for _, created in results) == [False, True]
        async with transaction(sessions, platform=True) as session:
            assert await _counts(session, organization_id) == (1, 0, 0, 1)
    finally:
        owner = create_async_engine(postgres_url)
        async with owner.begin() as connection:
            await connection.execute(text("SELECT set_config('app.retention', 'on', true)"))
            await connection.execute(
                text("DELETE FROM organizations WHERE id = :id"), {"id": organization_id}
            )
        await owner.dispose()


async def test_a_file_over_the_upload_limit_is_413(
    db: AsyncSession,
    client: httpx.AsyncClient,
    tokens: TokenSigner,
    app: FastAPI,
    settings: Settings,
    tmp_path: Path,
) -> None:
    world = await build(db)
    path = write_csv(focus_lines(world), tmp_path / "focus.csv")
    app.state.settings = settings.model_copy(update={"reconciliation_max_upload_bytes": 2000})
    try:
        response = await _upload(client, bearer_for(tokens, world.finance), path)
    finally:
        app.state.settings = settings
    assert response.status_code == 413 and response.json()["max_bytes"] == 2000
    assert await _counts(db, world.org.id) == (0, 0, 0, 0)
    assert not list((settings.data_dir / "reconciliations-tmp").glob(".upload-*"))


async def test_lines_outside_the_period_are_listed_not_compared(
    db: AsyncSession, client: httpx.AsyncClient, tokens: TokenSigner, tmp_path: Path
) -> None:
    world = await build(db)
    path = write_csv(focus_lines(world), tmp_path / "focus.csv")
    period = f"{DAYS[1]}..{DAYS[-2]}"
    summary = (await _upload(client, bearer_for(tokens, world.finance), path, period=period)).json()
    assert (summary["period_from"], summary["period_to"]) == (str(DAYS[1]), str(DAYS[-2]))
    assert summary["drift_total_aud"] == "0.0000" and summary["flagged_rows"] == 0
    outside = (
        await client.get(
            f"/v1/reconciliations/{summary['id']}/unmapped?limit=1", headers=bearer_for(tokens, world.finance)
        )
    ).json()
    assert outside["items"][0]["status"] == "outside-period" and outside["next_cursor"]
    rows = await _all_rows(client, bearer_for(tokens, world.finance), summary["id"])
    assert {row["day"] for row in rows} == {str(day) for day in DAYS[1:-1]}


async def test_a_queued_file_that_cannot_be_read_ends_failed_with_the_reason(
    db: AsyncSession,
    client: httpx.AsyncClient,
    tokens: TokenSigner,
    app: FastAPI,
    settings: Settings,
    tmp_path: Path,
) -> None:
    world = await build(db)
    path = tmp_path / "broken.csv"
    path.write_text("ChargePeriodStart,BilledCost,BillingCurrency,SkuMeter\n" + "2031-04-03,x,USD,m\n" * 100)
    app.state.settings = settings.model_copy(update={"reconciliation_inline_max_bytes": 100})
    try:
        queued = await _upload(client, bearer_for(tokens, world.finance), path)
    finally:
        app.state.settings = settings
    assert queued.status_code == 202
    assert await Reconciler(app.state.sessionmaker, settings, app.state.image_store).run_once()
    failed = (
        await client.get(
            f"/v1/reconciliations/{queued.json()['id']}", headers=bearer_for(tokens, world.finance)
        )
    ).json()["reconciliation"]
    assert failed["status"] == "failed" and "could not be read" in failed["error"]
    events = await db.execute(
        text(
            "SELECT payload->>'status' FROM audit_outbox WHERE event_type = 'reconciliation.completed'"
            " AND payload->>'resource_id' = :id"
        ),
        {"id": queued.json()["id"]},
    )
    assert list(events.scalars()) == ["failure"]


async def test_a_list_cursor_with_values_that_are_not_a_time_and_an_id_is_a_422(
    db: AsyncSession, client: httpx.AsyncClient, tokens: TokenSigner
) -> None:
    world = await build(db)
    cursor = encode_cursor(["not a time", "not an id"])  # well-formed, but names no row
    response = await client.get(
        "/v1/reconciliations", params={"cursor": cursor}, headers=bearer_for(tokens, world.finance)
    )
    assert response.status_code == 422
    assert response.json()["field"] == "cursor"
