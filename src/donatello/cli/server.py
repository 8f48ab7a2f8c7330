"""Running the service: serve, migrate, worker, seed-demo and short-lived access tokens."""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from typing import Annotated

import typer

from donatello.cli.common import Database, a_duration, on_database, with_database
from donatello.cli.main import app
from donatello.cli.serving import available_cores, serve_processes
from donatello.config import Settings, get_settings
from donatello.core import migrations
from donatello.core.database import transaction
from donatello.core.runtime import database_url

log = logging.getLogger("donatello.cli")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind (default from settings)")] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind (default from settings)")] = None,
    migrate: Annotated[bool, typer.Option("--migrate", help="Apply migrations before serving")] = False,
    seed_demo: Annotated[bool, typer.Option("--seed-demo", help="Create the demo tenant if missing")] = False,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=1,
            help="Server processes sharing the port (default: DONATELLO_WORKERS, else one per core)",
        ),
    ] = None,
) -> None:
    """Serve the API (on the embedded database unless DONATELLO_DATABASE_URL is set).

    With several server processes the database is prepared (and, embedded, started) once here, and the
    background jobs run once, in a process of their own (see ``donatello.cli.serving``)."""
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
        processes = workers or settings.workers or available_cores()
        log.info(
            "serving",
            extra={
                "workers": processes,
                "url": f"http://{bind_host}:{bind_port}",
                "docs": f"http://{bind_host}:{bind_port}/docs",
                "prepared_in_s": round(time.perf_counter() - started, 2),
            },
        )
        typer.echo(
            f"DonatelloAI on http://{bind_host}:{bind_port} — API docs at http://{bind_host}:{bind_port}/docs"
        )
        if processes > 1:
            serve_processes(bound, processes)
            return
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
    from donatello.auth.tokens import token_signer

    lifetime = a_duration(ttl)
    signer = token_signer(get_settings())

    async def issue(db: Database) -> str:
        async with transaction(db.sessions, platform=True) as session:
            return await demo.access_token_for(session, signer, email, lifetime)

    typer.echo(with_database(issue))


def _seed_demo(settings: Settings, url: str) -> None:
    from donatello import demo

    async def seed(db: Database) -> demo.SeedSummary:
        async with transaction(db.sessions, platform=True) as session:
            return await demo.seed_in(session, settings.default_timezone)

    summary = on_database(url, seed)
    typer.echo(summary)
