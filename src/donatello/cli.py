"""Operator commands. Each works beside a running `donatello serve` on the embedded default: they join
the same embedded server instead of starting a second one on the same data directory."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from datetime import datetime
from typing import Annotated

import typer

from donatello.config import Settings, get_settings
from donatello.core import logging as app_logging
from donatello.core import migrations
from donatello.core.runtime import database_url

app = typer.Typer(no_args_is_help=True, add_completion=False, help="DonatelloAI operator commands.")
log = logging.getLogger("donatello.cli")


@app.callback()
def _configure() -> None:
    app_logging.configure(get_settings().log_level)


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
    with database_url(settings) as url:
        if migrate:
            migrations.upgrade(url)
        if seed_demo:
            _seed_demo(settings, url)
        bound = settings.model_copy(update={"database_url": url})
        bind_host, bind_port = host or settings.host, port or settings.port
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


@app.command()
def migrate(revision: Annotated[str, typer.Argument(help="Target revision")] = "head") -> None:
    """Apply database migrations."""
    with database_url(get_settings()) as url:
        migrations.upgrade(url, revision)
    typer.echo(f"database at {revision}")


@app.command()
def worker() -> None:
    """Run background jobs (generation queue, audit relay, scheduled jobs) until SIGTERM/SIGINT."""
    from donatello import worker as background

    settings = get_settings()
    with database_url(settings) as url:
        typer.echo(f"donatello worker: {background.describe()}")
        asyncio.run(background.run(settings, url))


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
    org: Annotated[str, typer.Option("--org", help="Organization id, or 'platform' for platform events")],
    since: Annotated[datetime | None, typer.Option("--from", help="First event time (inclusive)")] = None,
    until: Annotated[datetime | None, typer.Option("--to", help="Last event time (exclusive)")] = None,
) -> None:
    """Recompute an organization's hash chain from the audit store and report the first break."""
    from donatello.audit import verification

    settings = get_settings()
    organization_id = None if org == "platform" else uuid.UUID(org)
    with database_url(settings) as url:
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
        migrations.upgrade(url)
        _seed_demo(settings, url)


@app.command()
def token(email: Annotated[str, typer.Argument(help="The user's email, e.g. org_admin@acme.com.au")]) -> None:
    """Print a 15-minute access token for a user (for operators and local testing)."""
    from donatello import demo

    settings = get_settings()
    with database_url(settings) as url:
        typer.echo(asyncio.run(demo.access_token_for(settings, url, email)))


def _seed_demo(settings: Settings, url: str) -> None:
    from donatello import demo

    summary = asyncio.run(demo.seed(settings, url))
    typer.echo(summary)
