from __future__ import annotations

from donatello.core.errors import Conflict, DomainError, ValidationFailed


class IdempotencyKeyReused(Conflict):
    type = "idempotency-key-reused"
    title = "This Idempotency-Key was used for a different request"

    def __init__(self, key: str) -> None:
        super().__init__(
            "A request with this Idempotency-Key and a different body was already accepted; "
            "use a new key for a new request",
            idempotency_key=key,
        )


class NotCancellable(Conflict):
    type = "not-cancellable"
    title = "The generation has already finished"

    def __init__(self, status: str) -> None:
        super().__init__(f"A {status} generation cannot be cancelled", generation_status=status)


class BatchTooLarge(ValidationFailed):
    type = "batch-too-large"
    title = "The batch is larger than allowed"

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"A batch may hold at most {limit} generations; this one has {size}", limit=limit)


class NoModelAvailable(DomainError):
    status = 503
    type = "no-model-available"
    title = "No model can serve this request now"
