from __future__ import annotations

from donatello.core.errors import ValidationFailed


class InvalidRange(ValidationFailed):
    type = "invalid-report-range"
    title = "The date range is not valid"
