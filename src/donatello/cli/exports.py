"""Finance files: cost exports with a progress bar, and reconciliation with a provider's bill."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path
from typing import Annotated, TextIO

import typer

from donatello.cli.common import Database, a_day, an_id, refuse, with_database
from donatello.cli.main import app
from donatello.core.database import transaction

log = logging.getLogger("donatello.cli")


class ProgressBar:
    """``[#####.....]  45% 12,345/27,000 rows`` redrawn on one stderr line as the percentage moves."""

    WIDTH = 30

    def __init__(self, total: int, stream: TextIO = sys.stderr) -> None:
        self.total = total
        self.stream = stream
        self._shown: int | None = -1

    async def update(self, rows: int) -> None:
        self._draw(rows, final=False)

    def finish(self, rows: int) -> None:
        self._draw(rows, final=True)
        self.stream.write("\n")
        self.stream.flush()

    def _draw(self, rows: int, *, final: bool) -> None:
        total = max(self.total, rows) if final else self.total
        percent = 100 if final else (min(100, rows * 100 // total) if total else None)
        if percent == self._shown and not final:
            return
        self._shown = percent
        if percent is None:
            self.stream.write(f"\r{rows:,} rows")
        else:
            filled = self.WIDTH * percent // 100
            bar = "#" * filled + "." * (self.WIDTH - filled)
            self.stream.write(f"\r[{bar}] {percent:3d}% {rows:,}/{total:,} rows")
        self.stream.flush()


@app.command("export")
def export(
    org: Annotated[str, typer.Option("--org", help="Organization id or domain")],
    first: Annotated[str, typer.Option("--from", help="First local day, YYYY-MM-DD")],
    last: Annotated[str, typer.Option("--to", help="Last local day (inclusive), YYYY-MM-DD")],
    out: Annotated[Path, typer.Option("--out", help="File to write (replaced only once complete)")],
    department: Annotated[str | None, typer.Option("--department", help="One department's id")] = None,
    export_format: Annotated[
        str, typer.Option("--format", help="csv, parquet, focus (FOCUS Parquet) or focus-csv")
    ] = "csv",
    focus_version: Annotated[
        str | None,
        typer.Option("--focus-version", help="FOCUS version of a FOCUS export: 1.2 (default) or 1.3"),
    ] = None,
) -> None:
    """Write an organization's cost events to a file, as GET /v1/cost-events/export does (streamed,
    audited with the platform as the actor), with a progress bar on stderr."""
    from donatello.core.errors import DomainError
    from donatello.exports import files, service

    a_day(first, "--from")
    a_day(last, "--to")
    if not out.parent.is_dir():
        refuse("--out", f"the folder {str(out.parent)!r} does not exist")
    if not os.access(out.parent, os.W_OK):
        refuse("--out", f"the folder {str(out.parent)!r} is not writable")
    department_id = an_id(department, "--department") if department else None

    async def run(db: Database) -> int:
        organization_id = await db.organization(org)
        async with transaction(db.sessions, platform=True) as session:
            rng, estimate = await service.operator_export(
                session, organization_id, first, last, department_id, export_format, focus_version
            )
        bar = ProgressBar(estimate)

        async def replace(path: Path) -> None:
            os.replace(path, out)  # the file appears whole, or not at all

        temporary = out.with_name(f".{out.name}.{os.getpid()}.part")
        rows = await files.export_file(db.sessions, rng, temporary, replace, progress=bar.update)
        bar.finish(rows)
        return rows

    try:
        rows = with_database(run)
    except DomainError as error:
        typer.echo(f"export refused: {error.detail}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"{rows} cost events written to {out}")


@app.command()
def reconcile(
    org: Annotated[str, typer.Option("--org", help="Organization id or domain")],
    file: Annotated[
        Path, typer.Option("--file", help="The provider's cost file", exists=True, dir_okay=False)
    ],
    file_format: Annotated[str, typer.Option("--format", help="focus (CSV or Parquet) or generic (CSV)")],
    provider: Annotated[str, typer.Option("--provider", help="The provider billed")] = "azure-openai",
    period: Annotated[
        str | None,
        typer.Option("--period", help="YYYY-MM or YYYY-MM-DD..YYYY-MM-DD (default: the file's days)"),
    ] = None,
) -> None:
    """Compare a provider's cost file with the ledger (as POST /v1/reconciliations does, audited with the
    platform as the actor) and print the summary; exit 1 when a row is beyond tolerance or a provider
    line could not be compared (for a scheduled job)."""
    from donatello.core.errors import DomainError
    from donatello.models import Reconciliation
    from donatello.reconciliation import queries, service

    async def run(db: Database) -> tuple[Reconciliation, bool]:
        organization_id = await db.organization(org)
        upload = await asyncio.to_thread(service.fingerprint, file)
        async with transaction(db.sessions, platform=True) as session:
            config = await service.configure(session, organization_id, provider, file_format, period)
            found = await service.imported(session, organization_id, upload, config)
            org_settings = await service.organization_settings(session, organization_id)
        if found is not None:
            return found, False
        totals = await service.read_totals(file, file_format, org_settings)  # no transaction open
        async with transaction(db.sessions, platform=True) as session:
            reconciliation, created = await service.submit(
                session, organization_id, None, upload, file_format, config, queued=False
            )
            if created:
                await service.complete(session, reconciliation, totals)
            return reconciliation, created

    try:
        reconciliation, created = with_database(run)
    except DomainError as error:
        typer.echo(f"reconciliation refused: {error.detail}", err=True)
        raise typer.Exit(2) from None
    if not created:
        typer.echo("this file was imported before with the same configuration: nothing changed")
    for line in queries.summary_lines(reconciliation):
        typer.echo(line)
    raise typer.Exit(1 if queries.needs_attention(reconciliation) else 0)
