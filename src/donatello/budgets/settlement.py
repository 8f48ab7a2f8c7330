"""Settling a generation's cost into the ledger, and amending it afterwards.

The ledger only grows: a charge is written once per generation; refunds and corrections are new events
that point at the charge they amend. Spend on the department's budget moves with every event, in the
period the event is written.

A model priced per image is charged its quote. A model priced per token is charged from the provider's
bill: the response's metered usage at the model's token prices and the rate its hold used, never more
than the hold (the charge then says it was capped); the rest of the hold is released. A token-priced
answer without usage is charged the hold — never nothing — and raises an alert (a metric, the audit event
``generation.usage_missing`` and a warning in the log).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from donatello import audit
from donatello.budgets import repository, rollups
from donatello.budgets.account import open_for_update
from donatello.budgets.alerts import raise_crossed
from donatello.budgets.errors import InvalidAdjustment, ReservationNotFound
from donatello.core import metrics
from donatello.core.clock import utcnow
from donatello.core.money import to_ledger_precision, written
from donatello.models import BudgetReservation, CostEvent
from donatello.pricing.service import Metered, Quote, charge_for_usage
from donatello.tenancy import Principal, scoped_get

log = logging.getLogger(__name__)


async def settle(
    session: AsyncSession,
    generation_id: uuid.UUID,
    quote: Quote,
    *,
    actual_aud: Decimal | None = None,
    usage: Metered | None = None,
    at: datetime | None = None,
    processed_in: str | None = None,
) -> CostEvent:
    """Charge a finished generation exactly once: one cost event (estimated = the hold, actual = what it
    cost: the quote, or for a token-priced model its ``usage`` capped at the hold), the hold released,
    the spend added. Calling it again returns the same event and changes nothing. A hold that lapsed
    before the provider answered is still charged — the work was done."""
    at = at or utcnow()
    hold = await repository.reservation_for(session, generation_id, lock=False)
    if hold is None:
        raise ReservationNotFound(f"No reservation for generation {generation_id}")
    account = await open_for_update(session, hold.department_id, at)
    hold = await repository.reservation_for(session, generation_id, lock=True)
    assert hold is not None
    if hold.status == "settled":
        existing = await repository.charge_for(session, generation_id)
        assert existing is not None, "a settled reservation always has its charge"
        return existing

    bill = _bill(quote, hold, actual_aud, usage)
    actual = bill.amount_aud
    if hold.status == "held":
        account.budget.reserved_aud -= hold.amount_aud
    hold.status, hold.closed_at = "settled", at
    code, name, email, cost_center = await repository.attribution(session, hold.department_id, hold.user_id)
    event = await repository.add_cost_event(
        session,
        CostEvent(
            organization_id=hold.organization_id,
            generation_id=generation_id,
            department_id=hold.department_id,
            user_id=hold.user_id,
            kind="charge",
            model_provider=quote.provider,
            model_name=quote.model,
            size=quote.size,
            quality=quote.quality,
            image_count=quote.images,
            estimated_cost_aud=hold.amount_aud,
            actual_cost_aud=actual,
            pricing_currency=quote.pricing_currency,
            pricing_amount=bill.in_pricing_currency,
            fx_rate=quote.fx_rate,
            fx_rate_source=quote.fx_rate_source,
            fx_rate_date=quote.fx_rate_date,
            department_code=code,
            department_name=name,
            user_email=email,
            cost_center=cost_center,
            created_at=at,
            usage=bill.usage,
            processed_in=processed_in,
            details={
                "billing_period": account.period.start.isoformat(),
                "over_budget": hold.is_over_budget,
                # the list price exports show per image (token-priced: the quoted maximum's share)
                "unit_price_aud": str(to_ledger_precision(quote.unit_price_aud)),
                # the model_prices version that priced it (NULL in quotes kept before versions existed)
                "price_version_id": quote.price_version_id,
                **bill.details,
            },
        ),
    )
    account.budget.current_spend_aud += actual
    await rollups.add(session, event, account.period.timezone)  # same transaction as the event
    await session.flush()
    await audit.record_event(
        session,
        "cost.charged",
        action="generation_charged",
        resource=("generation", generation_id),
        organization_id=hold.organization_id,
        actor=audit.Actor(hold.user_id, email),
        details={
            "cost_event_id": event.id,
            "department_id": hold.department_id,
            "estimated_aud": hold.amount_aud,
            "actual_aud": actual,
            "model": f"{quote.provider}/{quote.model}",
            **bill.details,
        },
    )
    if quote.is_maximum and usage is None:
        await _usage_missing(session, quote, hold, event)
    await raise_crossed(session, account.budget, at=at)
    return event


@dataclass(frozen=True)
class _Bill:
    amount_aud: Decimal
    in_pricing_currency: Decimal
    usage: dict[str, Any] | None  # kept on the cost event (token-priced charges)
    details: dict[str, Any]  # what the charge says about how it was worked out


def _bill(quote: Quote, hold: BudgetReservation, actual_aud: Decimal | None, usage: Metered | None) -> _Bill:
    if not quote.is_maximum:
        amount = to_ledger_precision(quote.total_aud if actual_aud is None else actual_aud)
        return _Bill(amount, quote.unit_price_in_pricing_currency * quote.images, None, {})
    if usage is None:
        held = hold.amount_aud
        missing = _token_details(quote, usage_missing=True)
        return _Bill(held, to_ledger_precision(held / quote.fx_rate), None, missing)
    charge = charge_for_usage(
        quote, hold.amount_aud, usage.input_text_tokens, usage.input_image_tokens, usage.output_image_tokens
    )
    return _Bill(
        charge.amount_aud,
        charge.in_pricing_currency,
        usage_record(usage),
        _token_details(quote, capped=charge.capped, billed_aud=charge.billed_aud),
    )


def usage_record(usage: Metered) -> dict[str, Any]:
    """The usage as the ledger and the generation keep it (JSON)."""
    return {
        "input_text_tokens": usage.input_text_tokens,
        "input_image_tokens": usage.input_image_tokens,
        "output_image_tokens": usage.output_image_tokens,
        "raw": usage.raw,
    }


def _token_details(
    quote: Quote, *, capped: bool = False, usage_missing: bool = False, billed_aud: Decimal | None = None
) -> dict[str, Any]:
    return {
        "pricing_unit": "token",
        # the list price exports show per image in the provider's currency: the quoted maximum's share
        "unit_price_in_pricing_currency": str(quote.unit_price_in_pricing_currency),
        "capped_at_hold": capped,  # the usage came to more than the hold: the hold was charged
        "usage_missing": usage_missing,  # the provider sent no usage: the hold was charged
        **({"billed_aud": str(billed_aud)} if billed_aud is not None else {}),
    }


async def _usage_missing(
    session: AsyncSession, quote: Quote, hold: BudgetReservation, event: CostEvent
) -> None:
    """Alert: the bill of a token-priced call cannot be checked, and the most it could cost was charged."""
    metrics.usage_missing(quote.provider, quote.model)
    log.warning(
        "a token-priced model answered without usage; charged the hold",
        extra={"generation_id": str(hold.generation_id), "model": f"{quote.provider}/{quote.model}"},
    )
    await audit.record_event(
        session,
        "generation.usage_missing",
        action="usage_missing",
        resource=("generation", hold.generation_id),
        organization_id=hold.organization_id,
        actor=audit.Actor(hold.user_id),
        status="failure",
        error="the provider's response carried no usage; the hold was charged",
        details={
            "cost_event_id": event.id,
            "model": f"{quote.provider}/{quote.model}",
            "charged_aud": event.actual_cost_aud,
        },
    )


async def amend(
    session: AsyncSession,
    principal: Principal,
    charge_id: uuid.UUID,
    amount_aud: Decimal,
    kind: str,
    reason: str,
    *,
    at: datetime | None = None,
) -> CostEvent:
    """Refund (a positive ``amount_aud`` given back) or correct (signed) an earlier charge with a new
    event. A charge can never be amended below zero in total."""
    at = at or utcnow()
    charge = await scoped_get(session, principal, CostEvent, charge_id)
    if charge.kind != "charge":
        raise InvalidAdjustment("Only a charge can be refunded or corrected; amend the original charge")
    signed = to_ledger_precision(-amount_aud if kind == "refund" else amount_aud)
    if signed == 0 or (kind == "refund" and signed > 0):
        raise InvalidAdjustment("A refund is a positive amount given back; a correction is a non-zero amount")
    account = await open_for_update(session, charge.department_id, at)
    remaining = charge.actual_cost_aud + await repository.amendments_total(session, charge.id)
    if remaining + signed < 0:
        raise InvalidAdjustment(
            f"The charge has {written(remaining, exact=True)} left to refund; "
            f"{written(abs(signed), exact=True)} is more than that",
            remaining_aud=str(remaining),
        )
    event = await repository.add_cost_event(
        session,
        CostEvent(
            organization_id=charge.organization_id,
            generation_id=charge.generation_id,
            department_id=charge.department_id,
            user_id=charge.user_id,
            kind=kind,
            corrects_event_id=charge.id,
            model_provider=charge.model_provider,
            model_name=charge.model_name,
            size=charge.size,
            quality=charge.quality,
            image_count=0,
            estimated_cost_aud=Decimal(0),
            actual_cost_aud=signed,
            pricing_currency=charge.pricing_currency,
            fx_rate=charge.fx_rate,
            fx_rate_source=charge.fx_rate_source,
            fx_rate_date=charge.fx_rate_date,
            processed_in=charge.processed_in,
            department_code=charge.department_code,
            department_name=charge.department_name,
            user_email=charge.user_email,
            cost_center=charge.cost_center,
            created_at=at,
            details={"reason": reason, "billing_period": account.period.start.isoformat()},
        ),
    )
    account.budget.current_spend_aud += signed
    await rollups.add(session, event, account.period.timezone)  # same transaction as the event
    await session.flush()
    await audit.record_event(
        session,
        f"cost.{kind}",
        action=f"cost_{kind}",
        resource=("cost_event", event.id),
        organization_id=charge.organization_id,
        actor=principal,
        details={"amends": charge.id, "amount_aud": signed, "reason": reason},
    )
    if signed > 0:
        await raise_crossed(session, account.budget, at=at)
    return event
