"""Refusals a spender or an administrator can act on; each names the figures behind it."""

from __future__ import annotations

import uuid
from decimal import ROUND_CEILING, Decimal
from typing import TYPE_CHECKING, ClassVar

from donatello.core.errors import Conflict, DomainError, Forbidden, NotFound, ValidationFailed
from donatello.core.money import written

if TYPE_CHECKING:
    from donatello.models import Department


def to_ask_for(shortfall: Decimal) -> str:
    """The smallest whole-cent amount that would have admitted the request (budgets are whole cents)."""
    return str(shortfall.quantize(Decimal("0.01"), rounding=ROUND_CEILING))


def request_more_budget(department_id: uuid.UUID) -> str:
    """Where a refused client asks for more (``POST`` with the refusal's ``refusal_id``)."""
    return f"/v1/departments/{department_id}/budget/requests"


class BudgetRefusal(DomainError):
    """A refusal by the budget's decision. The refusal itself is audited, so its transaction commits.
    ``detours``: what the decision found on its way (``holds_repository.Detour`` values), for the logs and
    the tests that hold the gate to the decision — not part of the problem a client reads."""

    status = 402
    keeps_transaction: ClassVar[bool] = True
    detours: frozenset[str] = frozenset()


class BudgetExceeded(BudgetRefusal):
    """A hard budget would be overspent."""

    type = "budget-exceeded"
    title = "The department's budget does not cover this request"

    def __init__(
        self,
        department: Department,
        budget: Decimal,
        spent: Decimal,
        reserved: Decimal,
        quote: Decimal,
        refusal_id: uuid.UUID,
    ) -> None:
        available = budget - spent - reserved
        super().__init__(
            f"{department.code} has {written(available, exact=True)} available of {written(budget)} this "
            f"period; this request needs {written(quote, exact=True)}",
            department=department.code,
            budget_aud=str(budget),
            spent_aud=str(spent),
            reserved_aud=str(reserved),
            available_aud=str(available),
            quote_aud=str(quote),
            shortfall_aud=to_ask_for(quote - available),
            refusal_id=str(refusal_id),
            request_more_budget=request_more_budget(department.id),
        )


class UserCapExceeded(BudgetRefusal):
    type = "user-cap-exceeded"
    title = "Your monthly spending cap does not cover this request"

    def __init__(
        self, department: Department, cap: Decimal, used: Decimal, quote: Decimal, refusal_id: uuid.UUID
    ) -> None:
        super().__init__(
            f"Your cap in {department.code} is {written(cap)} this period and {written(used, exact=True)} is "
            f"used or held; this request needs {written(quote, exact=True)}",
            department=department.code,
            cap_aud=str(cap),
            used_aud=str(used),
            quote_aud=str(quote),
            shortfall_aud=to_ask_for(used + quote - cap),
            refusal_id=str(refusal_id),
            request_more_budget=request_more_budget(department.id),
        )


class NoDepartment(Forbidden):
    type = "no-department"
    title = "You are not assigned to a department"

    def __init__(self) -> None:
        super().__init__("Spending is charged to a department; ask an administrator to assign you to one")


class BudgetNotConfigured(Conflict):
    type = "budget-not-configured"
    title = "The department has no budget"

    def __init__(self, department_id: object) -> None:
        super().__init__(f"Department {department_id} has no budget; an org admin must set one first")


class NotYourDepartment(Forbidden):
    type = "not-your-department"
    title = "Department managers see their own department only"


class BudgetFieldNotAllowed(Forbidden):
    type = "budget-field-not-allowed"
    title = "Only an org admin may change this"

    def __init__(self, fields: list[str]) -> None:
        super().__init__(f"Only an org admin may change: {', '.join(fields)}", fields=fields)


class ReservationNotFound(NotFound):
    type = "reservation-not-found"
    title = "No reservation for this generation"


class InvalidAdjustment(ValidationFailed):
    type = "invalid-adjustment"
    title = "The refund or correction is not valid"


class IncreaseRequestOpen(Conflict):
    type = "budget-request-open"
    title = "A request for more budget is already open"

    def __init__(self, request_id: object, amount: Decimal) -> None:
        super().__init__(
            f"Your request for {written(amount)} is still open; wait for its decision before asking again",
            open_request_id=str(request_id),
            amount_aud=str(amount),
        )


class IncreaseRequestDecided(Conflict):
    type = "budget-request-decided"
    title = "The request has already been decided"

    def __init__(self, request_id: object, status: str) -> None:
        super().__init__(f"Request {request_id} is {status}; it cannot be decided again", status=status)


class RefusalNotYours(Forbidden):
    type = "refusal-required"
    title = "Quote a refusal of yours, or ask your department manager"

    def __init__(self) -> None:
        super().__init__(
            "Only a department's manager asks without a refusal; give the refusal_id from a budget refusal "
            "of yours in this department and period"
        )


class ApprovalAboveAsked(ValidationFailed):
    type = "approval-above-asked"
    title = "An approval cannot exceed the amount asked"
