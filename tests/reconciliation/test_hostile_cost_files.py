"""A provider file is the outside world's text: names in it that start like spreadsheet formulas come out
of ``comparison.csv`` inert (amounts still numbers), and a NUL in a name or a cost that is not a number
(``NaN``, ``inf``, text, nothing) refuses the file with 422 ``unreadable-cost-file`` naming the row —
never a 500, never a cost read as 0, nothing kept."""

from __future__ import annotations

import asyncio
import csv
import io
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.auth.tokens import TokenSigner
from tests.support.reconciliation_world import DAYS, build, focus_lines, write_csv
from tests.support.signin import bearer_for

FORMULAS = ['=HYPERLINK("http://x","y")', "+SUM(1)", "-2+3", "@cmd", "\tcalc", "\r=1"]


async def _upload(
    client: httpx.AsyncClient, headers: dict[str, str], path: Path, file_format: str
) -> httpx.Response:
    return await client.post(
        "/v1/reconciliations",
        data={"provider": "azure-openai", "format": file_format},
        files={"file": (path.name, await asyncio.to_thread(path.read_bytes), "text/csv")},
        headers=headers,
    )


async def _kept(db: AsyncSession, org_id: object) -> int:
    sql = "SELECT count(*) FROM reconciliations WHERE organization_id = :o"
    return int((await db.execute(text(sql), {"o": org_id})).scalar_one())


def _generic(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["date", "model", "cost", "currency", "quantity"])
        writer.writerows(rows)
    return path


async def test_provider_names_that_start_like_formulas_are_inert_in_the_comparison_csv(
    db: AsyncSession, client: httpx.AsyncClient, tokens: TokenSigner, tmp_path: Path
) -> None:
    world = await build(db)
    headers = bearer_for(tokens, world.finance)
    path = _generic(
        tmp_path / "-bill.csv", [[str(DAYS[0]), name, "-1.2300", "AUD", "2"] for name in FORMULAS]
    )
    response = await _upload(client, headers, path, "generic")
    assert response.status_code == 201, response.text
    table = await client.get(f"/v1/reconciliations/{response.json()['id']}/comparison.csv", headers=headers)
    assert table.status_code == 200
    lines = [
        row for row in csv.DictReader(io.StringIO(table.text, newline="")) if row["kind"] == "provider_line"
    ]
    # The reader trims a name's surrounding blanks, so a leading tab is gone and "\r=1" is "=1".
    expected = ['\'=HYPERLINK("http://x","y")', "'+SUM(1)", "'-2+3", "'@cmd", "calc", "'=1"]
    assert sorted(line["source_key"] for line in lines) == sorted(expected)
    for line in lines:
        assert Decimal(line["provider_cost"]) == Decimal("-1.23")  # a number: no quote, no prefix
        assert Decimal(line["provider_quantity"]) == 2
    assert not any(
        value.startswith(("=", "+", "@", "\t", "\r"))
        for row in csv.DictReader(io.StringIO(table.text, newline=""))
        for value in row.values()
    )


@pytest.mark.parametrize("file_format", ["generic", "focus"])
async def test_a_nul_inside_a_name_is_an_unreadable_file_not_a_500(
    db: AsyncSession, client: httpx.AsyncClient, tokens: TokenSigner, tmp_path: Path, file_format: str
) -> None:
    world = await build(db)
    if file_format == "generic":
        path = _generic(
            tmp_path / "nul.csv", [[str(DAYS[0]), "azure-openai/gpt\x00image", "1.00", "AUD", ""]]
        )
    else:
        lines = focus_lines(world)
        lines[3]["SkuMeter"] = "gpt-image-1\x00 Image Output"
        path = write_csv(lines, tmp_path / "nul.csv")
    response = await _upload(client, bearer_for(tokens, world.finance), path, file_format)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"].endswith("unreadable-cost-file") and "NUL" in response.json()["detail"]
    assert await _kept(db, world.org.id) == 0


@pytest.mark.parametrize("cost", ["NaN", "nan", "inf", "-Infinity", "NULL", "N/A", "twelve", ""])
async def test_a_cost_that_is_not_a_number_names_its_row(
    db: AsyncSession, client: httpx.AsyncClient, tokens: TokenSigner, tmp_path: Path, cost: str
) -> None:
    world = await build(db)
    rows = [[str(DAYS[0]), "azure-openai/gpt-image-1", "1.00", "AUD", ""] for _ in range(3)]
    rows[1][2] = cost
    path = _generic(tmp_path / "bill.csv", rows)
    response = await _upload(client, bearer_for(tokens, world.finance), path, "generic")
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["type"].endswith("unreadable-cost-file")
    assert problem["row"] == 2 and "row 2" in problem["detail"]
    assert await _kept(db, world.org.id) == 0
