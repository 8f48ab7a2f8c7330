"""Prices with a history: a model's price is a series of versions, each in effect from its instant until
the next one's (``model_prices``; quotes pick the version by instant: ``pricing.versions``).

Rules:

* a super admin schedules a price for an instant that has not come yet (``POST /prices``), in the model's
  own unit and currency: ``cost_per_image_aud`` for a model priced per image in AUD, ``cost_per_image``
  for one priced per image in another currency, ``token_prices`` for one priced per token. Scheduling
  again for the same instant replaces that scheduled price (it has not taken effect); audited
  ``provider.price_scheduled``;
* a price that has taken effect is never changed: an instant in the past is refused (422), and a price
  change through ``PATCH`` is a new version effective now;
* while a price is scheduled, the model's unit and currency stay as they are (409): the scheduled price
  is in them.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from donatello import audit
from donatello.core.clock import utcnow
from donatello.core.errors import Conflict, ValidationFailed
from donatello.models import ModelPrice, ModelProvider
from donatello.models.providers import TOKEN_PRICE_COLUMNS
from donatello.pricing.versions import effective_to, in_effect
from donatello.providers import repository
from donatello.providers.price_schemas import PriceHistory, PriceSchedule, PriceVersionRead
from donatello.providers.schemas import TokenPricesRead
from donatello.tenancy import Principal

#: the columns a version copies from its model
PRICE_COLUMNS = (
    "pricing_unit",
    "pricing_currency",
    "cost_per_image_aud",
    "cost_per_image",
    *TOKEN_PRICE_COLUMNS,
)


class PriceScheduledAhead(Conflict):
    type = "price-scheduled-ahead"
    title = "A price is scheduled in this model's unit and currency"

    def __init__(self, provider_id: uuid.UUID, scheduled: list[str]) -> None:
        super().__init__(
            "Prices are scheduled from "
            + ", ".join(scheduled)
            + " in the model's current unit and currency; its unit or currency cannot change before they"
            " take effect",
            provider_id=str(provider_id),
            scheduled=scheduled,
        )


async def history(session: AsyncSession, model: ModelProvider) -> PriceHistory:
    """Every version of the model's price, oldest first, with the one in effect now marked."""
    versions = await repository.price_versions(session, model.id)
    current = in_effect(versions, utcnow())
    return PriceHistory(
        provider_id=model.id,
        items=[
            _version_read(version, effective_to(versions, index), current=version is current)
            for index, version in enumerate(versions)
        ],
    )


async def schedule(
    session: AsyncSession, principal: Principal, model: ModelProvider, body: PriceSchedule
) -> PriceVersionRead:
    """Schedule the model's price from a future instant (see the module's rules)."""
    if body.effective_from <= utcnow():
        raise ValidationFailed(
            "effective_from must be in the future: a price that has taken effect is never changed",
            field="effective_from",
        )
    values = {
        "provider_id": model.id,
        "effective_from": body.effective_from,
        "pricing_unit": model.pricing_unit,
        "pricing_currency": model.pricing_currency,
        **_prices_of(model, body),
        "scheduled_by": principal.user_id,
    }
    versions = await repository.price_versions(session, model.id)
    replaced = next((v for v in versions if v.effective_from == body.effective_from), None)
    version = await repository.put_price(session, values)
    await audit.record_event(
        session,
        "provider.price_scheduled",
        action="provider_price_scheduled",
        resource=("model_provider", model.id),
        organization_id=principal.organization_id,
        actor=principal,
        details={
            "provider": model.provider_name,
            "model": model.model_name,
            "price_version_id": version.id,
            "effective_from": version.effective_from.isoformat(),
            "price": _auditable(_price_of(version)),
            **({"replaces": _auditable(_price_of(replaced))} if replaced is not None else {}),
        },
    )
    versions = await repository.price_versions(session, model.id)
    index = next(i for i, v in enumerate(versions) if v.id == version.id)
    return _version_read(version, effective_to(versions, index), current=False)


async def price_now(session: AsyncSession, model: ModelProvider) -> dict[str, Any]:
    """The model's price columns as the version in effect now has them: a scheduled price that took
    effect is not written back to the model's row, so a price change is made to, and audited from, the
    price a quote uses."""
    current = (await repository.prices_in_effect(session, [model.id], utcnow())).get(model.id)
    source = current if current is not None else model
    values = {column: getattr(source, column) for column in PRICE_COLUMNS}
    if values["pricing_unit"] == "image" and values["cost_per_image_aud"] is None:
        # a price scheduled in another currency has no AUD figure (the day's rate converts it): the
        # row keeps its AUD equivalent, which a model priced per image must have
        values["cost_per_image_aud"] = model.cost_per_image_aud
    return values


async def refuse_unit_change_while_scheduled(session: AsyncSession, model: ModelProvider) -> None:
    """409 when a price is scheduled ahead: it is in the model's current unit and currency."""
    ahead = [v for v in await repository.price_versions(session, model.id) if v.effective_from > utcnow()]
    if ahead:
        raise PriceScheduledAhead(model.id, [v.effective_from.isoformat() for v in ahead])


async def set_by(session: AsyncSession, principal: Principal) -> None:
    """The price versions this transaction writes name ``principal`` (before a price change's flush)."""
    await repository.price_set_by(session, principal.user_id)


async def record_unwritten_change(session: AsyncSession, principal: Principal, model: ModelProvider) -> None:
    """The model's price as a version effective now, when its row did not change (a price set back to
    what the row still held after a scheduled price took effect): the database's trigger then wrote
    none."""
    values = {column: getattr(model, column) for column in PRICE_COLUMNS}
    await repository.put_price(
        session, {"provider_id": model.id, **values, "scheduled_by": principal.user_id}
    )


async def in_effect_now(session: AsyncSession, models: list[ModelProvider]) -> dict[uuid.UUID, ModelPrice]:
    """The version pricing each model now (what a reader of the catalogue is shown)."""
    if not models:
        return {}
    return await repository.prices_in_effect(session, [model.id for model in models], utcnow())


def _prices_of(model: ModelProvider, body: PriceSchedule) -> dict[str, Decimal | None]:
    """The version's price columns, from the one price given, which must be in the model's unit and
    currency (422 naming the field that is)."""
    none: dict[str, Decimal | None] = {column: None for column in PRICE_COLUMNS[2:]}
    if model.pricing_unit == "token":
        if body.token_prices is None:
            raise _wrong_price("token_prices", "the model is priced per token")
        prices = body.token_prices
        return none | dict(
            zip(
                TOKEN_PRICE_COLUMNS, (prices.input_text, prices.input_image, prices.output_image), strict=True
            )
        )
    if model.pricing_currency == "AUD":
        if body.cost_per_image_aud is None:
            raise _wrong_price("cost_per_image_aud", "the model is priced per image in AUD")
        return none | {"cost_per_image_aud": body.cost_per_image_aud}
    if body.cost_per_image is None:
        raise _wrong_price("cost_per_image", f"the model is priced per image in {model.pricing_currency}")
    return none | {"cost_per_image": body.cost_per_image}


def _wrong_price(field: str, why: str) -> ValidationFailed:
    return ValidationFailed(f"{field} is the price to give: {why}", field=field)


def _price_of(version: ModelPrice) -> dict[str, Any]:
    return {
        column: getattr(version, column) for column in PRICE_COLUMNS if getattr(version, column) is not None
    }


def _auditable(values: dict[str, Any]) -> dict[str, Any]:
    return {key: str(value) if isinstance(value, Decimal) else value for key, value in values.items()}


def _version_read(version: ModelPrice, ends: Any, *, current: bool) -> PriceVersionRead:
    text, image, output = (getattr(version, column) for column in TOKEN_PRICE_COLUMNS)
    tokens = (
        TokenPricesRead(input_text=text, input_image=image, output_image=output)
        if text is not None and image is not None and output is not None
        else None
    )
    return PriceVersionRead(
        id=version.id,
        effective_from=version.effective_from,
        effective_to=ends,
        current=current,
        pricing_unit=version.pricing_unit,
        pricing_currency=version.pricing_currency,
        cost_per_image_aud=version.cost_per_image_aud,
        cost_per_image=version.cost_per_image,
        token_prices=tokens,
        scheduled_by=version.scheduled_by,
        created_at=version.created_at,
    )
