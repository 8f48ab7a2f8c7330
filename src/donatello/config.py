"""Settings: the only place environment variables are read (prefix ``DONATELLO_``).

With nothing set, every part runs on its embedded default: an embedded PostgreSQL under the user's data
directory, an in-process rate limiter, the outbox table as the audit store, local files for images and a
local key file for the prompt key.
"""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path

import platformdirs
from pydantic import Field, SecretStr
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

    cosmos_endpoint: str | None = None
    cosmos_key: SecretStr | None = None
    cosmos_database: str = "donatelloai-audit"
    cosmos_container: str = "audit_logs"

    blob_connection_string: SecretStr | None = None
    blob_container: str = "generations"

    entra_tenant_id: str | None = None
    entra_client_id: str | None = None
    entra_client_secret: SecretStr | None = None
    entra_authority_host: str = "https://login.microsoftonline.com"
    entra_jwks_cooldown_seconds: float = 30.0

    key_provider: KeyProvider = KeyProvider.LOCAL
    key_vault_url: str | None = None
    # Prompt KEKs in Key Vault: the versions of this secret (32 random bytes, base64).
    prompt_key_secret_name: str = "donatello-prompt-kek"
    # How long a fetched KEK is used before Key Vault is asked again (rotation takes effect after it).
    prompt_key_cache_seconds: float = 300.0
    key_vault_timeout_seconds: float = 5.0
    key_vault_retries: int = 2

    default_timezone: str = "Australia/Sydney"

    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"

    @property
    def embedded_database_dir(self) -> Path:
        return self.data_dir / "postgres"

    @property
    def key_dir(self) -> Path:
        return self.data_dir / "keys"


@lru_cache
def get_settings() -> Settings:
    return Settings()
