"""The audit log: provisioning the Cosmos DB container and verifying an organization's hash chain."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Annotated

import typer

from donatello.cli.common import Database, with_database
from donatello.cli.main import app
from donatello.config import get_settings

log = logging.getLogger("donatello.cli")


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
    from donatello.audit.chain import Verification

    settings = get_settings()

    async def verify(db: Database) -> Verification:
        organization_id = None if org == "platform" else await db.organization(org)
        return await verification.run(settings, db.sessions, organization_id, since, until)

    result = with_database(verify)
    if result.broken:
        typer.echo(
            f"BROKEN ({result.broken.kind}) at position {result.broken.chain_seq}"
            f" event {result.broken.event_id or '-'}: {result.broken.detail}"
            f" ({result.checked} events verified before it)"
        )
        raise typer.Exit(1)
    span = f"positions {result.first_seq}..{result.last_seq}" if result.checked else "no events"
    typer.echo(f"ok: {result.checked} events verified, {span}, head {result.head_hash or '-'}")
