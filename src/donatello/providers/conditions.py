"""What, besides size, quality and price, decides whether a model may serve a request now:

* the department's ``require_processing_in`` (``providers.residency``);
* the model's ``retires_on`` (``providers.retirement``);
* its circuit (``providers.circuit``): open, no call — a request naming it is refused with 503;
* its ``sla_percentage``: a model in breach (``providers.standing``) comes after the others in ``auto``.

The department's rule and the circuits are cached with the catalogue (a new rule or a circuit's change of
state moves its version), so an admission reads nothing more when warm; the recent calls behind an SLA
are read only when ``auto`` orders models that have one.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from donatello.models import ModelProvider, ProviderConfig
from donatello.providers import circuit as circuit_breaking
from donatello.providers import repository, residency, retirement
from donatello.providers.circuit import CircuitOpen, CircuitState
from donatello.providers.residency import ProcessingLocationRequired
from donatello.providers.retirement import ModelRetired
from donatello.providers.standing import circuits, standings

Item = TypeVar("Item")
Priced = list[tuple[tuple[ModelProvider, ProviderConfig | None], Item]]
#: why a request naming a model may not have it now (each with a short ``reason``)
Refusal = ModelRetired | ProcessingLocationRequired | CircuitOpen


@dataclass(frozen=True)
class Conditions:
    required_country: str | None
    today: date
    now: datetime
    circuits: dict[uuid.UUID, CircuitState]

    def allows(self, model: ModelProvider) -> bool:
        """Whether ``auto`` (and fallback) may choose the model."""
        return (
            residency.serves(model, self.required_country)
            and not retirement.retired(model, self.today)
            and not self._blocked(model)
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
        circuit = self.circuits.get(model.id)
        if circuit is not None and circuit.blocks(self.now):
            name = f"{model.provider_name}/{model.model_name}"
            wait = max(1, math.ceil(circuit.trial_in(self.now)))
            return CircuitOpen(name, circuit.consecutive_failures, wait)
        return None

    async def ordered(self, session: AsyncSession, priced: Priced[Item]) -> Priced[Item]:
        """The same models, those breaching their SLA after the others (each group keeps its order)."""
        if all(offer[0].sla_percentage is None for offer, _ in priced):
            return priced
        health = await standings(session, self.now)
        late = [
            offer[0].id in health and health[offer[0].id].breaches(offer[0].sla_percentage)
            for offer, _ in priced
        ]
        return [item for item, behind in zip(priced, late, strict=True) if not behind] + [
            item for item, behind in zip(priced, late, strict=True) if behind
        ]

    def _blocked(self, model: ModelProvider) -> bool:
        circuit = self.circuits.get(model.id)
        return circuit is not None and circuit.blocks(self.now)


async def conditions(session: AsyncSession, department_id: uuid.UUID | None) -> Conditions:
    now = circuit_breaking.clock()
    required = (
        await repository.required_processing_country(session, department_id)
        if department_id is not None
        else None
    )
    return Conditions(required, now.date(), now, await circuits(session))
