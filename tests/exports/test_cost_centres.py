"""Chargeback by the directory's cost centre: Entra provisions a person with ``costCenter`` (SCIM's
enterprise extension), their charges carry it as it was at spend time — in the ledger export, in FOCUS
``Tags`` and in the spend-by-cost-centre report — and moving them later does not rewrite history."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.auth.tokens import TokenSigner
from donatello.models import User
from tests.support import factories, provider_rows
from tests.support import generation_world as gw
from tests.support.scim_helpers import ENTERPRISE, Entra, entra_user, provisioning_token


async def _generate(client: httpx.AsyncClient, headers: dict[str, str], model: str) -> None:
    body = {"prompt": "a lighthouse at dusk", "model": model, "size": "512x512"}
    admitted = await client.post("/v1/generations", json=body, headers=headers)
    assert admitted.status_code == 202, admitted.text


async def _export(client: httpx.AsyncClient, headers: dict[str, str], fmt: str) -> list[dict[str, Any]]:
    today = datetime.now(UTC).date()
    response = await client.get(
        "/v1/cost-events/export",
        params={"from": str(today - timedelta(days=2)), "to": str(today + timedelta(days=2)), "format": fmt},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    return list(csv.DictReader(io.StringIO(response.text, newline="")))


async def test_a_provisioned_cost_centre_is_frozen_on_each_charge_and_exported(
    app: FastAPI, client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner, http: httpx.AsyncClient
) -> None:
    await provider_rows.only_these_models(db)
    model = await provider_rows.model(db, "local", name=f"sketch-{uuid.uuid4().hex[:6]}", price="0.0500")
    org = await factories.organization(db, entra={"department_mapping": {"Marketing & Comms": "MKTG"}})
    mktg = await factories.department(db, org, code="MKTG")
    await factories.budget(db, mktg, monthly_aud="10.00")
    finance = await factories.user(db, org, role="finance")
    finance_headers = {"Authorization": f"Bearer {tokens.issue(finance.id, org.id)}"}
    entra = Entra(client, await provisioning_token(db, org))

    body = entra_user(
        f"ada.{uuid.uuid4().hex[:6]}@{org.domain}", str(uuid.uuid4()), department="Marketing & Comms"
    )
    body[ENTERPRISE] |= {
        "costCenter": "CC-4410",
        "division": "Brand",
        "manager": {"value": "b5d0f6a2-0000-4000-8000-000000000001", "displayName": "Grace Hopper"},
    }
    created = await entra.post("/Users", body)
    assert created.status_code == 201, created.text
    # Kept and returned as Entra sent it (the manager's displayName is read-only in SCIM: not taken).
    assert created.json()[ENTERPRISE] == {
        "department": "Marketing & Comms",
        "employeeNumber": "42",
        "costCenter": "CC-4410",
        "division": "Brand",
        "manager": {"value": "b5d0f6a2-0000-4000-8000-000000000001"},
    }
    person = await db.get(User, uuid.UUID(created.json()["id"]))
    assert person is not None and person.cost_center == "CC-4410" and person.department_id == mktg.id
    person.mfa_enabled = True  # as their first Entra sign-in, with MFA, records
    await db.flush()
    headers = {"Authorization": f"Bearer {tokens.issue(person.id, org.id)}"}

    await _generate(client, headers, f"local/{model.model_name}")
    assert await (await gw.worker(app, db, http)).run_once()

    # The person moves to another cost centre; their next image is charged there, the first one is not.
    moved = await entra.patch(
        f"/Users/{person.id}",
        {"op": "Replace", "path": f"{ENTERPRISE}:costCenter", "value": "CC-9000"},
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()[ENTERPRISE]["costCenter"] == "CC-9000"
    await _generate(client, headers, f"local/{model.model_name}")
    assert await (await gw.worker(app, db, http)).run_once()

    ledger = await _export(client, finance_headers, "csv")
    assert sorted(row["cost_center"] for row in ledger) == ["CC-4410", "CC-9000"]
    focus = await _export(client, finance_headers, "focus-csv")
    tags = sorted((json.loads(row["Tags"]) for row in focus), key=lambda t: t["costCenter"])
    assert [t["costCenter"] for t in tags] == ["CC-4410", "CC-9000"]
    assert all(t["department_code"] == "MKTG" for t in tags)
    assert sorted(row["x_CostCenter"] for row in focus) == ["CC-4410", "CC-9000"]

    report = await client.get("/v1/reports/cost-centres", headers=finance_headers)
    assert report.status_code == 200, report.text
    rows = {row["key"]: row for row in report.json()["rows"]}
    assert set(rows) == {"CC-4410", "CC-9000"}
    assert rows["CC-4410"]["net_aud"] == rows["CC-9000"]["net_aud"] == "0.0500"
    assert rows["CC-4410"]["images"] == 1 and report.json()["total_aud"] == "0.1000"
    as_csv = await client.get("/v1/reports/cost-centres", params={"format": "csv"}, headers=finance_headers)
    assert as_csv.text.splitlines()[0].startswith("cost_center,net_aud")


async def test_spend_without_a_cost_centre_is_its_own_row_and_the_report_is_not_for_staff(
    app: FastAPI, client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner, http: httpx.AsyncClient
) -> None:
    world = await gw.world(db, tokens)
    await _generate(client, world.headers, f"local/{world.local.model_name}")
    assert await (await gw.worker(app, db, http)).run_once()
    finance = await factories.user(db, world.org, role="finance")
    finance_headers = {"Authorization": f"Bearer {tokens.issue(finance.id, world.org.id)}"}

    report = (await client.get("/v1/reports/cost-centres", headers=finance_headers)).json()
    assert [(row["key"], row["label"], row["images"]) for row in report["rows"]] == [
        ("", "No cost centre", 1)
    ]
    focus = await _export(client, finance_headers, "focus-csv")
    assert "costCenter" not in json.loads(focus[0]["Tags"])  # a tag is never null
    refused = await client.get("/v1/reports/cost-centres", headers=world.headers)
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("application/problem+json")
