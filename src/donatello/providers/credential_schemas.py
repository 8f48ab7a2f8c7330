"""A model's credential as administrators write it: where its key or token comes from (Key Vault, a
managed identity, an environment variable, an AWS key pair, a Google service account or default
credentials). Reads show only its kind, never the secret's location in full."""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Literal, Self
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator, model_validator

#: Key Vault's DNS suffix in each Azure cloud (public, China, US Government, Germany)
VAULT_SUFFIXES = ("vault.azure.net", "vault.azure.cn", "vault.usgovcloudapi.net", "vault.microsoftazure.de")
DEFAULT_SCOPE = "https://cognitiveservices.azure.com/.default"
_VAULT_NAME = re.compile(r"^[a-z][a-z0-9-]{1,22}[a-z0-9]$")
_SECRET_NAME = re.compile(r"^[0-9A-Za-z-]{1,127}$")
_SECRET_VERSION = re.compile(r"^[0-9a-f]{32}$")
_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
#: the platform's own secrets and the identity endpoint's: never sent to a model provider
_RESERVED_VARIABLES = ("DONATELLO_", "AZURE_", "IDENTITY_", "MSI_")
_SCOPE = re.compile(r"^(https://[A-Za-z0-9.-]+(:[0-9]+)?(/[A-Za-z0-9._~/-]*)?|api://[A-Za-z0-9._~/-]+)$")


class KeyVaultCredential(BaseModel):
    """An API key kept as a Key Vault secret, read with the app's identity and sent as ``api-key``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["key-vault"]
    secret: str = Field(
        max_length=500,
        description="https://<vault>.vault.azure.net/secrets/<name>[/<version>] (no version: the latest)",
        examples=["https://acme-kv.vault.azure.net/secrets/azure-openai-key"],
    )

    @field_validator("secret")
    @classmethod
    def _secret_url(cls, value: str) -> str:
        key_vault_secret(value)
        return value


class ManagedIdentityCredential(BaseModel):
    """No key at all: an Entra token for the app's managed identity, sent as ``Authorization: Bearer``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["managed-identity"]
    scope: str = Field(default=DEFAULT_SCOPE, max_length=200)
    client_id: uuid.UUID | None = Field(
        default=None, description="A user-assigned identity's client id; none: the system-assigned identity"
    )

    @field_validator("scope")
    @classmethod
    def _scope(cls, value: str) -> str:
        if not _SCOPE.match(value) or not value.endswith("/.default"):
            raise ValueError("the scope must be a resource URI ending in /.default, e.g. " + DEFAULT_SCOPE)
        return value


class EnvironmentCredential(BaseModel):
    """An API key the platform mounts as an environment variable (Container Apps or Kubernetes secrets),
    sent as ``api-key``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["environment"]
    variable: str = Field(max_length=128, examples=["AZURE_OPENAI_EAST_KEY"])

    @field_validator("variable")
    @classmethod
    def _variable(cls, value: str) -> str:
        if not _VARIABLE.match(value):
            raise ValueError(
                "the variable must be a name of letters, digits and underscores, not starting with a digit"
            )
        if value.upper().startswith(_RESERVED_VARIABLES):
            raise ValueError(
                f"{value} is reserved for the platform's own settings and identity; mount the model's key "
                "under another name"
            )
        return value


def _variable_name(value: str | None) -> str | None:
    return None if value is None else EnvironmentCredential._variable(value)


def _secret_url(value: str | None) -> str | None:
    if value is not None:
        key_vault_secret(value)
    return value


class AwsKeysCredential(BaseModel):
    """An AWS access key pair that signs each call (SigV4): from environment variables, or from one Key
    Vault secret holding ``{"access_key_id", "secret_access_key"[, "session_token"]}`` as JSON."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["aws-keys"]
    access_key_id_variable: str | None = Field(
        default=None, max_length=128, examples=["BEDROCK_ACCESS_KEY_ID"]
    )
    secret_access_key_variable: str | None = Field(default=None, max_length=128)
    session_token_variable: str | None = Field(default=None, max_length=128)
    secret: str | None = Field(default=None, max_length=500, description="A Key Vault secret URL")

    _variables = field_validator(
        "access_key_id_variable", "secret_access_key_variable", "session_token_variable"
    )(_variable_name)
    _secret = field_validator("secret")(_secret_url)

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        pair = (self.access_key_id_variable, self.secret_access_key_variable)
        if self.secret is not None and (any(pair) or self.session_token_variable):
            raise ValueError("give either secret or the key variables, not both")
        if self.secret is None and not all(pair):
            raise ValueError("give secret, or both access_key_id_variable and secret_access_key_variable")
        return self


class GoogleServiceAccountCredential(BaseModel):
    """A Google service-account key (its JSON file's content) in an environment variable or a Key Vault
    secret; calls send the OAuth token it is granted."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["google-service-account"]
    variable: str | None = Field(default=None, max_length=128, examples=["VERTEX_SERVICE_ACCOUNT_KEY"])
    secret: str | None = Field(default=None, max_length=500, description="A Key Vault secret URL")

    _variable = field_validator("variable")(_variable_name)
    _secret = field_validator("secret")(_secret_url)

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.variable is None) == (self.secret is None):
            raise ValueError("give exactly one of variable and secret")
        return self


class GoogleDefaultCredential(BaseModel):
    """No key stored: Google's application default credentials (workload identity federation, the
    metadata server, or the key file ``GOOGLE_APPLICATION_CREDENTIALS`` names)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["google-default"]


AnyCredential = (
    KeyVaultCredential
    | ManagedIdentityCredential
    | EnvironmentCredential
    | AwsKeysCredential
    | GoogleServiceAccountCredential
    | GoogleDefaultCredential
)
Credential = Annotated[AnyCredential, Field(discriminator="kind")]
CREDENTIAL = TypeAdapter[AnyCredential](Credential)
CredentialKind = Literal[
    "key-vault", "managed-identity", "environment", "aws-keys", "google-service-account", "google-default"
]


def key_vault_secret(url: str) -> tuple[str, str, str | None]:
    """``(vault URL, secret name, version or None)`` of a Key Vault secret URL; ValueError naming what is
    wrong otherwise."""
    parts = urlsplit(url)
    if parts.scheme != "https":
        raise ValueError("the secret URL must start with https://")
    host = (parts.hostname or "").lower()
    vault, _, suffix = host.partition(".")
    if suffix not in VAULT_SUFFIXES:
        raise ValueError(f"the host must be <vault>.{VAULT_SUFFIXES[0]} (or {', '.join(VAULT_SUFFIXES[1:])})")
    if not _VAULT_NAME.match(vault) or "--" in vault:
        raise ValueError(
            f"{vault!r} is not a vault name (3-24 letters, digits and single hyphens, starting with a letter)"
        )
    if parts.port is not None or parts.username or parts.password or parts.query or parts.fragment:
        raise ValueError("the secret URL takes no port, user, query or fragment")
    segments = parts.path.split("/")[1:]
    if len(segments) not in (2, 3) or segments[0] != "secrets":
        raise ValueError("the path must be /secrets/<name> or /secrets/<name>/<version>")
    if not _SECRET_NAME.match(segments[1]):
        raise ValueError(f"{segments[1]!r} is not a secret name (1-127 letters, digits and hyphens)")
    version = segments[2] if len(segments) == 3 else None
    if version is not None and not _SECRET_VERSION.match(version):
        raise ValueError(f"{version!r} is not a secret version (32 hexadecimal characters)")
    return f"https://{host}", segments[1], version
