"""``donatello``: the operator commands (``app``), one module per group of commands."""

from donatello.cli import admin, audit, exports, ledger, server  # noqa: F401 - each registers its commands
from donatello.cli.main import app

__all__ = ["app"]
