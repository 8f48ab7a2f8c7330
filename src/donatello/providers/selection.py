"""Choosing the model for a generation, and the fallbacks that may stand in for it.

Rules:

* an explicit ``provider/model`` (or a model name only one provider offers) is used as asked, if it is
  active, supports the size and quality, is not paused and fits ``max_unit_price_aud``; what a model
  supports is its family's sizes and qualities (``providers.families``, with the words the family maps,
  such as ``hd`` for gpt-image's ``high``), narrowed by its configuration's ``sizes``/``qualities``;
* ``auto`` takes, in order: the user's ``default_model`` preference, the department's
  ``settings.default_model``, then the department's cost/quality preference — ``quality_preference``
  (``quality``/``high`` or ``cost``/``low``) or ``cost_weight`` (0 = best quality, 1 = cheapest;
  quality rank is the platform ``priority``, lower is better) — and with no preference the platform
  priority order;
* fallbacks are the other eligible models whose per-image price is no higher than the choice's (the
  budget was reserved at the choice's price), in priority order.

A department's ``require_processing_in``, a model's retirement date, an open circuit and a breached
SLA narrow and order the choice too (``providers.conditions``).

Models that cannot run (no adapter, no credential where the provider needs one, or made unavailable
with a reason — see :func:`adapters.cannot_run`, which the catalogue's ``available`` uses too), with no
configured exchange rate, or paused by the availability cache are not eligible; asking for one by name is
refused.
The reason string goes to ``generation_metadata.selected_model_reason``.

Given ``credentials`` (the worker, just before calling), an admitted model since retired, excluded by the
department's rule or with its circuit open is not called: its fallbacks are. Each candidate's credential is
obtained first: a candidate whose credential cannot be had is dropped (``on_unobtainable`` hears of it, so
the model is made unavailable) and never called; when none is left, ``ModelCannotRun`` says why the first
could not run.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from donatello.models import ModelProvider, ProviderConfig
from donatello.pricing.errors import NoExchangeRate, NoTokenAllowance
from donatello.pricing.service import Quote, quote
from donatello.providers import offered, repository
from donatello.providers.adapters import PROVIDER_NAMES, cannot_run
from donatello.providers.availability import Availability, availability_for
from donatello.providers.conditions import Conditions, Refusal, conditions
from donatello.providers.contract import ProviderCredential, ProviderTarget
from donatello.providers.errors import (
    AmbiguousModel,
    CredentialUnavailable,
    ModelCannotRun,
    ModelUnavailable,
    NoModelAvailable,
    UnknownModelRequested,
    UnsupportedOption,
)
from donatello.providers.families import Family, family_of

AUTO = "auto"
DEFAULT_MAX_RETRIES = 3
QUALITY_WORDS = {"quality", "high", "hd", "best"}
COST_WORDS = {"cost", "low", "economy", "cheap", "cheapest"}


class CredentialSource(Protocol):
    """Turns a model's configured credential (``provider_configs.credential``) into what calls send;
    raises ``CredentialUnavailable`` when it cannot be obtained (``credentials.ModelCredentials``)."""

    async def resolve(self, configured: dict[str, Any]) -> ProviderCredential: ...


#: told (provider, model, why) when a candidate is dropped because its credential cannot be obtained
OnUnobtainable = Callable[[str, str, CredentialUnavailable], None]


@dataclass(frozen=True)
class Candidate:
    provider: str
    model: str
    target: ProviderTarget
    quote: Quote
    reason: str
    processing_country: str | None = None  # where the model's deployment runs inference

    @property
    def name(self) -> str:
        return f"{self.provider}/{self.model}"


Offer = tuple[ModelProvider, ProviderConfig | None]


async def candidates(
    session: AsyncSession,
    principal_department_id: uuid.UUID | None,
    requested: str,
    size: str,
    quality: str,
    n: int,
    *,
    max_unit_price_aud: Decimal | None = None,
    user_id: uuid.UUID | None = None,
    availability: Availability | None = None,
    input_bound: int | None = None,
    on: date | None = None,
    credentials: CredentialSource | None = None,
    on_unobtainable: OnUnobtainable | None = None,
) -> list[Candidate]:
    """The model to call first, then its fallbacks (never pricier per image than the first).
    ``input_bound`` is the prompt's ``pricing.input_text_bound`` (token-priced models are held for it);
    ``on`` the date whose exchange rates price the request (today by default)."""
    availability = availability or availability_for(None)
    pricing = _Pricing(input_bound, on)
    rules = await conditions(session, principal_department_id)
    offers = [
        offer for offer in await repository.offered(session) if offer[0].provider_name in PROVIDER_NAMES
    ]
    priced: list[tuple[Offer, Quote]] = []
    refused: Refusal | None = None  # why the named model may not be had now
    if requested != AUTO:
        chosen = _named(offers, requested)
        if (why := cannot_run(*chosen)) is not None:
            raise ModelCannotRun(_name(chosen[0]), why)
        if (refused := rules.refusal(*chosen)) is not None and credentials is None:
            raise refused  # the worker (credentials given) goes to the fallbacks instead
        _check_supports(chosen, size, quality)
        if (
            paused := await availability.paused_for(chosen[0].provider_name, chosen[0].model_name)
        ) is not None:
            raise ModelUnavailable(_name(chosen[0]), paused)
        chosen_quote = await _quote(session, chosen, size, quality, n, pricing)
        if max_unit_price_aud is not None and chosen_quote.unit_price_aud > max_unit_price_aud:
            raise NoModelAvailable(size, quality)
        first, reason = (chosen, chosen_quote), "requested"
        priced = await _eligible(
            session, offers, size, quality, n, rules, availability, max_unit_price_aud, pricing
        )
    else:
        priced = await _eligible(
            session, offers, size, quality, n, rules, availability, max_unit_price_aud, pricing
        )
        priced = await rules.ordered(session, priced)
        if not priced:
            raise NoModelAvailable(size, quality)
        first, reason = await _auto(session, priced, principal_department_id, user_id)

    limit = first[1].unit_price_aud
    fallbacks = [
        (offer, offered_quote)
        for offer, offered_quote in priced
        if offer[0].id != first[0][0].id and offered_quote.unit_price_aud <= limit
    ]
    ready: list[Candidate] = []
    refusals: list[tuple[str, CredentialUnavailable]] = []
    tried = [(*first, reason), *[(o, q, "fallback") for o, q in fallbacks]][1 if refused else 0 :]
    for offer, offered_quote, why in tried:
        try:
            ready.append(await _candidate(offer, offered_quote, why, credentials))
        except CredentialUnavailable as error:
            refusals.append((_name(offer[0]), error))
            if on_unobtainable is not None:
                on_unobtainable(offer[0].provider_name, offer[0].model_name, error)
    if not ready and refused is not None and not refusals:
        raise ModelCannotRun(_name(first[0][0]), refused.reason)
    if not ready:
        raise ModelCannotRun(refusals[0][0], refusals[0][1].reason)
    return ready


async def priced_offers(
    session: AsyncSession,
    size: str,
    quality: str,
    n: int,
    availability: Availability | None = None,
    input_bound: int | None = None,
) -> list[tuple[str, Quote]]:
    """Every model that could run this request right now (the rules of ``candidates``), with its quote,
    in platform priority order: what a person may choose from."""
    offers = [
        offer for offer in await repository.offered(session) if offer[0].provider_name in PROVIDER_NAMES
    ]
    available, rules = availability or availability_for(None), await conditions(session, None)
    priced = await _eligible(
        session, offers, size, quality, n, rules, available, None, _Pricing(input_bound, None)
    )
    return [(_name(offer[0]), offered_quote) for offer, offered_quote in priced]


async def offered_options(
    session: AsyncSession, availability: Availability | None = None
) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    """``provider/model`` -> (sizes, qualities) of every model that could run now (active, runnable, not
    paused), whatever the size and quality asked: what a form may offer once a model is chosen."""
    availability, rules = availability or availability_for(None), await conditions(session, None)
    options: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
    for offer in await repository.offered(session):
        model = offer[0]
        if cannot_run(*offer) is not None or not rules.allows(model):
            continue
        if await availability.paused_for(model.provider_name, model.model_name) is not None:
            continue
        options[_name(model)] = (_sizes(offer), _qualities(offer))
    return options


async def _eligible(
    session: AsyncSession,
    offers: list[Offer],
    size: str,
    quality: str,
    n: int,
    rules: Conditions,
    availability: Availability,
    max_unit_price_aud: Decimal | None,
    pricing: _Pricing,
) -> list[tuple[Offer, Quote]]:
    """Offers that support the request, may serve it (``rules``), are not paused, can be priced and fit
    the price limit."""
    eligible: list[tuple[Offer, Quote]] = []
    for offer in offers:
        model = offer[0]
        if cannot_run(*offer) is not None or not rules.allows(model):
            continue
        if not _offers(offer, size, quality):
            continue
        if await availability.paused_for(model.provider_name, model.model_name) is not None:
            continue
        try:
            offered_quote = await _quote(session, offer, size, quality, n, pricing)
        except (NoExchangeRate, NoTokenAllowance):
            continue
        if max_unit_price_aud is not None and offered_quote.unit_price_aud > max_unit_price_aud:
            continue
        eligible.append((offer, offered_quote))
    return eligible


@dataclass(frozen=True)
class _Pricing:
    """What prices a request besides its shape: the prompt's input bound and the rates' date."""

    input_bound: int | None
    on: date | None


async def _quote(
    session: AsyncSession, offer: Offer, size: str, quality: str, n: int, pricing: _Pricing
) -> Quote:
    """The offer's quote; a token-priced model is held at its family's documented output tokens."""
    model, config = offer
    family = family_of(model.provider_name, config.configuration if config is not None else {})
    tokens = family.output_tokens.get((size, family.quality(quality))) if family is not None else None
    return await quote(
        session,
        model.provider_name,
        model.model_name,
        size,
        quality,
        n,
        on=pricing.on,
        input_bound=pricing.input_bound,
        output_tokens=tokens,
    )


async def _auto(
    session: AsyncSession,
    priced: list[tuple[Offer, Quote]],
    department_id: uuid.UUID | None,
    user_id: uuid.UUID | None,
) -> tuple[tuple[Offer, Quote], str]:
    settings = await repository.department_settings(session, department_id) if department_id else {}
    user_default = await repository.user_preference(session, user_id, "default_model") if user_id else None
    for source, wanted in (
        ("user-default", user_default),
        ("department-default", settings.get("default_model")),
    ):
        if isinstance(wanted, str) and wanted and wanted != AUTO:
            match = _match(priced, wanted)
            if match is not None:
                return match, f"{source}: {_name(match[0][0])}"

    weight = _cost_weight(settings)
    if weight is None:
        return priced[0], "platform-priority"
    most = max(q.unit_price_aud for _, q in priced) or Decimal(1)
    last_rank = max(1, len(priced) - 1)  # priced is in priority order: index 0 is the best quality

    def score(item: tuple[int, tuple[Offer, Quote]]) -> tuple[Decimal, int]:
        rank, (_, offered_quote) = item
        cost = offered_quote.unit_price_aud / most
        return weight * cost + (1 - weight) * Decimal(rank) / last_rank, rank

    best = min(enumerate(priced), key=score)[1]
    if weight == 1:
        reason = "cost-optimized"
    elif weight == 0:
        reason = "quality-focused"
    else:
        reason = f"cost-weighted (cost_weight={weight.normalize()})"
    return best, reason


def _cost_weight(settings: dict[str, object]) -> Decimal | None:
    preference = settings.get("quality_preference")
    if isinstance(preference, str):
        if preference.lower() in QUALITY_WORDS:
            return Decimal(0)
        if preference.lower() in COST_WORDS:
            return Decimal(1)
    weight = settings.get("cost_weight")
    if isinstance(weight, int | float | str) and not isinstance(weight, bool):
        try:
            value = Decimal(str(weight))
        except ArithmeticError:
            return None
        if value.is_finite():
            return min(Decimal(1), max(Decimal(0), value))
    return None


def _named(offers: list[Offer], requested: str) -> Offer:
    if "/" in requested:
        provider, _, model = requested.partition("/")
        matches = [o for o in offers if (o[0].provider_name, o[0].model_name) == (provider, model)]
    else:
        matches = [o for o in offers if o[0].model_name == requested]
    if not matches:
        raise UnknownModelRequested(requested)
    if len(matches) > 1:
        raise AmbiguousModel(requested, sorted(_name(o[0]) for o in matches))
    return matches[0]


def _match(priced: list[tuple[Offer, Quote]], wanted: str) -> tuple[Offer, Quote] | None:
    for item in priced:
        model = item[0][0]
        if wanted in (_name(model), model.model_name):
            return item
    return None


def _check_supports(offer: Offer, size: str, quality: str) -> None:
    """The named model offers this size and quality (its family's, narrowed by its configuration; the
    words its family maps, such as ``hd`` on gpt-image, count as offered), or 422 naming what it offers."""
    if size not in (sizes := _sizes(offer)):
        raise UnsupportedOption(_name(offer[0]), "size", size, list(sizes))
    if quality not in (qualities := _qualities(offer)):
        raise UnsupportedOption(_name(offer[0]), "quality", quality, list(qualities))


def _offers(offer: Offer, size: str, quality: str) -> bool:
    return size in _sizes(offer) and quality in _qualities(offer)


def _family(offer: Offer) -> Family | None:
    return offered.family(*offer)


def _sizes(offer: Offer) -> tuple[str, ...]:
    return offered.sizes(*offer)


def _qualities(offer: Offer) -> tuple[str, ...]:
    return offered.qualities(*offer)


async def _candidate(
    offer: Offer, offered_quote: Quote, reason: str, credentials: CredentialSource | None
) -> Candidate:
    model, config = offer
    configured = config.credential if config is not None else None
    credential = await credentials.resolve(configured) if configured and credentials else None
    target = ProviderTarget(
        provider=model.provider_name,
        model=model.model_name,
        endpoint=model.api_endpoint,
        timeout_seconds=float(model.timeout_seconds),
        max_retries=config.max_retries if config is not None else DEFAULT_MAX_RETRIES,
        configuration=dict(config.configuration) if config is not None else {},
        credential=credential,
        rate_limit_per_minute=config.rate_limit_per_minute if config is not None else None,
        token_limit_per_minute=config.token_limit_per_minute if config is not None else None,
    )
    return Candidate(
        model.provider_name, model.model_name, target, offered_quote, reason, model.processing_country
    )


def _name(model: ModelProvider) -> str:
    return f"{model.provider_name}/{model.model_name}"
