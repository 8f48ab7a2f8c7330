from __future__ import annotations

from donatello.core.errors import DomainError


class UnreadableFile(DomainError):
    """The provider file is not in the format it claims (missing columns, a value that is not a number,
    a day or an instant): nothing is imported."""

    status = 422
    type = "unreadable-cost-file"
    title = "The cost file could not be read"


class InvalidReconciliation(DomainError):
    status = 422
    type = "invalid-reconciliation"
    title = "The reconciliation request is not valid"


class FileTooLarge(DomainError):
    status = 413
    type = "cost-file-too-large"
    title = "The cost file is larger than this service accepts"
