"""A report table downloaded as CSV (``csv``, ``csv-excel``, the dashboard's download) runs nothing in a
spreadsheet: a department named like a formula and e-mail addresses starting with ``@`` come out behind a
``'``, while every amount stays a number (a negative one included)."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import date
from decimal import Decimal

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.auth.tokens import TokenSigner
from donatello.reports import tables
from donatello.reports.schemas import SpendRow, SpendTable
from tests.support.reports_world import build
from tests.support.signin import bearer_for

HYPERLINK = '=HYPERLINK("http://x","y")'


def _rows(body: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body.removeprefix(tables.EXCEL_BOM), newline="")))


async def test_report_csvs_make_formula_text_inert_and_keep_numbers(
    db: AsyncSession, client: httpx.AsyncClient, tokens: TokenSigner
) -> None:
    world = await build(db, per_window=1)
    dept = world.departments[0]
    dept.name = HYPERLINK
    await db.flush()
    await db.execute(
        text("UPDATE cost_daily_rollups SET user_email = '@' || user_email WHERE department_id = :d"),
        {"d": dept.id},
    )
    headers = bearer_for(tokens, world.members["org_admin"])
    base = f"/v1/reports/departments/{dept.id}"

    for output in ("csv", "csv-excel"):
        org = await client.get(f"/v1/reports/organization?period=2026-04&format={output}", headers=headers)
        assert org.status_code == 200, org.text
        names = {row["department_id"]: row["department_name"] for row in _rows(org.text)}
        assert names[str(dept.id)] == "'" + HYPERLINK
        status = await client.get(f"{base}/status?format={output}", headers=headers)
        [row] = _rows(status.text)
        assert row["department_name"] == "'" + HYPERLINK
        Decimal(row["available_aud"])  # a number, not a text cell

    users = await client.get(f"{base}/spend/user?period=2026-04&format=csv", headers=headers)
    labels = [row["label"] for row in _rows(users.text)]
    assert labels and all(label.startswith("'@") for label in labels)
    assert all(Decimal(row["net_aud"]) >= 0 for row in _rows(users.text))


def test_a_negative_amount_stays_a_number_and_text_cells_are_inert() -> None:
    table = SpendTable.model_construct(
        department_id=uuid.uuid4(), department_code="ENG", period_start=date(2026, 4, 1),
        period_end=date(2026, 4, 30), group_by="user", total_aud=Decimal("0.7700"),
        rows=[
            SpendRow.model_construct(
                key="-1", label="\tcmd", net_aud=Decimal("-1.2300"), charges_aud=Decimal("0.0000"),
                refunds_aud=Decimal("-1.2300"), corrections_aud=Decimal("0"), images=0, events=1,
            ),
            SpendRow.model_construct(
                key="x", label="\r+SUM(1)", net_aud=Decimal("2"), charges_aud=Decimal("2"),
                refunds_aud=Decimal("0"), corrections_aud=Decimal("0"), images=1, events=1,
            ),
        ]
    )  # fmt: skip
    first, second = _rows(tables.to_csv(table))
    assert (first["key"], first["label"], second["label"]) == ("'-1", "'\tcmd", "'\r+SUM(1)")
    assert (first["net_aud"], first["refunds_aud"]) == ("-1.2300", "-1.2300")
