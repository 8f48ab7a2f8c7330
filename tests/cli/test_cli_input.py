"""Operator commands answer bad input with one clear line and exit code 2, and keep logs out of their
output unless asked."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from donatello.cli.exports import ProgressBar
from tests.support.ledger import committed_tenant

DONATELLO = str(Path(sys.executable).with_name("donatello"))


@pytest.fixture
def env(postgres_url: str) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("DONATELLO_")},
        "DONATELLO_DATABASE_URL": postgres_url,
    }


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [DONATELLO, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("audit", "verify", "--org", "no-such.example"), "error: --org: no organization has the id or domain"),
        (
            ("export", "--org", "acme.com.au", "--from", "2026-11-01", "--to", "2026-11-30",
             "--out", "/nonexistent/dir/x.csv"),
            "error: --out: the folder '/nonexistent/dir' does not exist",
        ),
        (("export", "--org", "x", "--from", "2026-13-01", "--to", "2026-11-30", "--out", "/tmp/x.csv"),
         "error: --from: '2026-13-01' is not a date; use YYYY-MM-DD"),
        (("reports", "rebuild-rollups", "--from", "2026-11-01", "--to", "2026-11-02", "--org", "acme"),
         "error: --org: 'acme' is not an id"),
        (("token", "--email", "someone@example.com", "--ttl", "2h"),
         "error: --ttl: an access token lives between 1s and 15m"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_exit_code_2(
    env: dict[str, str], args: tuple[str, ...], expected: str
) -> None:
    result = run(env, *args)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(expected), result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stdout == ""


async def test_an_organization_is_named_by_id_or_domain_and_logs_stay_quiet(
    engine: AsyncEngine, postgres_url: str, env: dict[str, str]
) -> None:
    async with committed_tenant(engine, postgres_url, budget="5.00") as tenant:
        from donatello.models import Organization

        async with engine.connect() as connection:
            from sqlalchemy import select, text

            await connection.execute(text("SELECT set_config('app.platform_scope', 'on', false)"))
            domain = (
                await connection.execute(
                    select(Organization.domain).where(Organization.id == tenant.organization_id)
                )
            ).scalar_one()
        by_domain = run(env, "audit", "verify", "--org", domain)
        by_id = run(env, "audit", "verify", "--org", str(tenant.organization_id))

    assert by_domain.returncode == 0, by_domain.stderr
    assert by_domain.stdout == by_id.stdout and by_domain.stdout.startswith("ok: ")
    assert by_domain.stderr == "", "no log lines on an operator's terminal unless asked"


def test_the_progress_bar_reaches_100_percent_when_every_row_is_written() -> None:
    stream = io.StringIO()
    bar = ProgressBar(22, stream)
    bar._draw(11, final=False)
    bar._draw(22, final=False)
    assert stream.getvalue().endswith("100% 22/22 rows")
    assert "99%" not in stream.getvalue()
