"""Operator commands. Each works beside a running `donatello serve` on the embedded default: they join
the same embedded server instead of starting a second one on the same data directory."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
import uuid
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, NoReturn, TextIO

import typer

from donatello.config import Settings, get_settings
from donatello.core import logging as app_logging
from donatello.core import migrations
from donatello.core.database import create_engine, create_sessionmaker, transaction
from donatello.core.runtime import database_url

app = typer.Typer(no_args_is_help=True, add_completion=False, help="DonatelloAI operator commands.")
log = logging.getLogger("donatello.cli")


#: Commands that run until stopped and narrate what they do; the others keep stderr for errors.
LONG_RUNNING = {"serve", "worker"}


@app.callback()
def _configure(context: typer.Context) -> None:
    level = get_settings().log_level
    if context.invoked_subcommand not in LONG_RUNNING and "DONATELLO_LOG_LEVEL" not in os.environ:
        level = "WARNING"  # an operator's output is the command's answer, not our log lines
    app_logging.configure(level)


def refuse(option: str, problem: str) -> NoReturn:
    """Bad input: one line on stderr naming the option, exit code 2 (no usage box, no traceback)."""
    typer.echo(f"error: {option}: {problem}", err=True)
    raise typer.Exit(2)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind (default from settings)")] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind (default from settings)")] = None,
    migrate: Annotated[bool, typer.Option("--migrate", help="Apply migrations before serving")] = False,
    seed_demo: Annotated[bool, typer.Option("--seed-demo", help="Create the demo tenant if missing")] = False,
) -> None:
    """Serve the API (on the embedded database unless DONATELLO_DATABASE_URL is set)."""
    import uvicorn

    from donatello.main import create_app

    started = time.perf_counter()
    settings = get_settings()
    _exit_cleanly_on_sigterm()
    with database_url(settings) as url:  # the embedded default arrives migrated
        if migrate and settings.database_url:
            migrations.upgrade(url)
        if seed_demo:
            _seed_demo(settings, url)
        bind_host, bind_port = host or settings.host, port or settings.port
        in_process = settings.in_process_worker
        if in_process is None:  # the embedded default is one self-contained process
            in_process = settings.database_url is None
        bound = settings.model_copy(
            update={
                "database_url": url,
                "in_process_worker": in_process,
                "host": bind_host,
                "port": bind_port,
            }
        )
        log.info(
            "serving",
            extra={
                "url": f"http://{bind_host}:{bind_port}",
                "docs": f"http://{bind_host}:{bind_port}/docs",
                "prepared_in_s": round(time.perf_counter() - started, 2),
            },
        )
        typer.echo(
            f"DonatelloAI on http://{bind_host}:{bind_port} — API docs at http://{bind_host}:{bind_port}/docs"
        )
        uvicorn.run(create_app(bound), host=bind_host, port=bind_port, log_config=None, access_log=False)


def _exit_cleanly_on_sigterm() -> None:
    """SIGTERM (systemd, Docker, CI) ends the process like Ctrl-C: unwinding, so the embedded PostgreSQL
    handle is released and the last holder stops the server. uvicorn handles the signal while it serves
    and raises it again once it has shut down; by default that would kill the process on the spot."""

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)


@app.command()
def migrate(revision: Annotated[str, typer.Argument(help="Target revision")] = "head") -> None:
    """Apply database migrations."""
    # migrate=False: the embedded default must not be taken to head first (an older revision is allowed)
    with database_url(get_settings(), migrate=False) as url:
        migrations.upgrade(url, revision)
    typer.echo(f"database at {revision}")


@app.command()
def worker(
    only: Annotated[
        list[str] | None,
        typer.Option("--only", help="Run only these jobs (repeatable), e.g. --only generations"),
    ] = None,
) -> None:
    """Run background jobs (generation queue, audit relay, scheduled jobs) until SIGTERM/SIGINT."""
    from donatello import worker as background

    unknown = sorted(set(only or []) - set(background.JOBS))
    if unknown:
        typer.echo(
            f"unknown jobs: {', '.join(unknown)}; known: {', '.join(sorted(background.JOBS))}", err=True
        )
        raise typer.Exit(2)
    settings = get_settings()
    with database_url(settings) as url:
        typer.echo(f"donatello worker: {background.describe(only)}")
        asyncio.run(background.run(settings, url, only=only))


audit_app = typer.Typer(no_args_is_help=True, help="The audit log: provisioning and verification.")
app.add_typer(audit_app, name="audit")


@audit_app.command("init")
def audit_init() -> None:
    """Create the Cosmos DB database and container (partition key, 7-year TTL, indexing policy)."""
    from donatello.audit import cosmos

    settings = get_settings()
    if not cosmos.is_configured(settings):
        typer.echo(
            "Cosmos DB is not configured (DONATELLO_COSMOS_ENDPOINT): the outbox table is the audit store"
        )
        return
    typer.echo(f"audit store ready: {asyncio.run(cosmos.provision(settings))}")


@audit_app.command("verify")
def audit_verify(
    org: Annotated[
        str, typer.Option("--org", help="Organization id or domain, or 'platform' for platform events")
    ],
    since: Annotated[datetime | None, typer.Option("--from", help="First event time (inclusive)")] = None,
    until: Annotated[datetime | None, typer.Option("--to", help="Last event time (exclusive)")] = None,
) -> None:
    """Recompute an organization's hash chain from the audit store and report the first break."""
    from donatello.audit import verification

    settings = get_settings()
    with database_url(settings) as url:
        organization_id = None if org == "platform" else _organization_id(url, org)
        result = asyncio.run(verification.run(settings, url, organization_id, since, until))
    if result.broken:
        typer.echo(
            f"BROKEN ({result.broken.kind}) at position {result.broken.chain_seq}"
            f" event {result.broken.event_id or '-'}: {result.broken.detail}"
            f" ({result.checked} events verified before it)"
        )
        raise typer.Exit(1)
    span = f"positions {result.first_seq}..{result.last_seq}" if result.checked else "no events"
    typer.echo(f"ok: {result.checked} events verified, {span}, head {result.head_hash or '-'}")


@app.command("seed-demo")
def seed_demo() -> None:
    """Create the demo tenant "Acme Corporation" (idempotent)."""
    settings = get_settings()
    with database_url(settings) as url:
        if settings.database_url:  # the embedded default arrives migrated
            migrations.upgrade(url)
        _seed_demo(settings, url)


@app.command()
def token(
    email: Annotated[str, typer.Option("--email", help="The user's e-mail, e.g. org_admin@acme.com.au")],
    ttl: Annotated[str, typer.Option("--ttl", help="Lifetime such as 15m, 300s or 1h (at most 15m)")] = "15m",
) -> None:
    """Print only an access token for an existing, active user (nothing else goes to stdout)."""
    from donatello import demo

    lifetime = _duration(ttl)
    settings = get_settings()
    with database_url(settings) as url:
        typer.echo(asyncio.run(demo.access_token_for(settings, url, email, lifetime)))


def _duration(text: str) -> timedelta:
    units = {"s": 1, "m": 60, "h": 3600}
    try:
        seconds = int(text[:-1]) * units[text[-1]]
    except (KeyError, ValueError, IndexError):
        refuse("--ttl", "use a number with s, m or h, e.g. 15m")
    if not 0 < seconds <= 15 * 60:
        refuse("--ttl", "an access token lives between 1s and 15m")
    return timedelta(seconds=seconds)


scim_app = typer.Typer(no_args_is_help=True, help="SCIM provisioning (Entra ID's provisioning service).")
app.add_typer(scim_app, name="scim")


@scim_app.command("issue-token")
def scim_issue_token(
    org: Annotated[str, typer.Option("--org", help="Organization id or domain, e.g. acme.com.au")],
) -> None:
    """Print only a new SCIM provisioning token for the organization (its previous token stops working;
    audited with the platform operator as the actor). Entra's enterprise app takes it as "Secret Token"."""
    from donatello.core.errors import NotFound
    from donatello.provisioning import service as provisioning
    from donatello.users.administration import Actor

    async def run(url: str) -> str:
        engine = create_engine(url, app_role=get_settings().database_app_role, pool_size=1)
        try:
            async with transaction(create_sessionmaker(engine), platform=True) as session:
                organization = await provisioning.organization(session, org)
                operator = Actor(None, None, {"actor": "operator", "command": "donatello scim issue-token"})
                return (await provisioning.issue(session, organization.id, operator)).token
        finally:
            await engine.dispose()

    with database_url(get_settings()) as url:
        try:
            typer.echo(asyncio.run(run(url)))
        except NotFound:
            typer.echo(f"no active organization with id or domain {org}", err=True)
            raise typer.Exit(1) from None


budgets_app = typer.Typer(no_args_is_help=True, help="Budget ledger checks and maintenance.")
app.add_typer(budgets_app, name="budgets")


@budgets_app.command("check")
def budgets_check() -> None:
    """Verify every department's ledger: cost events sum to recorded spend; holds sum to reserved."""
    from donatello.budgets import invariants

    async def run(url: str) -> list[invariants.Report]:
        engine = create_engine(url, app_role=get_settings().database_app_role, pool_size=1)
        try:
            return await invariants.check_live(create_sessionmaker(engine))
        finally:
            await engine.dispose()

    with database_url(get_settings()) as url:
        reports = asyncio.run(run(url))
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

    async def run(url: str) -> int:
        engine = create_engine(url, app_role=get_settings().database_app_role, pool_size=2)
        try:
            return await expire_lapsed_holds(create_sessionmaker(engine))
        finally:
            await engine.dispose()

    with database_url(get_settings()) as url:
        typer.echo(f"{asyncio.run(run(url))} departments had lapsed holds released")


reports_app = typer.Typer(no_args_is_help=True, help="Spend reports: rollup maintenance.")
app.add_typer(reports_app, name="reports")


def _day(value: str, hint: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        refuse(hint, f"{value!r} is not a date; use YYYY-MM-DD")


@reports_app.command("rebuild-rollups")
def reports_rebuild_rollups(
    first: Annotated[str, typer.Option("--from", help="First local day, YYYY-MM-DD")],
    last: Annotated[str, typer.Option("--to", help="Last local day (inclusive), YYYY-MM-DD")],
    org: Annotated[str | None, typer.Option("--org", help="One organization's id (default: all)")] = None,
) -> None:
    """Recompute daily spend rollups from the ledger for a range of local days (idempotent)."""
    from donatello.budgets import rollups

    first_day, last_day = _day(first, "--from"), _day(last, "--to")
    if first_day > last_day:
        refuse("--from", "--from is after --to")
    organization_id = _uuid(org, "--org") if org else None

    async def run(url: str) -> dict[uuid.UUID, int]:
        engine = create_engine(url, app_role=get_settings().database_app_role, pool_size=1)
        try:
            async with transaction(create_sessionmaker(engine), platform=True) as session:
                return await rollups.rebuild_range(session, organization_id, first_day, last_day)
        finally:
            await engine.dispose()

    with database_url(get_settings()) as url:
        written = asyncio.run(run(url))
    typer.echo(f"{sum(written.values())} rollup rows rebuilt for {len(written)} organizations")


class _ProgressBar:
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
        str, typer.Option("--format", help="csv, parquet, focus (FOCUS 1.2 Parquet) or focus-csv")
    ] = "csv",
) -> None:
    """Write an organization's cost events to a file, as GET /v1/cost-events/export does (streamed,
    audited with the platform as the actor), with a progress bar on stderr."""
    from donatello.core.errors import DomainError
    from donatello.reports import exports, finance

    _day(first, "--from")
    _day(last, "--to")
    if not out.parent.is_dir():
        refuse("--out", f"the folder {str(out.parent)!r} does not exist")
    if not os.access(out.parent, os.W_OK):
        refuse("--out", f"the folder {str(out.parent)!r} is not writable")
    department_id = _uuid(department, "--department") if department else None
    settings = get_settings()

    async def run(url: str) -> int:
        engine = create_engine(url, app_role=settings.database_app_role, pool_size=1)
        sessions = create_sessionmaker(engine)
        temporary = out.with_name(f".{out.name}.{os.getpid()}.part")
        try:
            async with transaction(sessions, platform=True) as session:
                rng = await finance.range_for(
                    session, organization_id, first, last, department_id, export_format
                )
                estimate = await finance.estimate_rows(session, rng)
                await finance.record_operator_export(session, rng, estimate)
            bar = _ProgressBar(estimate)
            async with transaction(sessions, tenant=rng.organization_id) as session:
                rows = await exports.to_file(session, rng, temporary, progress=bar.update)
            os.replace(temporary, out)  # the file appears whole, or not at all
            bar.finish(rows)
            return rows
        finally:
            temporary.unlink(missing_ok=True)
            await engine.dispose()

    with database_url(settings) as url:
        organization_id = _organization_id(url, org)
        try:
            rows = asyncio.run(run(url))
        except DomainError as error:
            typer.echo(f"export refused: {error.detail}", err=True)
            raise typer.Exit(2) from None
    typer.echo(f"{rows} cost events written to {out}")


def _organization_id(url: str, value: str) -> uuid.UUID:
    """An organization named by its id or its domain (``acme.com.au``); bad input is refused."""
    try:
        return uuid.UUID(value)
    except ValueError:
        pass
    from sqlalchemy import select

    from donatello.models import Organization

    async def lookup() -> uuid.UUID | None:
        engine = create_engine(url, app_role=get_settings().database_app_role, pool_size=1)
        try:
            async with transaction(create_sessionmaker(engine), platform=True) as session:
                found: uuid.UUID | None = await session.scalar(
                    select(Organization.id).where(Organization.domain == value.strip().lower())
                )
                return found
        finally:
            await engine.dispose()

    found = asyncio.run(lookup())
    if found is None:
        refuse("--org", f"no organization has the id or domain {value!r}")
    return found


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

    settings = get_settings()

    async def run(url: str) -> tuple[Reconciliation, bool]:
        engine = create_engine(url, app_role=settings.database_app_role, pool_size=1)
        sessions = create_sessionmaker(engine)
        try:
            upload = await asyncio.to_thread(service.fingerprint, file)
            async with transaction(sessions, platform=True) as session:
                config = await service.configure(session, organization_id, provider, file_format, period)
                found = await service.imported(session, organization_id, upload, config)
                org_settings = await service.organization_settings(session, organization_id)
            if found is not None:
                return found, False
            totals = await service.read_totals(file, file_format, org_settings)  # no transaction open
            async with transaction(sessions, platform=True) as session:
                reconciliation, created = await service.submit(
                    session, organization_id, None, upload, file_format, config, queued=False
                )
                if created:
                    await service.complete(session, reconciliation, totals)
                return reconciliation, created
        finally:
            await engine.dispose()

    with database_url(settings) as url:
        organization_id = _organization_id(url, org)
        try:
            reconciliation, created = asyncio.run(run(url))
        except DomainError as error:
            typer.echo(f"reconciliation refused: {error.detail}", err=True)
            raise typer.Exit(2) from None
    if not created:
        typer.echo("this file was imported before with the same configuration: nothing changed")
    for line in queries.summary_lines(reconciliation):
        typer.echo(line)
    raise typer.Exit(1 if queries.needs_attention(reconciliation) else 0)


def _uuid(value: str, hint: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        refuse(hint, f"{value!r} is not an id; use one such as 0b7c9d2e-…")


retention_app = typer.Typer(no_args_is_help=True, help="Data retention (seed 004's schedule).")
app.add_typer(retention_app, name="retention")


@retention_app.command("run")
def retention_run(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only count what is due")] = False,
) -> None:
    """Archive, tier and delete what the retention schedule says is due, now (the worker runs it daily)."""
    from donatello.retention import run_exclusive
    from donatello.retention.tasks import RetentionReport
    from donatello.storage import open_image_store

    settings = get_settings()

    async def run(url: str) -> RetentionReport | None:
        engine = create_engine(url, app_role=settings.database_app_role, pool_size=2)
        store = await open_image_store(settings)
        try:
            return await run_exclusive(engine, create_sessionmaker(engine), store, settings, dry_run=dry_run)
        finally:
            await store.close()
            await engine.dispose()

    with database_url(settings) as url:
        report = asyncio.run(run(url))
    if report is None:
        typer.echo("another retention run holds the lock; nothing done", err=True)
        raise typer.Exit(1)
    prefix = "would change (dry run)" if dry_run else "changed"
    typer.echo(prefix + ": " + ", ".join(f"{k} {v}" for k, v in report.counts().items() if k != "dry_run"))


keys_app = typer.Typer(no_args_is_help=True, help="Encryption keys.")
app.add_typer(keys_app, name="keys")


@keys_app.command("rotate-prompt-key")
def keys_rotate_prompt_key() -> None:
    """Start sealing new prompts under a new key-encryption key; prompts sealed earlier keep opening."""
    from donatello.config import KeyProvider
    from donatello.sealing import LocalKeyRing

    settings = get_settings()
    if settings.key_provider is KeyProvider.AZURE_KEY_VAULT:
        typer.echo(
            "Prompt keys are in Azure Key Vault: add a new version of the secret "
            f"{settings.prompt_key_secret_name!r} in {settings.key_vault_url}, e.g.\n"
            f"  az keyvault secret set --vault-name <vault> --name {settings.prompt_key_secret_name} "
            '--value "$(openssl rand -base64 32)"\n'
            f"It becomes the active key within {settings.prompt_key_cache_seconds:g} s. "
            "Keep the earlier versions enabled: prompts sealed under them need them to open."
        )
        return
    ring = LocalKeyRing(settings.key_dir)
    key_id = asyncio.run(ring.rotate())
    typer.echo(f"new prompt key {key_id} is active in {ring.directory}; earlier keys stay for old prompts")


def _seed_demo(settings: Settings, url: str) -> None:
    from donatello import demo

    summary = asyncio.run(demo.seed(settings, url))
    typer.echo(summary)
