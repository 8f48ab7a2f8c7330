from __future__ import annotations

from donatello.core.errors import ValidationFailed


class UnknownFormat(ValidationFailed):
    type = "unknown-export-format"
    title = "The format is not one this endpoint produces"
