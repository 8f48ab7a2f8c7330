"""`donatello export` writes the same files as the API (streamed, the file replaced only when whole), with
a progress bar on stderr, audited with the platform as the actor; bad input is refused plainly."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import subprocess
import sys
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from donatello.budgets import settlement
from donatello.core.clock import utcnow
from donatello.core.database import set_tenant, transaction
from donatello.models import Organization
from tests.support import factories
from tests.support.ledger import admit, committed_tenant, principal_of, settle

DONATELLO = str(Path(sys.executable).with_name("donatello"))
PRICES = ("0.0400", "0.0800", "0.1200", "0.1700")


async def _donatello(postgres_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("DONATELLO_")},
        "DONATELLO_DATABASE_URL": postgres_url,
    }
    return await asyncio.to_thread(
        subprocess.run, [DONATELLO, *args], env=env, capture_output=True, text=True, check=False
    )


async def test_the_cli_export_adds_up_streams_to_the_file_and_is_audited(
    engine: AsyncEngine, postgres_url: str, tmp_path: Path
) -> None:
    async with committed_tenant(engine, postgres_url, budget="100.00", members=2) as tenant:
        sessions = async_sessionmaker(engine, expire_on_commit=False)
        async with transaction(sessions) as session:
            await set_tenant(session, tenant.organization_id)
            org = await session.get(Organization, tenant.organization_id)
            assert org is not None
            admin = await factories.user(session, org, role="org_admin")
            charges = []
            for index in range(12):
                member = tenant.members[index % 2]
                price = PRICES[index % len(PRICES)]
                charges.append(await settle(session, await admit(session, member, price), price))
            await settlement.amend(
                session, principal_of(admin), charges[0].id, Decimal("0.0100"), "refund", "test"
            )
            await settlement.amend(
                session, principal_of(admin), charges[1].id, Decimal("-0.0050"), "correction", "test"
            )
        now = utcnow()
        first, last = str((now - timedelta(days=2)).date()), str((now + timedelta(days=2)).date())
        async with transaction(sessions, platform=True) as session:
            truth, count = (
                await session.execute(
                    text("SELECT sum(actual_cost_aud), count(*) FROM cost_events WHERE organization_id = :o"),
                    {"o": tenant.organization_id},
                )
            ).one()
        org_id = str(tenant.organization_id)

        out = tmp_path / "ledger.csv"
        done = await _donatello(
            postgres_url, "export", "--org", org_id, "--from", first, "--to", last, "--out", str(out)
        )
        assert done.returncode == 0, done.stderr
        assert f"{count} cost events written to {out}" in done.stdout
        assert "100%" in done.stderr and f"{count}/{count} rows" in done.stderr
        rows = list(csv.DictReader(io.StringIO(out.read_text())))
        assert len(rows) == count == 14
        assert sum(Decimal(r["actual_cost_aud"]) for r in rows) == truth
        assert {r["kind"] for r in rows} == {"charge", "refund", "correction"}
        assert os.listdir(tmp_path) == ["ledger.csv"]  # no temporary file left

        parquet = tmp_path / "focus.parquet"
        done = await _donatello(
            postgres_url, "export", "--org", org_id, "--from", first, "--to", last,
            "--department", str(tenant.department.id), "--format", "focus", "--out", str(parquet),
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        table = pq.read_table(parquet)
        assert table.schema.field("BilledCost").type == pa.decimal128(14, 4)
        assert sum(table.column("BilledCost").to_pylist(), Decimal(0)) == truth

        async with transaction(sessions, platform=True) as session:
            events = (
                await session.execute(
                    text(
                        "SELECT payload FROM audit_outbox WHERE event_type = 'cost_events.exported'"
                        " AND organization_id = :o ORDER BY created_at"
                    ),
                    {"o": tenant.organization_id},
                )
            ).scalars().all()  # fmt: skip
        assert [e["metadata"]["format"] for e in events] == ["csv", "focus"]
        assert {e["user_id"] for e in events} == {"system"}
        assert {e["metadata"]["via"] for e in events} == {"cli"}

        backwards = await _donatello(
            postgres_url, "export", "--org", org_id, "--from", last, "--to", first, "--out", str(out)
        )
        assert backwards.returncode == 2 and "from must be before to" in backwards.stderr
        unknown = await _donatello(
            postgres_url, "export", "--org", org_id, "--from", first, "--to", last,
            "--format", "xlsx", "--out", str(tmp_path / "x"),
        )  # fmt: skip
        assert unknown.returncode == 2 and "format must be one of" in unknown.stderr
        assert not (tmp_path / "x").exists()
        assert len(rows) == len(list(csv.DictReader(io.StringIO(out.read_text()))))  # left as it was
