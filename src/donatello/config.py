"""Settings: the only place environment variables are read (prefix ``DONATELLO_``).

With nothing set, every part runs on its embedded default: an embedded PostgreSQL under the user's data
directory, an in-process rate limiter, the outbox table as the audit store, local files for images and a
local key file for the prompt key.
"""

from __future__ import annotations

import os
from datetime import timedelta
from enum import StrEnum
from functools import lru_cache
from pathlib import Path

import platformdirs
from pydantic import Field, PositiveInt, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class KeyProvider(StrEnum):
    LOCAL = "local"
    AZURE_KEY_VAULT = "azure-key-vault"


def default_data_dir() -> Path:
    """Per-user data directory; as root we keep out of /root (embedded PostgreSQL opens its parents)."""
    base = Path(platformdirs.user_data_dir("donatello", appauthor=False))
    if str(base).startswith("/root"):
        return Path("/var/lib/donatello")
    return base


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DONATELLO_", env_file=".env", extra="ignore")

    environment: str = "development"
    data_dir: Path = Field(default_factory=default_data_dir)

    # Relational store: unset -> embedded PostgreSQL in data_dir/postgres.
    database_url: str | None = None
    # The non-superuser role the application connects as, so row-level security applies.
    database_app_role: str = "donatello_app"
    database_pool_size: int = 10

    redis_url: str | None = None

    # Rate limits on image generation, counted in images over sliding windows (``ratelimit`` package):
    # shared through Redis when ``redis_url`` is set, else per process. Per user by role (JSON objects
    # in the environment, e.g. DONATELLO_RATE_LIMIT_USER_PER_MINUTE='{"standard_user": 5}'); a role not
    # named gets the standard_user figure. "Per day" is any 24 hours.
    rate_limit_user_per_minute: dict[str, PositiveInt] = Field(
        default_factory=lambda: {
            "standard_user": 10,
            "power_user": 30,
            "dept_manager": 30,
            "finance": 10,
            "org_admin": 60,
            "super_admin": 120,
        }
    )
    rate_limit_user_per_day: dict[str, PositiveInt] = Field(
        default_factory=lambda: {
            "standard_user": 200,
            "power_user": 1_000,
            "dept_manager": 1_000,
            "finance": 200,
            "org_admin": 2_000,
            "super_admin": 5_000,
        }
    )
    # Shared by every member of one organization.
    rate_limit_organization_per_minute: PositiveInt = 600
    # In-process limiter only: beyond this many keys the least recently used is forgotten.
    rate_limit_max_tracked_keys: PositiveInt = 100_000
    # Redis Cluster only: one hash tag for every limiter key, so a single script sees them all.
    rate_limit_hash_tag: str | None = None
    # Failed authentication (bearer token, API key, SCIM token) per client address over a sliding window:
    # beyond it the address gets 429 (credentials are not even checked) until the oldest failure ages out.
    auth_failure_limit: PositiveInt = 20
    auth_failure_window_seconds: PositiveInt = 60

    cosmos_endpoint: str | None = None
    cosmos_key: SecretStr | None = None
    cosmos_database: str = "donatelloai-audit"
    cosmos_container: str = "audit_logs"
    # Audit relay (outbox -> audit store). Key auth when cosmos_key is set, else DefaultAzureCredential.
    audit_relay_batch_size: int = 1000
    audit_relay_concurrency: int = 8  # organizations shipped in parallel
    # Documents in flight to Cosmos at once, over every chain (a chain is computed in order, then its
    # batch is written concurrently).
    audit_relay_write_concurrency: int = 16
    audit_relay_poll_seconds: float = 0.5
    # Rows younger than this are left for the next pass, so the chain follows outbox order even when
    # transactions commit out of order (see audit.relay); correctness never depends on it.
    audit_relay_horizon_seconds: float = 0.5
    # One Cosmos write is retried (429/5xx/network, exponential back-off) for at most this long.
    audit_relay_retry_seconds: float = 30.0
    # While the audit store is away events wait in the outbox; beyond this many undelivered events new
    # generations are refused (503) until the relay catches up (0: no bound). Each process reads the
    # backlog at most once per ``audit_outbox_check_seconds`` (see audit.backlog).
    audit_outbox_max_backlog: int = 1_000_000
    audit_outbox_check_seconds: float = 1.0

    blob_connection_string: SecretStr | None = None
    blob_container: str = "generations"
    # Pinned so Azurite (the test emulator) accepts it; empty -> the SDK's default service version.
    blob_api_version: str = "2025-11-05"

    entra_tenant_id: str | None = None
    entra_client_id: str | None = None
    entra_client_secret: SecretStr | None = None
    entra_authority_host: str = "https://login.microsoftonline.com"
    entra_jwks_cooldown_seconds: float = 30.0
    # Where Entra posts the authorization code back (form_post); unset: derived from the request's URL.
    entra_redirect_uri: str | None = None
    # Extra CA bundle for the authority (a private/loopback identity provider); unset: system CAs.
    entra_ca_bundle: Path | None = None
    # Delegated scope (``scp``) an Entra access token must carry to call the API.
    entra_api_scope: str = "access_as_user"
    # Conditional Access authentication contexts (``acrs`` values) that mean MFA was performed.
    entra_mfa_auth_contexts: list[str] = Field(default_factory=list)
    entra_leeway_seconds: int = 30

    refresh_token_days: int = 14

    # Browser sessions (``web``): an opaque cookie whose hash is a row of user_sessions. It ends after
    # this long without a request (idle) and, whatever the activity, this long after sign-in (absolute).
    web_session_idle_minutes: PositiveInt = 60
    web_session_absolute_hours: PositiveInt = 12
    # One-click sign-in as any user of the organization, for the embedded default only: unset = on exactly
    # when Entra ID is not configured and the server binds to loopback; true in any other case refuses to
    # start (``web.security.check_local_sign_in``).
    web_local_sign_in: bool | None = None

    key_provider: KeyProvider = KeyProvider.LOCAL
    key_vault_url: str | None = None
    # Prompt KEKs in Key Vault: the versions of this secret (32 random bytes, base64).
    prompt_key_secret_name: str = "donatello-prompt-kek"
    # How long a fetched KEK is used before Key Vault is asked again (rotation takes effect after it).
    prompt_key_cache_seconds: float = 300.0
    key_vault_timeout_seconds: float = 5.0
    key_vault_retries: int = 2

    # Model credentials (``providers.credentials``): a Key Vault secret is used for this long before
    # Key Vault is asked again, so a rotated key takes effect within it.
    provider_secret_cache_seconds: float = 300.0
    # Off only against a loopback vault in tests: the SDK checks that a vault's authentication challenge
    # names a resource matching the vault's host.
    provider_key_vault_verify_challenge_resource: bool = True
    # Retries of one request for a managed-identity token (azure-identity's own pipeline).
    provider_identity_retries: int = Field(default=2, ge=0, le=10)
    # A model made unavailable for its credential has it tried again this often (the model-health job).
    provider_health_check_seconds: float = Field(default=300.0, gt=0)
    # A model's circuit opens after this many failed calls in a row, and lets a trial call through after
    # this many seconds (providers.circuit).
    provider_circuit_failures: int = Field(default=5, ge=1, le=100)
    provider_circuit_open_seconds: float = Field(default=30.0, gt=0)

    default_timezone: str = "Australia/Sydney"

    # Generations
    max_batch_size: int = 20
    reservation_hold_seconds: int = 900  # a budget hold lapses this long after it was last renewed
    generation_lease_seconds: int = 60  # a worker renews its lease every third of this
    generation_max_attempts: int = 3  # claims of one job (crashed workers included) before it fails
    # Jobs in flight per worker process. Provider calls are I/O-bound (10-60 s each) and hold no
    # database connection while they wait, so one process keeps many going at once.
    generation_concurrency: PositiveInt = 64
    # A model's rate_limit_per_minute is kept over this rolling window (its share of the quota in any
    # window this long), by every worker process together: claims wait for room, nobody is refused for it.
    generation_quota_window_seconds: float = Field(default=60.0, gt=0)
    # Admission refuses (429 with Retry-After) only when a model's queue would make the wait longer.
    generation_max_queue_wait_seconds: float = Field(default=900.0, gt=0)
    worker_poll_seconds: float = 0.5

    # Cost exports estimated above either bound run as a background job writing to storage (202 + job id).
    export_inline_max_rows: int = 1_000_000
    export_inline_max_days: int = 400
    export_link_minutes: int = 15  # lifetime of a finished export's download link
    export_stale_seconds: PositiveInt = 300  # a running export silent this long is taken over
    # Scheduled exports: the container they are dropped into (FinOps hubs ingest from "ingestion"; on the
    # embedded default a folder of that name under data_dir/drops), how many days into a month the closed
    # month is exported once more, and how often a failed run is tried before it waits for a person.
    export_drop_container: str = Field(default="ingestion", pattern=r"^[a-z0-9](?:[a-z0-9-]{1,61}[a-z0-9])$")
    export_month_close_days: int = Field(default=2, ge=0, le=27)
    export_schedule_max_attempts: PositiveInt = 6
    export_schedule_poll_seconds: float = Field(default=30.0, gt=0)  # planning and due runs, when idle
    export_progress_rows: int = 50_000  # a background export records rows_written this often
    # Provider cost files larger than this are reconciled by the `reconciliations` worker job (202).
    reconciliation_inline_max_bytes: int = 8 << 20
    reconciliation_max_upload_bytes: int = 4 << 30  # larger uploads are refused (413)
    # Run the background jobs inside `donatello serve`; unset = only on the embedded default database.
    # With several server processes they run once, in one dedicated process beside them.
    in_process_worker: bool | None = None
    # Server processes of `donatello serve`, sharing its port (unset: one per core available to it: the
    # machine's, or a container's CPU quota).
    workers: PositiveInt | None = None

    # Retention (``donatello.retention``, the documented schedule): run by the worker's ``retention`` job once
    # every ``retention_interval_hours`` (one runner at a time), or by hand (`donatello retention run`).
    retention_session_days: PositiveInt = 30  # expired sign-in sessions are deleted this long after expiry
    retention_webhook_delivery_days: PositiveInt = 30  # finished webhook deliveries are kept this long
    retention_archive_days: PositiveInt = 90  # generations older than this are archived, blobs -> Cool
    retention_cold_days: PositiveInt = 365  # archived generations' blobs -> Archive tier
    # Archived (soft-deleted) generations, their blobs and cost events are deleted this long after
    # deletion: 7 years, finance's retention of cost events (and the Cosmos audit TTL, 220,896,000 s).
    retention_delete_days: PositiveInt = 2557
    retention_batch_size: PositiveInt = 500  # rows per transaction
    retention_interval_hours: float = 24.0
    # Webhooks (``webhooks`` package): outgoing, signed, retried deliveries of audit-derived events.
    # Off: targets resolving to private, loopback, link-local, multicast or reserved addresses are refused
    # at registration and again at every delivery (the connection goes to the checked address).
    webhooks_allow_private_targets: bool = False
    # Extra CA bundle for receivers behind a private CA; unset: system CAs.
    webhooks_ca_bundle: Path | None = None
    webhooks_timeout_seconds: float = 10.0
    webhooks_retries: int = Field(default=8, ge=0, le=20)  # per delivery, after the first attempt
    webhooks_backoff_base_seconds: float = 30.0  # doubles per failed attempt, with jitter
    webhooks_backoff_max_seconds: float = 6 * 3600.0
    webhooks_disable_after_failures: PositiveInt = 20  # failed attempts in a row disable the webhook
    webhooks_batch_size: PositiveInt = 50
    webhooks_poll_seconds: float = 1.0
    # Notifications (``notifications`` package): in-app, and e-mail through SMTP. No host: mail is written
    # as .eml files to ``mail_outbox_dir`` (the embedded default).
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_from: str = "DonatelloAI <no-reply@donatello.invalid>"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = True
    smtp_timeout_seconds: float = 10.0
    notifications_email_retries: int = Field(default=8, ge=0, le=20)  # after the first attempt
    notifications_backoff_base_seconds: float = 30.0  # doubles per failed attempt, with jitter
    notifications_backoff_max_seconds: float = 6 * 3600.0
    notifications_batch_size: PositiveInt = 50
    notifications_poll_seconds: float = 1.0

    host: str = "127.0.0.1"
    port: int = 8000
    # Where clients reach this API (local image links point here); unset -> http://{host}:{port}.
    public_base_url: str | None = None
    log_level: str = "INFO"
    # Prometheus metrics at /metrics (scrape from inside the environment).
    metrics_enabled: bool = True
    # OpenTelemetry tracing (``observability.tracing``): off unless enabled and the packages are installed.
    tracing_enabled: bool = False
    tracing_service_name: str = "donatello"
    tracing_otlp_endpoint: str | None = None

    @property
    def public_url(self) -> str:
        """Where people and Entra reach this service: ``public_base_url``, else the bind address."""
        return self.public_base_url or f"http://{self.host}:{self.port}"

    @property
    def refresh_token_lifetime(self) -> timedelta:
        return timedelta(days=self.refresh_token_days)

    @property
    def entra_configured(self) -> bool:
        return bool(self.entra_tenant_id and self.entra_client_id and self.entra_client_secret)

    @property
    def web_session_idle(self) -> timedelta:
        return timedelta(minutes=self.web_session_idle_minutes)

    @property
    def web_session_absolute(self) -> timedelta:
        return timedelta(hours=self.web_session_absolute_hours)

    @property
    def reservation_hold(self) -> timedelta:
        return timedelta(seconds=self.reservation_hold_seconds)

    @property
    def generation_lease(self) -> timedelta:
        return timedelta(seconds=self.generation_lease_seconds)

    @property
    def embedded_database_dir(self) -> Path:
        return self.data_dir / "postgres"

    @property
    def key_dir(self) -> Path:
        return self.data_dir / "keys"

    @property
    def mail_outbox_dir(self) -> Path:
        """Where e-mail goes as .eml files when no SMTP host is configured."""
        return self.data_dir / "mail"


def mounted_secret(variable: str) -> SecretStr | None:
    """A secret the platform mounts as an environment variable (Container Apps secrets, Kubernetes
    secrets): read when it is needed, so a re-mounted secret is used without a restart."""
    value = os.environ.get(variable)
    return SecretStr(value) if value else None


@lru_cache
def get_settings() -> Settings:
    return Settings()
