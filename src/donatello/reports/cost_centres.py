"""Spend by cost centre: chargeback by the directory's ``costCenter``, frozen on each cost event at spend
time (a person who moves later does not move their past spend)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from donatello.budgets.periods import organization_timezone
from donatello.core.clock import utcnow
from donatello.core.errors import Forbidden
from donatello.organizations import service as organizations
from donatello.reports import repository
from donatello.reports.schemas import CostCentreSpend, SpendRow
from donatello.reports.service import parse_period
from donatello.tenancy import Principal

#: The row of spend made by people without a cost centre.
NO_COST_CENTRE = "No cost centre"


async def spend_by_cost_centre(
    session: AsyncSession, principal: Principal, period_text: str | None, *, at: datetime | None = None
) -> CostCentreSpend:
    """The organization's spend in a period by cost centre, largest first (org admins and finance)."""
    if not principal.reaches_every_department:
        raise Forbidden("Spend by cost centre is for org admins and finance")
    organization = await organizations.find(session, principal.organization_id)
    period = parse_period(period_text, organization_timezone(organization.settings), at or utcnow())
    rows = [
        SpendRow(
            key=row.cost_center or "",
            label=row.cost_center or NO_COST_CENTRE,
            net_aud=row.net,
            charges_aud=row.charges,
            refunds_aud=row.refunds,
            corrections_aud=row.corrections,
            images=row.images,
            events=row.events,
        )
        for row in await repository.spend_by_cost_centre(
            session, principal.organization_id, period.starts_at, period.ends_at
        )
    ]
    return CostCentreSpend(
        organization_id=principal.organization_id,
        organization_domain=organization.domain,
        period_start=period.start,
        period_end=period.end,
        rows=rows,
        total_aud=sum((row.net_aud for row in rows), Decimal(0)),
    )
