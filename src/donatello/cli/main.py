"""Operator commands. Each works beside a running `donatello serve` on the embedded default: they join
the same embedded server instead of starting a second one on the same data directory."""

from __future__ import annotations

import os

import typer

from donatello.cli.common import LONG_RUNNING
from donatello.config import get_settings
from donatello.core import logging as app_logging

app = typer.Typer(no_args_is_help=True, add_completion=False, help="DonatelloAI operator commands.")


@app.callback()
def _configure(context: typer.Context) -> None:
    level = get_settings().log_level
    if context.invoked_subcommand not in LONG_RUNNING and "DONATELLO_LOG_LEVEL" not in os.environ:
        level = "WARNING"  # an operator's output is the command's answer, not our log lines
    app_logging.configure(level)
