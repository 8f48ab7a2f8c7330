"""What, besides size, quality and price, decides whether a model may serve a request now:

* the department's ``require_processing_in`` (``providers.residency``);
* the model's ``retires_on`` (``providers.retirement``);
* its circuit (``providers.circuit``): open, no call — a request naming it is refused with 503;
* its ``sla_percentage``: a model in breach (``providers.standing``) comes after the others in ``auto``.

Read once per selection: the department's rule and every model's standing.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.core.clock import utcnow
from donatello.models import Department, ModelProvider, ProviderConfig
from donatello.providers import residency, retirement
from donatello.providers.circuit import CircuitOpen
from donatello.providers.residency import ProcessingLocationRequired
from donatello.providers.retirement import ModelRetired
from donatello.providers.standing import UNKNOWN, Standing, standings

Item = TypeVar("Item")
#: why a request naming a model may not have it now (each with a short ``reason``)
Refusal = ModelRetired | ProcessingLocationRequired | CircuitOpen


@dataclass(frozen=True)
class Conditions:
    required_country: str | None
    today: date
    now: datetime
    standing: dict[uuid.UUID, Standing]

    def allows(self, model: ModelProvider) -> bool:
        """Whether ``auto`` (and fallback) may choose the model."""
        return (
            residency.serves(model, self.required_country)
            and not retirement.retired(model, self.today)
            and not self._of(model).circuit.blocks(self.now)
        )

    def refusal(self, model: ModelProvider, config: ProviderConfig | None) -> Refusal | None:
        """Why a request naming the model may not have it, if it may not: retired (422, the replacement
        suggested), processing elsewhere than the department requires (422 naming the rule), circuit open
        (503)."""
        try:
            retirement.check(model, config, self.today)
            residency.check(model, self.required_country)
        except (ModelRetired, ProcessingLocationRequired) as error:
            return error
        circuit = self._of(model).circuit
        if circuit.blocks(self.now):
            name = f"{model.provider_name}/{model.model_name}"
            wait = max(1, math.ceil(circuit.trial_in(self.now)))
            return CircuitOpen(name, circuit.consecutive_failures, wait)
        return None

    def ordered(
        self, priced: list[tuple[tuple[ModelProvider, ProviderConfig | None], Item]]
    ) -> list[tuple[tuple[ModelProvider, ProviderConfig | None], Item]]:
        """The same models, those breaching their SLA after the others (each group keeps its order)."""
        breaching = [self._of(offer[0]).breaches(offer[0].sla_percentage) for offer, _ in priced]
        return [item for item, late in zip(priced, breaching, strict=True) if not late] + [
            item for item, late in zip(priced, breaching, strict=True) if late
        ]

    def _of(self, model: ModelProvider) -> Standing:
        return self.standing.get(model.id, UNKNOWN)


async def conditions(session: AsyncSession, department_id: uuid.UUID | None) -> Conditions:
    now = utcnow()
    required = None
    if department_id is not None:
        stmt = select(Department.require_processing_in).where(Department.id == department_id)
        required = (await session.execute(stmt)).scalar_one_or_none()
    return Conditions(required, now.date(), now, await standings(session, now))
