"""How a model's health and runtime configuration read in the API (and what the audit log may say of a
configuration: of its credential, only the kind)."""

from __future__ import annotations

from typing import Any

from donatello.models import ModelProvider, ProviderConfig
from donatello.providers.schemas import CircuitRead, HealthRead, ProviderConfigRead
from donatello.providers.standing import Standing


def health_read(model: ModelProvider, standing: Standing) -> HealthRead:
    circuit = standing.circuit
    return HealthRead(
        calls=standing.calls,
        success_rate=standing.success_rate,
        latency_p50_ms=standing.latency_p50_ms,
        latency_p95_ms=standing.latency_p95_ms,
        sla_breached=standing.breaches(model.sla_percentage),
        circuit=CircuitRead(
            state=circuit.state,
            consecutive_failures=circuit.consecutive_failures,
            opened_at=circuit.opened_at,
            trial_after=circuit.trial_after,
        ),
    )


def config_read(config: ProviderConfig) -> ProviderConfigRead:
    return ProviderConfigRead(
        provider_id=config.provider_id,
        max_retries=config.max_retries,
        rate_limit_per_minute=config.rate_limit_per_minute,
        token_limit_per_minute=config.token_limit_per_minute,
        configuration=config.configuration,
        has_credential=config.credential is not None,
        credential_kind=credential_kind(config),
    )


def credential_kind(config: ProviderConfig) -> Any:
    return config.credential.get("kind") if config.credential is not None else None


def config_summary(config: ProviderConfig) -> dict[str, Any]:
    """What the audit log may say about a configuration: of the credential, only its kind."""
    return {
        "max_retries": config.max_retries,
        "rate_limit_per_minute": config.rate_limit_per_minute,
        "token_limit_per_minute": config.token_limit_per_minute,
        "configuration": config.configuration,
        "credential": credential_kind(config),
    }
