from __future__ import annotations

import re
import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, Self
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    field_validator,
    model_validator,
)

from donatello.core.json_values import Settings as JsonSettings
from donatello.core.money import Money

SizeKey = Annotated[str, StringConstraints(pattern=r"^[1-9][0-9]{1,4}x[1-9][0-9]{1,4}$")]
QualityKey = Annotated[str, StringConstraints(min_length=1, max_length=20)]
Multiplier = Annotated[Decimal, Field(gt=0, le=100, decimal_places=4)]
Price = Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=4)]
TokenPriceValue = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=6)]
PricingUnit = Literal["image", "token"]
Endpoint = Annotated[str, StringConstraints(min_length=1, max_length=500, pattern=r"^(https?|local)://\S+$")]
Country = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
PROCESSING_COUNTRY = (
    "ISO 3166-1 alpha-2 country where the deployment processes prompts (e.g. AU for an Azure Standard "
    "deployment in australiaeast); null: anywhere (Global and Data Zone deployments). The configuration "
    "records the region and deployment type (configuration.region, configuration.deployment_type)"
)
RETIRES_ON = (
    "The day the model is retired: from then on model auto never chooses it and naming it is refused (422) "
    "suggesting configuration.replaced_by; platform administrators are warned 30 and 7 days before"
)


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


class ProviderConfigWrite(BaseModel):
    """The whole runtime configuration of a model (PUT replaces it). The credential says where the key
    or token comes from; no secret is ever stored or returned."""

    model_config = ConfigDict(extra="forbid")

    max_retries: int = Field(default=3, ge=0, le=10)
    rate_limit_per_minute: int | None = Field(default=None, gt=0, le=100_000)
    token_limit_per_minute: int | None = Field(
        default=None,
        gt=0,
        le=1_000_000_000,
        description="Token-priced models: the deployment's tokens a minute",
    )
    configuration: JsonSettings = Field(default_factory=dict)
    credential: Credential | None = None


class TokenPrices(BaseModel):
    """Prices per MILLION tokens, in the model's ``pricing_currency`` (decimal strings)."""

    model_config = ConfigDict(extra="forbid")

    input_text: TokenPriceValue
    input_image: TokenPriceValue
    output_image: TokenPriceValue


class TokenPricesRead(BaseModel):
    input_text: Money
    input_image: Money
    output_image: Money


class ProviderCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider_name: str = Field(min_length=1, max_length=50, pattern=r"^[a-z0-9][a-z0-9-]*$")
    model_name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    api_endpoint: Endpoint
    cost_per_image_aud: Price | None = Field(
        default=None, description="Required when pricing_unit is image (the default)"
    )
    pricing_currency: str = Field(default="AUD", pattern=r"^[A-Z]{3}$")
    cost_per_image: Price | None = None
    pricing_unit: PricingUnit = Field(
        default="image",
        description='"image": charged cost_per_image_aud per image; "token": held at the most the '
        "request's tokens can cost and charged from the provider's metered usage at token_prices",
    )
    token_prices: TokenPrices | None = Field(default=None, description="Required when pricing_unit is token")
    priority: int = Field(default=100, ge=0, le=10_000)
    size_multipliers: dict[SizeKey, Multiplier] = Field(default_factory=dict)
    quality_multipliers: dict[QualityKey, Multiplier] = Field(default_factory=dict)
    sla_percentage: float | None = Field(default=None, ge=0, le=100)
    timeout_seconds: int = Field(default=60, gt=0, le=600)
    is_active: bool = True
    processing_country: Country | None = Field(default=None, description=PROCESSING_COUNTRY)
    retires_on: date | None = Field(default=None, description=RETIRES_ON)
    config: ProviderConfigWrite | None = None

    @model_validator(mode="after")
    def _foreign_price_given(self) -> Self:
        if self.pricing_unit == "image" and self.pricing_currency != "AUD" and self.cost_per_image is None:
            raise ValueError("cost_per_image is required when pricing_currency is not AUD")
        return self


class ProviderUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    is_active: bool | None = None
    api_endpoint: Endpoint | None = None
    cost_per_image_aud: Price | None = None
    pricing_currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    cost_per_image: Price | None = None
    pricing_unit: PricingUnit | None = None
    token_prices: TokenPrices | None = None
    priority: int | None = Field(default=None, ge=0, le=10_000)
    size_multipliers: dict[SizeKey, Multiplier] | None = None
    quality_multipliers: dict[QualityKey, Multiplier] | None = None
    sla_percentage: float | None = Field(default=None, ge=0, le=100)
    timeout_seconds: int | None = Field(default=None, gt=0, le=600)
    processing_country: Country | None = Field(default=None, description=PROCESSING_COUNTRY)
    retires_on: date | None = Field(default=None, description=RETIRES_ON)


class CircuitRead(BaseModel):
    state: Literal["closed", "open", "half_open"] = Field(
        description="closed: calls flow; open: no call is made until a trial is due (after 5 failed calls in "
        "a row); half_open: one trial call is under way — its success closes the circuit"
    )
    consecutive_failures: int
    opened_at: datetime | None
    trial_after: datetime | None = Field(description="When an open circuit lets one trial call through")


class HealthRead(BaseModel):
    """The model's calls over the last hour (a call is one request to it, its retries included)."""

    calls: int
    success_rate: float | None = Field(description="Percent of the calls that succeeded; null without calls")
    latency_p50_ms: int | None = Field(description="Median latency of the successful calls")
    latency_p95_ms: int | None = Field(description="95th percentile latency of the successful calls")
    sla_breached: bool = Field(
        description="The success rate over at least 10 calls is below sla_percentage: model auto tries the "
        "model after those that are not in breach"
    )
    circuit: CircuitRead


class ProviderConfigRead(BaseModel):
    provider_id: uuid.UUID
    max_retries: int
    rate_limit_per_minute: int | None
    token_limit_per_minute: int | None = None
    configuration: dict[str, Any]
    has_credential: bool = Field(description="Whether a credential is configured (never the secret)")
    credential_kind: CredentialKind | None = Field(
        description="Where the credential comes from; its details are never returned"
    )


class ProviderRead(BaseModel):
    id: uuid.UUID
    provider_name: str
    model_name: str
    is_active: bool
    available: bool = Field(
        description=(
            "False when the model cannot serve a request now: inactive, missing the credential its "
            "provider needs, made unavailable (its credential could not be obtained, or the provider "
            "answered 401/403/404), paused, its circuit open after repeated failures, or retired. "
            'model "auto" never chooses it.'
        )
    )
    unavailable_reason: str | None = Field(
        default=None, description="Why it is not available, in plain words (administrators only)"
    )
    unavailable_since: datetime | None = Field(
        default=None,
        description="When it was made unavailable; it stays so until an administrator changes it "
        "(administrators only)",
    )
    last_error: str | None = Field(
        default=None, description="The provider's or the credential's last error (administrators only)"
    )
    api_endpoint: str
    cost_per_image_aud: Money | None = Field(description="AUD per image; null for a token-priced model")
    pricing_currency: str
    cost_per_image: Money | None
    pricing_unit: PricingUnit
    token_prices: TokenPricesRead | None = Field(
        description="Per million tokens in pricing_currency (token-priced models)"
    )
    priority: int
    size_multipliers: dict[str, Any]
    quality_multipliers: dict[str, Any]
    sla_percentage: float | None
    timeout_seconds: int
    processing_country: str | None = Field(description=PROCESSING_COUNTRY)
    region: str | None = Field(description="The deployment's region (configuration.region)")
    deployment_type: str | None = Field(
        description="The deployment type (configuration.deployment_type), e.g. Standard, DataZoneStandard, "
        "GlobalStandard"
    )
    retires_on: date | None = Field(description=RETIRES_ON)
    replaced_by: str | None = Field(
        description="The model to use once it is retired (configuration.replaced_by)"
    )
    health: HealthRead
    created_at: datetime
    updated_at: datetime
    config: ProviderConfigRead | None = Field(
        default=None, description="Runtime configuration (administrators only)"
    )
