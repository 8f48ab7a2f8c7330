"""The catalogue the audit log's picker offers names every event type the code records."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from donatello.audit.catalogue import EVENT_TYPES

SOURCE = Path(__file__).resolve().parents[2] / "src" / "donatello"
DOTTED = re.compile(r"^[a-z_]+\.[a-z_]+$")
RECORDERS = {"record_event", "event", "_event"}


def _recorded_types() -> set[str]:
    """Event types written as literals where an event is made (``audit.record_event``, ``audit.event``
    and the packages' own ``_event`` helpers), plus the conditional ones assigned just before."""
    found: set[str] = set()
    for path in SOURCE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name not in RECORDERS:
                continue
            for argument in node.args[:3]:
                for constant in ast.walk(argument):
                    value = constant.value if isinstance(constant, ast.Constant) else None
                    if isinstance(value, str) and DOTTED.match(value):
                        found.add(value)
    return found


def test_every_event_type_the_code_records_can_be_picked() -> None:
    recorded = _recorded_types()
    assert len(recorded) > 40  # the scan finds the recorders at all
    assert sorted(recorded - set(EVENT_TYPES)) == []
