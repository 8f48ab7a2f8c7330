"""The provider registry: who may see which models, and how platform administrators change them.

``model_providers`` is platform-wide (no tenant owns a model): every signed-in user sees the active
models and their prices; org admins also see inactive ones, the runtime configuration (never a
credential's details) and why a model is unavailable; only super admins change anything, and every change
is audited. A super admin's change (``PUT /config`` or ``PATCH``) makes a model that was made unavailable
(``providers.unavailable``) available again. A model's price is shown as the version in effect now, and a
price change through ``PATCH`` is a new version effective now (``providers.prices``).
"""

from __future__ import annotations

import math
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from donatello import audit
from donatello.core.errors import NotFound, ValidationFailed
from donatello.core.pagination import Page, decode_cursor, page_of
from donatello.models import ModelPrice, ModelProvider, ProviderConfig
from donatello.models.providers import TOKEN_PRICE_COLUMNS
from donatello.providers import circuit as circuit_breaking
from donatello.providers import prices, reads, repository, residency, retirement
from donatello.providers.adapters import cannot_run
from donatello.providers.availability import Availability
from donatello.providers.errors import ProviderModelExists, SecretInConfiguration
from donatello.providers.price_schemas import PriceHistory, PriceSchedule, PriceVersionRead
from donatello.providers.schemas import (
    ProviderConfigRead,
    ProviderConfigWrite,
    ProviderCreate,
    ProviderRead,
    ProviderUpdate,
    TokenPrices,
    TokenPricesRead,
)
from donatello.providers.standing import UNKNOWN, Standing, standings
from donatello.tenancy import Action, Permission, Principal, ensure

#: configuration keys that look like credentials; those belong in Key Vault
SECRET_WORDS = ("key", "secret", "password", "token", "credential")
#: fields a PATCH may set to null
NULLABLE = ("processing_country", "retires_on")


async def list_providers(
    session: AsyncSession, principal: Principal, availability: Availability, cursor: str | None, limit: int
) -> Page[ProviderRead]:
    admin = _is_admin(principal)
    rows = await repository.page(
        session, include_inactive=admin, after=decode_cursor(cursor, 2), limit=limit + 1
    )
    kept, next_cursor = page_of(rows, limit, key=lambda row: [row[0].provider_name, row[0].model_name])
    health = await standings(session)
    priced = await prices.in_effect_now(session, [model for model, _ in kept])
    items = [
        await _read(model, config, availability, admin, health, priced.get(model.id))
        for model, config in kept
    ]
    return Page[ProviderRead](items=items, next_cursor=next_cursor)


async def get(
    session: AsyncSession, principal: Principal, availability: Availability, provider_id: uuid.UUID
) -> ProviderRead:
    admin = _is_admin(principal)
    model = await _visible(session, provider_id, admin)
    config = await repository.config_for(session, model.id)
    return await _read(
        model, config, availability, admin, await standings(session), await _price_now(session, model)
    )


async def price_history(session: AsyncSession, principal: Principal, provider_id: uuid.UUID) -> PriceHistory:
    """The versions of a visible model's price; who set each is for administrators only."""
    admin = _is_admin(principal)
    found = await prices.history(session, await _visible(session, provider_id, admin))
    if not admin:
        found.items = [item.model_copy(update={"scheduled_by": None}) for item in found.items]
    return found


async def schedule_price(
    session: AsyncSession, principal: Principal, provider_id: uuid.UUID, body: PriceSchedule
) -> PriceVersionRead:
    """A super admin schedules a model's next price (``providers.prices``)."""
    ensure(principal, Action.MANAGE_MODELS)
    return await prices.schedule(session, principal, await _visible(session, provider_id, admin=True), body)


async def create(
    session: AsyncSession, principal: Principal, availability: Availability, body: ProviderCreate
) -> ProviderRead:
    """A super admin registers a model; provider/model pairs are unique."""
    ensure(principal, Action.MANAGE_MODELS)
    if body.config is not None:
        _refuse_secrets(body.config.configuration)
        residency.check_placement(body.processing_country, body.config.configuration)
    values = body.model_dump(exclude={"config", "size_multipliers", "quality_multipliers", "token_prices"})
    values |= _token_columns(body.token_prices)
    model = ModelProvider(
        **values,
        size_multipliers=_json_multipliers(body.size_multipliers),
        quality_multipliers=_json_multipliers(body.quality_multipliers),
    )
    _check_pricing(model)
    if not await repository.add(session, model):
        raise ProviderModelExists(body.provider_name, body.model_name)
    config = None
    if body.config is not None:
        config = ProviderConfig(provider_id=model.id, **body.config.model_dump(mode="json"))
        await repository.save(session, config)
    await audit.record_event(
        session,
        "provider.created",
        action="provider_created",
        resource=("model_provider", model.id),
        organization_id=principal.organization_id,
        actor=principal,
        details={"provider": model.provider_name, "model": model.model_name, "values": _auditable(values)},
    )
    return await _read(model, config, availability, True, {})


async def update(
    session: AsyncSession,
    principal: Principal,
    availability: Availability,
    provider_id: uuid.UUID,
    body: ProviderUpdate,
) -> ProviderRead:
    """Enable/disable a model, change its prices, timeout, priority or multipliers; audited per field.
    Any change by an administrator makes an unavailable model available again."""
    ensure(principal, Action.MANAGE_MODELS)
    model = await _visible(session, provider_id, admin=True)
    now_priced = await prices.price_now(session, model)
    wanted = body.model_dump(exclude_unset=True, exclude={"token_prices"})
    if body.token_prices is not None:
        wanted |= _token_columns(body.token_prices)
    elif wanted.get("pricing_unit") == "image":
        wanted |= _token_columns(None)  # priced per image again: its token prices no longer apply
    for field in ("size_multipliers", "quality_multipliers"):
        if wanted.get(field) is not None:
            wanted[field] = _json_multipliers(wanted[field])
    current = {field: now_priced.get(field, getattr(model, field)) for field in wanted}
    changes = {
        field: {"from": current[field], "to": value}
        for field, value in wanted.items()
        if current[field] != value
        and (
            value is not None
            or field in {"cost_per_image", "sla_percentage", *NULLABLE, *TOKEN_PRICE_COLUMNS}
        )
    }
    config = await repository.config_for(session, model.id)
    country = (
        changes["processing_country"]["to"] if "processing_country" in changes else model.processing_country
    )
    residency.check_placement(country, config.configuration if config else {})
    repriced = any(field in prices.PRICE_COLUMNS for field in changes)
    row_prices = {field: getattr(model, field) for field in prices.PRICE_COLUMNS}
    if repriced:
        if any(field in changes for field in ("pricing_unit", "pricing_currency")):
            await prices.refuse_unit_change_while_scheduled(session, model)
        await prices.set_by(session, principal)
        for field, value in now_priced.items():  # the change is made to the price in effect
            setattr(model, field, value)
    if (cleared := _clear_unavailable(model)) is not None:
        changes["unavailable_reason"] = {"from": cleared, "to": None}
    if changes:
        for field, change in changes.items():
            if field != "unavailable_reason":
                setattr(model, field, change["to"])
        if "retires_on" in changes:  # a new date is warned of afresh
            model.retirement_warned_days = None
        _check_pricing(model)
        await repository.save(session, model)
        if repriced and all(getattr(model, field) == row_prices[field] for field in row_prices):
            await prices.record_unwritten_change(session, principal, model)
        await audit.record_event(
            session,
            "provider.updated",
            action="provider_updated",
            resource=("model_provider", model.id),
            organization_id=principal.organization_id,
            actor=principal,
            details={
                "provider": model.provider_name,
                "model": model.model_name,
                "changes": _auditable(changes),
            },
        )
    return await _read(
        model, config, availability, True, await standings(session), await _price_now(session, model)
    )


async def configure(
    session: AsyncSession, principal: Principal, provider_id: uuid.UUID, body: ProviderConfigWrite
) -> ProviderConfigRead:
    """Replace a model's runtime configuration (retries, per-minute limit, settings, credential); an
    unavailable model is available again."""
    ensure(principal, Action.MANAGE_MODELS)
    model = await _visible(session, provider_id, admin=True)
    _refuse_secrets(body.configuration)
    residency.check_placement(model.processing_country, body.configuration)
    config = await repository.config_for(session, model.id) or ProviderConfig(provider_id=model.id)
    before, credential_before = reads.config_summary(config), config.credential
    for field, value in body.model_dump(mode="json").items():
        setattr(config, field, value)
    await repository.save(session, config)
    after = reads.config_summary(config)
    changes = {k: {"from": before[k], "to": after[k]} for k in after if before[k] != after[k]}
    if credential_before != config.credential:  # another secret of the same kind is a change too
        changes["credential"] = {"from": before["credential"], "to": after["credential"]}
    if (cleared := _clear_unavailable(model)) is not None:
        await repository.save(session, model)
        changes["unavailable_reason"] = {"from": cleared, "to": None}
    if changes:
        await audit.record_event(
            session,
            "provider.configured",
            action="provider_configured",
            resource=("model_provider", model.id),
            organization_id=principal.organization_id,
            actor=principal,
            details={"provider": model.provider_name, "model": model.model_name, "changes": changes},
        )
    return reads.config_read(config)


def _is_admin(principal: Principal) -> bool:
    return principal.can(Permission.PROVIDERS_READ_CONFIG)


async def _visible(session: AsyncSession, provider_id: uuid.UUID, admin: bool) -> ModelProvider:
    model = await repository.get(session, provider_id)
    if model is None or not (model.is_active or admin):
        raise NotFound("provider", provider_id)
    return model


def _clear_unavailable(model: ModelProvider) -> str | None:
    """Make the model available again; the reason it had, if it was unavailable."""
    reason = model.unavailable_reason
    if reason is not None:
        model.unavailable_reason = model.unavailable_since = None
    return reason


async def _unavailable_reason(
    model: ModelProvider, config: ProviderConfig | None, availability: Availability, standing: Standing
) -> str | None:
    if not model.is_active:
        return "switched off by an administrator"
    if (why := cannot_run(model, config)) is not None:
        return why
    if retirement.retired(model, circuit_breaking.clock().date()):
        assert model.retires_on is not None
        return f"retired on {model.retires_on.isoformat()}"
    if standing.circuit.blocks(circuit_breaking.clock()):
        failures = standing.circuit.consecutive_failures
        return f"its circuit is open after {failures} failed calls in a row; a trial call will test it"
    paused = await availability.paused_for(model.provider_name, model.model_name)
    if paused is not None:
        return f"paused for {math.ceil(paused)} s after repeated failures"
    return None


async def _price_now(session: AsyncSession, model: ModelProvider) -> ModelPrice | None:
    return (await prices.in_effect_now(session, [model])).get(model.id)


async def _read(
    model: ModelProvider,
    config: ProviderConfig | None,
    availability: Availability,
    admin: bool,
    health: dict[uuid.UUID, Standing],
    price: ModelPrice | None = None,
) -> ProviderRead:
    """The model as readers see it, priced by ``price`` (the version in effect now) when given."""
    standing = health.get(model.id, UNKNOWN)
    why = await _unavailable_reason(model, config, availability, standing)
    region, deployment_type = residency.placement(config.configuration if config is not None else {})
    priced: ModelPrice | ModelProvider = price if price is not None else model
    return ProviderRead(
        id=model.id,
        provider_name=model.provider_name,
        model_name=model.model_name,
        is_active=model.is_active,
        available=why is None,
        unavailable_reason=why if admin else None,
        unavailable_since=model.unavailable_since if admin else None,
        last_error=model.last_error if admin else None,
        api_endpoint=model.api_endpoint,
        cost_per_image_aud=priced.cost_per_image_aud,
        pricing_currency=priced.pricing_currency,
        cost_per_image=priced.cost_per_image,
        pricing_unit=priced.pricing_unit,
        token_prices=_token_prices_read(priced),
        priority=model.priority,
        size_multipliers=model.size_multipliers,
        quality_multipliers=model.quality_multipliers,
        sla_percentage=model.sla_percentage,
        timeout_seconds=model.timeout_seconds,
        processing_country=model.processing_country,
        region=region,
        deployment_type=deployment_type,
        retires_on=model.retires_on,
        replaced_by=retirement.replacement(config),
        health=reads.health_read(model, standing),
        created_at=model.created_at,
        updated_at=model.updated_at,
        config=reads.config_read(config) if admin and config is not None else None,
    )


def _token_columns(prices: TokenPrices | None) -> dict[str, Decimal | None]:
    return {
        "token_price_input_text": prices.input_text if prices else None,
        "token_price_input_image": prices.input_image if prices else None,
        "token_price_output_image": prices.output_image if prices else None,
    }


def _token_prices_read(model: ModelPrice | ModelProvider) -> TokenPricesRead | None:
    text, image, output = (getattr(model, column) for column in TOKEN_PRICE_COLUMNS)
    if model.pricing_unit != "token" or text is None or image is None or output is None:
        return None
    return TokenPricesRead(input_text=text, input_image=image, output_image=output)


def _check_pricing(model: ModelProvider) -> None:
    """The prices a model's pricing unit needs (422 naming the missing field; the CHECKs agree)."""
    if model.pricing_unit == "token":
        if any(getattr(model, column) is None for column in TOKEN_PRICE_COLUMNS):
            raise ValidationFailed(
                "token_prices (input_text, input_image, output_image per million tokens) are required"
                " when pricing_unit is token",
                field="token_prices",
            )
        return
    if model.cost_per_image_aud is None:
        raise ValidationFailed(
            "cost_per_image_aud is required when pricing_unit is image", field="cost_per_image_aud"
        )
    if model.pricing_currency != "AUD" and model.cost_per_image is None:
        raise ValidationFailed(
            "cost_per_image is required when pricing_currency is not AUD", field="cost_per_image"
        )


def _refuse_secrets(configuration: dict[str, Any]) -> None:
    for key in configuration:
        if any(word in key.lower() for word in SECRET_WORDS):
            raise SecretInConfiguration(key)


def _json_multipliers(multipliers: dict[str, Decimal]) -> dict[str, str]:
    # JSONB holds them as strings: pricing reads Decimal(str(value)), so no float ever rounds a price.
    return {key: str(value.normalize()) for key, value in multipliers.items()}


def _auditable(values: dict[str, Any]) -> dict[str, Any]:
    return {key: str(value) if isinstance(value, Decimal) else value for key, value in values.items()}
