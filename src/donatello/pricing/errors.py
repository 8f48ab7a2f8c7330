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


class NoTokenAllowance(ServiceUnavailable):
    """A token-priced model whose family documents no output tokens for the size and quality asked:
    nothing bounds what the request could cost, so it cannot be held for."""

    type = "token-allowance-missing"
    title = "This model cannot be priced for that size and quality"

    def __init__(self, provider: str, model: str, size: str, quality: str) -> None:
        super().__init__(
            f"{provider}/{model} is priced per token, and no output tokens are documented for"
            f" {size} at {quality} quality",
            provider=provider,
            model=model,
            size=size,
            quality=quality,
        )
