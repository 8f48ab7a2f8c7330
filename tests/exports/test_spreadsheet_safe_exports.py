"""A cost export opened in a spreadsheet runs nothing: text a tenant's people typed (a department's name,
a refund's reason, an e-mail address) that starts like a formula comes out behind a ``'`` in every CSV
format — the file streamed inline, the file a queued job stores — while amounts stay numbers and
Parquet keeps the text exactly as it was written."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from decimal import Decimal

import httpx
import pyarrow.parquet as pq
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.auth.tokens import TokenSigner
from donatello.config import Settings
from donatello.exports import files as exports
from donatello.exports.tasks import Exporter
from tests.support.hostile_ledger import HYPERLINK, RETURNED, SUM, TABBED, hostile_ledger
from tests.support.signin import bearer_for


async def _bytes(db: AsyncSession, rng: exports.ExportRange, fmt: str) -> bytes:
    return b"".join([chunk async for chunk in exports.encode(db, replace(rng, format=fmt), batch=2)])


def _rows(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode(), newline="")))


async def test_ledger_csv_cells_that_start_like_formulas_are_inert_and_amounts_stay_numbers(
    db: AsyncSession,
) -> None:
    rng, _, _ = await hostile_ledger(db)
    rows = _rows(await _bytes(db, rng, "csv"))
    assert len(rows) == 4
    for row in rows:
        assert row["department_name"] == "'" + HYPERLINK
        assert row["user_email"].startswith("'@")
    reasons = {row["kind"] + row["actual_cost_aud"]: row["reason"] for row in rows}
    assert reasons == {
        "charge0.1200": "",
        "refund-0.0400": "'" + SUM,
        "correction-0.0050": "'" + TABBED,
        "correction0.0010": "'" + RETURNED,
    }
    # Money is a number column: a negative amount is written as a number, never prefixed.
    assert sorted(Decimal(row["actual_cost_aud"]) for row in rows) == [
        Decimal("-0.0400"), Decimal("-0.0050"), Decimal("0.0010"), Decimal("0.1200"),
    ]  # fmt: skip
    assert not any(value.startswith(("=", "+", "@", "\t", "\r")) for row in rows for value in row.values())


async def test_focus_csv_cells_are_inert_too(db: AsyncSession) -> None:
    rng, _, _ = await hostile_ledger(db)
    rows = _rows(await _bytes(db, rng, "focus-csv"))
    by_reason = {row["x_Reason"]: row for row in rows}
    assert set(by_reason) == {"", "'" + SUM, "'" + TABBED, "'" + RETURNED}
    for row in rows:
        assert row["SubAccountName"] == "'" + HYPERLINK and row["x_UserEmail"].startswith("'@")
    assert Decimal(by_reason["'" + SUM]["BilledCost"]) == Decimal("-0.0400")
    assert by_reason["'" + SUM]["BilledCost"] == "-0.0400"  # a number, not a text cell
    assert not any(value.startswith(("=", "+", "-", "@", "\t", "\r")) for row in rows for k, value in
                   row.items() if not k.endswith(("Cost", "Price", "Amount", "Quantity")))  # fmt: skip


async def test_parquet_keeps_the_text_as_written(db: AsyncSession) -> None:
    rng, _, _ = await hostile_ledger(db)
    for fmt, name, reason in (
        ("parquet", "department_name", "reason"),
        ("focus", "SubAccountName", "x_Reason"),
    ):
        rows = pq.read_table(io.BytesIO(await _bytes(db, rng, fmt))).to_pylist()
        assert {row[name] for row in rows} == {HYPERLINK}
        assert {row[reason] for row in rows} == {None, SUM, TABBED, RETURNED}


async def test_the_inline_download_is_inert(
    db: AsyncSession, client: httpx.AsyncClient, tokens: TokenSigner
) -> None:
    _, admin, _ = await hostile_ledger(db)
    for fmt, column in (("csv", "department_name"), ("focus-csv", "SubAccountName")):
        response = await client.get(
            f"/v1/cost-events/export?from=2026-04-01&to=2026-04-30&format={fmt}",
            headers=bearer_for(tokens, admin),
        )
        assert response.status_code == 200, response.text
        assert {row[column] for row in _rows(response.content)} == {"'" + HYPERLINK}


async def test_the_file_a_queued_job_stores_is_inert(
    db: AsyncSession,
    client: httpx.AsyncClient,
    tokens: TokenSigner,
    app: FastAPI,
    settings: Settings,
) -> None:
    _, admin, _ = await hostile_ledger(db)
    headers = bearer_for(tokens, admin)
    for fmt, column, reason in (
        ("csv", "department_name", "reason"),
        ("focus-csv", "SubAccountName", "x_Reason"),
    ):
        queued = await client.get(
            f"/v1/cost-events/export?from=2025-01-01&to=2026-12-31&format={fmt}", headers=headers
        )
        assert queued.status_code == 202, queued.text
        exporter = Exporter(app.state.sessionmaker, settings, app.state.image_store, progress_every=10**9)
        while await exporter.run_once():
            pass
        done = (await client.get(f"/v1/exports/{queued.json()['id']}", headers=headers)).json()
        assert done["status"] == "done", done
        rows = _rows((await client.get(done["download_url"])).content)
        assert {row[column] for row in rows} == {"'" + HYPERLINK}
        assert {row[reason] for row in rows} == {"", "'" + SUM, "'" + TABBED, "'" + RETURNED}
