"""Quotes: what a generation will cost, in AUD, before it runs — and, for models priced per token, the
most it can cost (the budget hold) and what the provider's bill says it did cost.

Rules for a model priced per image (``pricing_unit = 'image'``): the per-image price is the model's base
price * the size multiplier * the quality multiplier (missing entries are 1); for a model priced in another
currency that price is converted at the newest configured rate effective on the quote date. The per-image
AUD price is rounded once, to ledger precision (4 dp, half-even), and the quote is that price * the number
of images, so what a user sees per image is exactly what the ledger charges.

Rules for a model priced per token (``pricing_unit = 'token'``, prices per million tokens in the model's
currency), where the quote is the most the request can cost:

* output: the documented output image tokens of one image at the size and quality (``output_tokens``,
  from the model's family: ``providers.families``, where ``standard``/``hd`` read as ``medium``/``high``)
  * the number of images * the output image price;
* input: an upper bound of the prompt's text tokens (``input_text_bound``: the UTF-8 bytes of the prompt
  and of the negative prompt — a token is never shorter than one byte — plus ``FRAMING_TOKENS`` for what
  the provider wraps around them) * the input text price. A generation sends no input image, so input
  image tokens are bounded by 0;
* the sum is converted at the same rate rule and rounded once, UP, to ledger precision
  (``core.money.hold_at_ledger_precision``): a hold never falls short of the charge it stands for. The
  per-image price shown is that maximum's share of one image.

Every price comes from the model's price version in effect at the quote's instant (``pricing.versions``:
admission prices at its own time, the worker re-prices at the generation's admission instant); the quote
names that version (``price_version_id``), and the charge keeps it.

A token-priced charge (``charge_for_usage``) is the response's metered usage at the same prices and the
rate the quote used, rounded once (half-even), and never more than the hold.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from donatello.core.clock import utcnow
from donatello.core.money import hold_at_ledger_precision, to_ledger_precision
from donatello.models import ModelPrice, ModelProvider
from donatello.pricing import repository
from donatello.pricing.errors import NoExchangeRate, NoTokenAllowance, UnknownModel
from donatello.pricing.versions import in_effect

AUD = "AUD"
PER_IMAGE, PER_TOKEN = "image", "token"
PER_MILLION = Decimal(1_000_000)
#: Text tokens a provider may add around a prompt (role and formatting tokens), on top of its bytes.
FRAMING_TOKENS = 32
#: The bound when the prompt is not known yet: the longest prompt and negative prompt the API accepts,
#: at four UTF-8 bytes per character.
UNKNOWN_PROMPT_BOUND = (4000 + 2000) * 4 + FRAMING_TOKENS


@dataclass(frozen=True)
class TokenPrices:
    """A token-priced model's prices per million tokens, in its pricing currency."""

    input_text: Decimal
    input_image: Decimal
    output_image: Decimal

    def cost(self, input_text_tokens: int, input_image_tokens: int, output_image_tokens: int) -> Decimal:
        """What these tokens cost in the pricing currency, exactly (no rounding)."""
        return (
            input_text_tokens * self.input_text
            + input_image_tokens * self.input_image
            + output_image_tokens * self.output_image
        ) / PER_MILLION


@dataclass(frozen=True)
class Quote:
    provider: str
    model: str
    size: str
    quality: str
    images: int
    unit_price_aud: Decimal
    total_aud: Decimal
    pricing_currency: str
    unit_price_in_pricing_currency: Decimal
    fx_rate: Decimal
    fx_rate_source: str | None
    fx_rate_date: date | None
    pricing_unit: str = PER_IMAGE
    token_prices: TokenPrices | None = None  # set when priced per token
    output_tokens_per_image: int | None = None  # the family's documented output tokens (token-priced)
    input_text_tokens_bound: int | None = None  # the prompt's bound the quote used (token-priced)
    price_version_id: str | None = None  # the model_prices version that priced it

    @property
    def is_maximum(self) -> bool:
        """The total is the most the request can cost (the bill decides), not its price."""
        return self.pricing_unit == PER_TOKEN


def input_text_bound(prompt: str, negative_prompt: str | None = None) -> int:
    """An upper bound of the text tokens a prompt is billed as (see the module's rules)."""
    return bound_of_bytes(len(prompt.encode()) + len((negative_prompt or "").encode()))


def bound_of_bytes(prompt_bytes: int) -> int:
    """``input_text_bound`` of prompts whose UTF-8 bytes (prompt and negative prompt) add up to this."""
    return max(0, prompt_bytes) + FRAMING_TOKENS


async def quote(
    session: AsyncSession,
    provider: str,
    model: str,
    size: str,
    quality: str,
    images: int,
    *,
    on: date | datetime | None = None,
    input_bound: int | None = None,
    output_tokens: int | None = None,
) -> Quote:
    """The request's quote. For a token-priced model: ``output_tokens`` are the documented output tokens
    of one image at this size and quality (refused without them: nothing would bound the cost), and
    ``input_bound`` is ``input_text_bound`` of the prompt (without one, the longest prompt the API takes).
    ``on`` is the admission instant (the price version in effect then, the rates of its UTC day), or a
    day (its rates, and the price in effect now); by default now."""
    model_row = await repository.active_model(session, provider, model)
    if model_row is None:
        raise UnknownModel(provider, model)
    at = on if isinstance(on, datetime) else utcnow()
    rates_on = at.astimezone(UTC).date() if isinstance(on, datetime) else on or at.date()
    version = in_effect(await repository.price_versions(session, model_row.id), at)
    offered: ModelPrice | ModelProvider = version or model_row  # every model has a version (a trigger)
    if offered.pricing_currency == AUD:
        rate, source, rate_date = Decimal(1), None, None
    else:
        rate_row = await repository.latest_rate(session, offered.pricing_currency, rates_on)
        if rate_row is None:
            raise NoExchangeRate(offered.pricing_currency)
        rate, source, rate_date = rate_row.rate, rate_row.source, rate_row.effective_date
    priced = Quote(
        provider=provider,
        model=model,
        size=size,
        quality=quality,
        images=images,
        unit_price_aud=Decimal(0),
        total_aud=Decimal(0),
        pricing_currency=offered.pricing_currency,
        unit_price_in_pricing_currency=Decimal(0),
        fx_rate=rate,
        fx_rate_source=source,
        fx_rate_date=rate_date,
        price_version_id=str(version.id) if version is not None else None,
    )
    if offered.pricing_unit == PER_TOKEN:
        if output_tokens is None:
            raise NoTokenAllowance(provider, model, size, quality)
        return _token_quote(priced, _token_prices(offered), output_tokens, _bound(input_bound))
    factor = _multiplier(model_row.size_multipliers, size) * _multiplier(
        model_row.quality_multipliers, quality
    )
    foreign_unit = _image_price(offered) * factor
    unit_aud = to_ledger_precision(foreign_unit * rate)
    return replace(
        priced,
        unit_price_aud=unit_aud,
        total_aud=unit_aud * images,
        unit_price_in_pricing_currency=to_ledger_precision(foreign_unit),
    )


class Metered(Protocol):
    """A provider's metered usage of one call (``providers.TokenUsage`` is one)."""

    @property
    def input_text_tokens(self) -> int: ...
    @property
    def input_image_tokens(self) -> int: ...
    @property
    def output_image_tokens(self) -> int: ...
    @property
    def raw(self) -> dict[str, object]: ...


@dataclass(frozen=True)
class UsageCharge:
    """What a token-priced generation's bill comes to: ``amount_aud`` is what the ledger charges."""

    amount_aud: Decimal
    billed_aud: Decimal  # the usage at the model's prices, before the cap
    in_pricing_currency: Decimal  # what is charged, in the provider's currency
    capped: bool  # the usage came to more than the hold: the hold is charged


def charge_for_usage(
    quote: Quote, hold_aud: Decimal, input_text: int, input_image: int, output_image: int
) -> UsageCharge:
    """The usage at the quote's token prices and rate, rounded once; never more than the hold."""
    assert quote.token_prices is not None, "only a token-priced quote is charged from usage"
    foreign = quote.token_prices.cost(input_text, input_image, output_image)
    billed = to_ledger_precision(foreign * quote.fx_rate)
    if billed > hold_aud:
        return UsageCharge(hold_aud, billed, to_ledger_precision(hold_aud / quote.fx_rate), capped=True)
    return UsageCharge(billed, billed, to_ledger_precision(foreign), capped=False)


def _token_quote(priced: Quote, prices: TokenPrices, tokens_per_image: int, bound: int) -> Quote:
    foreign_total = prices.cost(bound, 0, tokens_per_image * priced.images)
    total_aud = hold_at_ledger_precision(foreign_total * priced.fx_rate)
    return replace(
        priced,
        # the maximum's share of one image: fallbacks are compared by it, never by a rounded figure
        unit_price_aud=total_aud / priced.images,
        total_aud=total_aud,
        unit_price_in_pricing_currency=to_ledger_precision(foreign_total / priced.images),
        pricing_unit=PER_TOKEN,
        token_prices=prices,
        output_tokens_per_image=tokens_per_image,
        input_text_tokens_bound=bound,
    )


def _token_prices(offered: ModelPrice | ModelProvider) -> TokenPrices:
    text, image, output = (
        offered.token_price_input_text,
        offered.token_price_input_image,
        offered.token_price_output_image,
    )
    # guaranteed by ck_model_providers_token_prices_given / ck_model_prices_prices_given
    assert text is not None and image is not None and output is not None
    return TokenPrices(text, image, output)


def _bound(input_bound: int | None) -> int:
    return UNKNOWN_PROMPT_BOUND if input_bound is None else max(0, input_bound)


def _image_price(offered: ModelPrice | ModelProvider) -> Decimal:
    price = offered.cost_per_image_aud if offered.pricing_currency == AUD else offered.cost_per_image
    # guaranteed by ck_model_providers_*_price_given; a version is checked by providers.prices
    assert price is not None
    return price


def _multiplier(table: dict[str, object], key: str) -> Decimal:
    value = table.get(key, 1)
    return Decimal(str(value))
