"""The ledger: budget invariants, lapsed holds and the daily spend rollups."""

from __future__ import annotations

import logging
import uuid
from typing import Annotated

import typer

from donatello.cli.common import Database, a_day, an_id, refuse, with_database
from donatello.cli.main import app
from donatello.core.database import transaction

log = logging.getLogger("donatello.cli")


budgets_app = typer.Typer(no_args_is_help=True, help="Budget ledger checks and maintenance.")
app.add_typer(budgets_app, name="budgets")


@budgets_app.command("check")
def budgets_check() -> None:
    """Verify every department's ledger: cost events sum to recorded spend; holds sum to reserved."""
    from donatello.budgets import invariants

    reports = with_database(lambda db: invariants.check_live(db.sessions))
    broken = [report for report in reports if not report.ok]
    for report in broken:
        for problem in report.problems:
            typer.echo(f"department {report.department_id}: {problem}", err=True)
    typer.echo(f"{len(reports)} departments checked, {len(broken)} with problems")
    raise typer.Exit(1 if broken else 0)


@budgets_app.command("expire-holds")
def budgets_expire_holds() -> None:
    """Release lapsed reservations now (the worker does this on a schedule)."""
    from donatello.budgets.tasks import expire_lapsed_holds

    released = with_database(lambda db: expire_lapsed_holds(db.sessions), pool_size=2)
    typer.echo(f"{released} departments had lapsed holds released")


reports_app = typer.Typer(no_args_is_help=True, help="Spend reports: rollup maintenance.")
app.add_typer(reports_app, name="reports")


@reports_app.command("rebuild-rollups")
def reports_rebuild_rollups(
    first: Annotated[str, typer.Option("--from", help="First local day, YYYY-MM-DD")],
    last: Annotated[str, typer.Option("--to", help="Last local day (inclusive), YYYY-MM-DD")],
    org: Annotated[str | None, typer.Option("--org", help="One organization's id (default: all)")] = None,
) -> None:
    """Recompute daily spend rollups from the ledger for a range of local days (idempotent)."""
    from donatello.budgets import rollups

    first_day, last_day = a_day(first, "--from"), a_day(last, "--to")
    if first_day > last_day:
        refuse("--from", "--from is after --to")
    organization_id = an_id(org, "--org") if org else None

    async def rebuild(db: Database) -> dict[uuid.UUID, int]:
        async with transaction(db.sessions, platform=True) as session:
            return await rollups.rebuild_range(session, organization_id, first_day, last_day)

    written = with_database(rebuild)
    typer.echo(f"{sum(written.values())} rollup rows rebuilt for {len(written)} organizations")
