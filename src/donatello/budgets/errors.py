"""Refusals a spender or an administrator can act on; each names the figures behind it."""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar

from donatello.core.errors import Conflict, DomainError, Forbidden, NotFound, ValidationFailed


class BudgetExceeded(DomainError):
    """A hard budget would be overspent. The refusal itself is audited, so its transaction commits."""

    status = 402
    type = "budget-exceeded"
    title = "The department's budget does not cover this request"
    keeps_transaction: ClassVar[bool] = True

    def __init__(
        self, department_code: str, budget: Decimal, spent: Decimal, reserved: Decimal, quote: Decimal
    ) -> None:
        available = budget - spent - reserved
        super().__init__(
            f"{department_code} has {available} AUD available of {budget} AUD this period; "
            f"this request needs {quote} AUD",
            department=department_code,
            budget_aud=str(budget),
            spent_aud=str(spent),
            reserved_aud=str(reserved),
            available_aud=str(available),
            quote_aud=str(quote),
        )


class UserCapExceeded(DomainError):
    status = 402
    type = "user-cap-exceeded"
    title = "Your monthly spending cap does not cover this request"
    keeps_transaction: ClassVar[bool] = True

    def __init__(self, department_code: str, cap: Decimal, used: Decimal, quote: Decimal) -> None:
        super().__init__(
            f"Your cap in {department_code} is {cap} AUD this period and {used} AUD is used or held; "
            f"this request needs {quote} AUD",
            department=department_code,
            cap_aud=str(cap),
            used_aud=str(used),
            quote_aud=str(quote),
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
