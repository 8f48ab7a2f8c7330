from __future__ import annotations

from donatello.core.errors import DomainError, NotFound, ServiceUnavailable


class UnknownModel(NotFound):
    type = "unknown-model"
    title = "No such model"

    def __init__(self, provider: str, model: str) -> None:
        DomainError.__init__(
            self, f"No active model {model} from provider {provider}", provider=provider, model=model
        )


class NoExchangeRate(ServiceUnavailable):
    type = "exchange-rate-missing"
    title = "No exchange rate to price this model"

    def __init__(self, currency: str) -> None:
        super().__init__(f"No {currency}->AUD exchange rate is configured", currency=currency)
