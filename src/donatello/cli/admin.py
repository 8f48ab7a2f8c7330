"""Administration: SCIM provisioning tokens, the retention schedule and the prompt key ring."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated

import typer

from donatello.cli.common import Database, with_database
from donatello.cli.main import app
from donatello.config import get_settings
from donatello.core.database import transaction

log = logging.getLogger("donatello.cli")


scim_app = typer.Typer(no_args_is_help=True, help="SCIM provisioning (Entra ID's provisioning service).")
app.add_typer(scim_app, name="scim")


@scim_app.command("issue-token")
def scim_issue_token(
    org: Annotated[str, typer.Option("--org", help="Organization id or domain, e.g. acme.com.au")],
) -> None:
    """Print only a new SCIM provisioning token for the organization (its previous token stops working;
    audited with the platform operator as the actor). Entra's enterprise app takes it as "Secret Token"."""
    from donatello.audit import Actor
    from donatello.core.errors import NotFound
    from donatello.provisioning import service as provisioning

    async def issue(db: Database) -> str:
        async with transaction(db.sessions, platform=True) as session:
            organization = await provisioning.organization(session, org)
            operator = Actor(None, None, {"actor": "operator", "command": "donatello scim issue-token"})
            return (await provisioning.issue(session, organization.id, operator)).token

    try:
        typer.echo(with_database(issue))
    except NotFound:
        typer.echo(f"no active organization with id or domain {org}", err=True)
        raise typer.Exit(1) from None


retention_app = typer.Typer(no_args_is_help=True, help="Data retention (the documented schedule).")
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

    async def run(db: Database) -> RetentionReport | None:
        store = await open_image_store(settings)
        try:
            return await run_exclusive(db.engine, db.sessions, store, settings, dry_run=dry_run)
        finally:
            await store.close()

    report = with_database(run, pool_size=2)
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
