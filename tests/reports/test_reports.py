"""Reports and finance exports add up to the ledger, to the cent, across periods, departments, time zones
and the Sydney DST changes; each role sees what it may."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.auth.tokens import TokenSigner
from donatello.budgets import rollups
from donatello.budgets.periods import month_starting
from donatello.exports.files import FOCUS_MANDATORY
from donatello.models import User
from tests.support.reports_world import build, flat_charges, ledger_sum
from tests.support.signin import bearer_for

ROLLUP_COLUMNS = (
    "department_id, user_id, provider, model, day, charges_aud, refunds_aud, corrections_aud, images, events"
)


async def _rollups(db: AsyncSession, org_id: object) -> list[tuple[object, ...]]:
    rows = await db.execute(
        text(
            f"SELECT {ROLLUP_COLUMNS} FROM cost_daily_rollups WHERE organization_id = :o ORDER BY 1, 2, 3, 4, 5"
        ),
        {"o": org_id},
    )
    return [tuple(r) for r in rows]


async def _truth_by_day(db: AsyncSession, org_id: object, zone: str) -> list[tuple[object, ...]]:
    rows = await db.execute(
        text(
            "SELECT department_id, user_id, model_provider, model_name, (created_at AT TIME ZONE :z)::date,"
            " COALESCE(sum(actual_cost_aud) FILTER (WHERE kind = 'charge'), 0),"
            " COALESCE(sum(actual_cost_aud) FILTER (WHERE kind = 'refund'), 0),"
            " COALESCE(sum(actual_cost_aud) FILTER (WHERE kind = 'correction'), 0),"
            " sum(image_count), count(*) FROM cost_events WHERE organization_id = :o"
            " GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5"
        ),
        {"o": org_id, "z": zone},
    )
    return [tuple(r) for r in rows]


async def test_rollups_match_the_ledger_per_local_day_and_rebuild_is_idempotent(db: AsyncSession) -> None:
    world = await build(db)
    for org in world.orgs:
        zone = org.settings["timezone"]
        truth = await _truth_by_day(db, org.id, zone)
        assert await _rollups(db, org.id) == truth
        assert any(row[7] != 0 for row in truth) and any(row[6] != 0 for row in truth)
        for _ in range(2):
            await rollups.rebuild(db, org.id, zone, date(2026, 3, 1), date(2026, 10, 31))
            assert await _rollups(db, org.id) == truth


async def test_every_report_adds_up_to_the_ledger(
    db: AsyncSession, client: httpx.AsyncClient, tokens: TokenSigner
) -> None:
    world = await build(db)
    admin = world.members["org_admin"]
    org = world.orgs[0]
    headers = bearer_for(tokens, admin)
    for month in ("2026-03", "2026-04", "2026-09", "2026-10"):
        period = month_starting(date.fromisoformat(month + "-01"), "Australia/Sydney")
        rollup = (await client.get(f"/v1/reports/organization?period={month}", headers=headers)).json()
        total = await ledger_sum(db, org, period.starts_at, period.ends_at)
        assert Decimal(rollup["total_aud"]) == total
        for dept in world.departments:
            if dept.organization_id != org.id:
                continue
            truth = await ledger_sum(db, org, period.starts_at, period.ends_at, dept)
            (row,) = [d for d in rollup["departments"] if d["department_id"] == str(dept.id)]
            assert Decimal(row["totals"]["net_aud"]) == truth
            for group in ("user", "model", "day"):
                table = (
                    await client.get(
                        f"/v1/reports/departments/{dept.id}/spend/{group}?period={month}", headers=headers
                    )
                ).json()
                assert Decimal(table["total_aud"]) == truth, group
                assert sum(Decimal(r["net_aud"]) for r in table["rows"]) == truth
            burn = (
                await client.get(
                    f"/v1/reports/departments/{dept.id}/burn-down?period={month}", headers=headers
                )
            ).json()
            assert Decimal(burn["spent_aud"]) == truth
            assert Decimal(burn["days"][-1]["cumulative_aud"]) == truth
            assert Decimal(burn["forecast_straight_line_aud"]) == truth  # a past period is complete
    utilizations = [
        d["utilization_percent"] for d in rollup["departments"] if d["utilization_percent"] is not None
    ]
    assert [Decimal(u) for u in utilizations] == sorted((Decimal(u) for u in utilizations), reverse=True)

    april = (await client.get("/v1/reports/organization?period=2026-04", headers=headers)).json()
    refused = {d["department_id"]: d["refused_requests"] for d in april["departments"]}
    assert refused[str(world.departments[-1].id)] == 1
    soft = next(d for d in april["departments"] if d["department_id"] == str(world.departments[1].id))
    assert soft["over_budget_requests"] > 0 and soft["over_budget_charges"] > 0

    csv_text = (await client.get("/v1/reports/organization?period=2026-04&format=csv", headers=headers)).text
    rows = list(csv.DictReader(io.StringIO(csv_text)))
    assert sum(Decimal(r["net_aud"]) for r in rows) == Decimal(april["total_aud"])


async def test_csv_export_adds_up_with_attribution_and_both_clocks(
    db: AsyncSession, client: httpx.AsyncClient, tokens: TokenSigner
) -> None:
    world = await build(db)
    org = world.orgs[0]
    response = await client.get(
        "/v1/cost-events/export?from=2026-03-01&to=2026-10-31&format=csv",
        headers=bearer_for(tokens, world.members["finance"]),
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    starts, ends = datetime(2026, 2, 28, 13, tzinfo=UTC), datetime(2026, 10, 31, 13, tzinfo=UTC)
    assert sum(Decimal(r["actual_cost_aud"]) for r in rows) == await ledger_sum(db, org, starts, ends)
    count = (
        await db.execute(text("SELECT count(*) FROM cost_events WHERE organization_id = :o"), {"o": org.id})
    ).scalar_one()
    assert len(rows) == count
    assert {r["kind"] for r in rows} == {"charge", "refund", "correction"}
    assert {r["organization_name"] for r in rows} == {org.name}
    slug = org.name.lower().replace(" ", "-")
    assert response.headers["content-disposition"] == (
        f'attachment; filename="{slug}-cost-events-2026-03-01-2026-10-31.csv"'
    )
    sample = rows[0]
    assert sample["created_at_utc"].endswith("Z") and sample["created_at_local"][-6:] in ("+11:00", "+10:00")
    assert sample["department_code"] and sample["user_email"] and sample["currency"] == "AUD"

    events = (
        (
            await db.execute(
                text(
                    "SELECT payload FROM audit_outbox WHERE event_type = 'cost_events.exported' AND organization_id = :o"
                ),
                {"o": org.id},
            )
        )
        .scalars()
        .all()
    )
    assert len(events) == 1 and events[0]["user_id"] == str(world.members["finance"].id)
    assert events[0]["metadata"]["format"] == "csv"


async def test_parquet_and_focus_read_back_with_decimal_types(
    db: AsyncSession, client: httpx.AsyncClient, tokens: TokenSigner
) -> None:
    world = await build(db)
    org, dept = world.orgs[0], world.departments[0]
    headers = bearer_for(tokens, world.members["org_admin"])
    truth = await ledger_sum(
        db, org, datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC), dept
    )

    plain = pq.read_table(
        io.BytesIO(
            (
                await client.get(
                    f"/v1/cost-events/export?from=2026-01-01&to=2026-12-31&department_id={dept.id}&format=parquet",
                    headers=headers,
                )
            ).content
        )
    )
    assert plain.schema.field("actual_cost_aud").type == pa.decimal128(14, 4)
    assert plain.schema.field("fx_rate").type == pa.decimal128(18, 8)
    assert sum(plain.column("actual_cost_aud").to_pylist(), Decimal(0)) == truth

    response = await client.get(
        f"/v1/cost-events/export?from=2026-01-01&to=2026-12-31&department_id={dept.id}&format=focus",
        headers=headers,
    )
    focus = pq.read_table(io.BytesIO(response.content))
    assert set(FOCUS_MANDATORY) <= set(focus.schema.names)
    assert {"SubAccountId", "SubAccountName", "ResourceId", "Tags"} <= set(focus.schema.names)
    assert focus.schema.field("BilledCost").type == pa.decimal128(14, 4)
    assert sum(focus.column("BilledCost").to_pylist(), Decimal(0)) == truth
    data = focus.to_pylist()
    assert {r["ServiceCategory"] for r in data} == {"AI and Machine Learning"}
    assert all((r["ChargeClass"] == "Correction") == (r["x_Kind"] != "charge") for r in data)
    assert {r["SubAccountId"] for r in data} == {str(dept.id)}

    focus_csv = (
        await client.get(
            f"/v1/cost-events/export?from=2026-01-01&to=2026-12-31&department_id={dept.id}&format=focus-csv",
            headers=headers,
        )
    ).text
    assert sum(Decimal(r["BilledCost"]) for r in csv.DictReader(io.StringIO(focus_csv))) == truth


async def test_who_may_read_what(db: AsyncSession, client: httpx.AsyncClient, tokens: TokenSigner) -> None:
    world = await build(db, per_window=2)
    own, other = world.departments[0], world.departments[1]
    assert world.outsider_department is not None
    members = world.members

    async def status(member: User, dept_id: object, path: str = "status") -> int:
        return (
            await client.get(f"/v1/reports/departments/{dept_id}/{path}", headers=bearer_for(tokens, member))
        ).status_code

    assert await status(members["dept_manager"], own.id) == 200
    assert await status(members["dept_manager"], own.id, "spend/user?format=csv") == 200
    assert await status(members["dept_manager"], other.id) == 403
    assert await status(members["dept_manager"], world.outsider_department.id) == 404
    assert await status(members["org_admin"], world.outsider_department.id) == 404
    assert await status(members["finance"], other.id, "periods") == 200
    assert await status(members["standard_user"], own.id) == 403
    manager = bearer_for(tokens, members["dept_manager"])
    assert (await client.get("/v1/reports/organization", headers=manager)).status_code == 403
    export = "/v1/cost-events/export?from=2026-04-01&to=2026-04-30"
    assert (await client.get(export, headers=manager)).status_code == 403
    assert (await client.get(export, headers=bearer_for(tokens, members["finance"]))).status_code == 200


async def test_bad_input_is_a_problem_not_a_crash(
    db: AsyncSession, client: httpx.AsyncClient, tokens: TokenSigner
) -> None:
    world = await build(db, per_window=1)
    headers = bearer_for(tokens, world.members["finance"])
    dept = world.departments[0]
    assert world.outsider_department is not None
    for query, expected in (
        ("from=2026-05-01&to=2026-04-01", 422),
        ("from=yesterday&to=2026-04-01", 422),
        ("from=2026-04-01&to=2026-04-31", 422),
        ("from=2026-04-01&to=2026-04-30&format=xlsx", 422),
        ("to=2026-04-30", 422),
        # another organization's department is not found, as if it did not exist
        (f"from=2026-04-01&to=2026-04-30&department_id={world.outsider_department.id}", 404),
    ):
        response = await client.get(f"/v1/cost-events/export?{query}", headers=headers)
        assert response.status_code == expected, (query, response.status_code)
        assert response.headers["content-type"].startswith("application/problem+json"), query
    for path in (
        "burn-down?period=2026-13",
        "spend/user?period=April",
        "spend/nonsense",
        "status?format=xml",
    ):
        response = await client.get(f"/v1/reports/departments/{dept.id}/{path}", headers=headers)
        assert response.status_code == 422, path
        assert response.headers["content-type"].startswith("application/problem+json")


async def test_export_streams_in_bounded_chunks_whatever_the_range(db: AsyncSession) -> None:
    from donatello.exports import files as exports
    from tests.support import factories

    org = await factories.organization(db)
    dept = await factories.department(db, org)
    member = await factories.user(db, org, department=dept)
    await flat_charges(db, org.id, dept.id, member.id, 25_000)
    rng = exports.ExportRange(
        org.id,
        org.name,
        "Australia/Sydney",
        datetime(2026, 3, 1, tzinfo=UTC),
        datetime(2026, 5, 1, tzinfo=UTC),
        None,
        "csv",
    )
    biggest, lines, held = 0, 0, 0
    async for chunk in exports.encode(db, rng, batch=500):
        biggest, lines = max(biggest, len(chunk)), lines + chunk.count(b"\n")
        held = max(held, len(db.sync_session.identity_map))  # rows are tuples, never ORM objects kept
    assert lines == 25_001  # header + every row
    # one batch of 500 rows at a time (~200 kB), never the range (~10 MB as CSV): fifty batches, as
    # 2,000-row batches of 100,000 rows would be, in a quarter of the rows
    assert biggest < 375_000
    assert held < 10


async def test_every_format_carries_awkward_text_nulls_and_both_clocks_exactly(db: AsyncSession) -> None:
    """Names with commas, quotes and line breaks, an empty string beside a NULL, text that merely looks
    like a null ("N/A"), and the night Sydney leaves daylight saving (a 25-hour local day) come out
    exactly, in CSV and in Parquet, in the ledger layout and in FOCUS."""
    from donatello.exports import files as exports
    from tests.support import factories

    org = await factories.organization(db)
    dept = await factories.department(db, org)
    member = await factories.user(db, org, department=dept)
    awkward = 'R&D, "Labs"\nNorth'
    params = {"o": org.id, "d": dept.id, "u": member.id, "name": awkward}
    generation = (
        await db.execute(
            text(
                "INSERT INTO generations (organization_id, user_id, department_id, model_provider, model_name,"
                " prompt_encrypted) VALUES (:o, :u, :d, 'local', 'pillow-sketch', 'sealed') RETURNING id"
            ),
            params,
        )
    ).scalar_one()
    await db.execute(
        text(
            "INSERT INTO cost_events (organization_id, generation_id, department_id, user_id, model_provider,"
            " model_name, size, quality, estimated_cost_aud, actual_cost_aud, fx_rate_source, department_code,"
            " department_name, user_email, created_at)"
            " VALUES (:o, :g, :d, :u, 'local', 'pillow-sketch', NULL, '', 0.0800, 0.0812, 'N/A', 'RD',"
            " :name, 'o''brien@example.com', timestamptz '2026-04-04 15:30:00.5+00')"
        ),
        {**params, "g": generation},
    )
    rng = exports.ExportRange(
        org.id, org.name, "Australia/Sydney", datetime(2026, 4, 1, tzinfo=UTC), datetime(2026, 5, 1, tzinfo=UTC),
        None, "csv",
    )  # fmt: skip

    async def export(fmt: str) -> bytes:
        chunks = [chunk async for chunk in exports.encode(db, replace(rng, format=fmt))]
        return b"".join(chunks)

    ledger_csv = list(csv.DictReader(io.StringIO((await export("csv")).decode(), newline="")))
    ledger_parquet = pq.read_table(io.BytesIO(await export("parquet"))).to_pylist()
    assert len(ledger_csv) == len(ledger_parquet) == 1
    row, typed = ledger_csv[0], ledger_parquet[0]
    assert row["department_name"] == typed["department_name"] == awkward
    assert row["user_email"] == typed["user_email"] == "o'brien@example.com"
    assert (typed["size"], typed["quality"], typed["fx_rate_source"]) == (None, "", "N/A")
    assert (row["quality"], row["fx_rate_source"]) == ("", "N/A")
    assert row["created_at_utc"] == "2026-04-04T15:30:00.500000Z"
    assert row["created_at_local"] == typed["created_at_local"] == "2026-04-05T02:30:00.500000+11:00"
    assert typed["created_at_utc"] == datetime(2026, 4, 4, 15, 30, 0, 500000, tzinfo=UTC)
    assert (row["local_date"], row["billing_period_start"]) == ("2026-04-05", "2026-04-01")
    assert typed["local_date"] == date(2026, 4, 5) and typed["billing_period_start"] == date(2026, 4, 1)
    assert row["actual_cost_aud"] == "0.0812" and typed["actual_cost_aud"] == Decimal("0.0812")
    assert typed["fx_rate"] == Decimal("1.00000000") and typed["image_count"] == 1

    focus_csv = list(csv.DictReader(io.StringIO((await export("focus-csv")).decode(), newline="")))
    focus = pq.read_table(io.BytesIO(await export("focus"))).to_pylist()
    row, typed = focus_csv[0], focus[0]
    # Sydney's 5 April 2026 runs from 00:00 AEDT (+11) to 00:00 AEST (+10): 25 hours.
    assert (row["ChargePeriodStart"], row["ChargePeriodEnd"]) == (
        "2026-04-04T13:00:00.000000Z",
        "2026-04-05T14:00:00.000000Z",
    )
    assert typed["ChargePeriodEnd"] - typed["ChargePeriodStart"] == timedelta(hours=25)
    assert (typed["BillingPeriodStart"], typed["BillingPeriodEnd"]) == (
        datetime(2026, 3, 31, 13, tzinfo=UTC),
        datetime(2026, 4, 30, 14, tzinfo=UTC),
    )
    assert typed["SubAccountName"] == row["SubAccountName"] == awkward
    assert json.loads(typed["Tags"]) == {
        "department_code": "RD",
        "kind": "charge",
        "user_email": "o'brien@example.com",
    }
    assert typed["ChargeDescription"] == "Image generation: 1 x local/pillow-sketch"  # no size, empty quality
    assert typed["SkuId"] == "local/pillow-sketch"
    assert typed["ChargeClass"] is None and row["ChargeClass"] == ""
    assert typed["BilledCost"] == Decimal("0.0812") and typed["ConsumedQuantity"] == Decimal("1.0000")


async def test_report_csvs_name_what_they_hold_keep_every_figure_and_open_cleanly_in_excel(
    db: AsyncSession, client: httpx.AsyncClient, tokens: TokenSigner
) -> None:
    world = await build(db, per_window=1)
    dept = world.departments[0]
    dept.name = "Département Été"  # non-ASCII: Excel mangles it without a byte-order mark
    await db.flush()
    headers = bearer_for(tokens, world.members["org_admin"])
    base = f"/v1/reports/departments/{dept.id}"

    status = await client.get(f"{base}/status?format=csv", headers=headers)
    excel = await client.get(f"{base}/status?format=csv-excel", headers=headers)
    spend = await client.get(f"{base}/spend/model?period=2026-04&format=csv", headers=headers)
    org = await client.get("/v1/reports/organization?period=2026-04&format=csv", headers=headers)
    as_json = (await client.get(f"{base}/status", headers=headers)).json()

    month = as_json["period_start"][:7]  # the status report is this period's, in the organization's zone
    assert status.headers["content-disposition"].endswith(f'filename="{dept.code}-status-{month}.csv"')
    assert spend.headers["content-disposition"].endswith(f'filename="{dept.code}-spend-by-model-2026-04.csv"')
    domain = world.orgs[0].domain
    assert org.headers["content-disposition"].endswith(f'filename="{domain}-departments-2026-04.csv"')
    [row] = list(csv.DictReader(io.StringIO(status.text)))
    assert (row["reserved_aud"], row["available_aud"], row["enforcement_mode"]) == (
        as_json["reserved_aud"],
        as_json["available_aud"],
        as_json["enforcement_mode"],
    )
    assert excel.content.startswith(b"\xef\xbb\xbf") and not status.content.startswith(b"\xef\xbb\xbf")
    assert excel.content[3:] == status.content
    assert "Département Été" in excel.content.decode("utf-8-sig")

    too_old = await client.get(f"{base}/burn-down?period=1900-01", headers=headers)
    assert too_old.status_code == 422 and "before 2000" in too_old.json()["detail"]
