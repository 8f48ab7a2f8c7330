"""How the tests are laid out: fixtures come from conftest files (pytest finds them), helpers from
tests/support/ (imported). A helper imported from a conftest runs that conftest a second time under another
module name and hides which fixtures a test really uses; a helper imported from another test module
does the same to that module, and ties one test file's story to another's."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_no_module_imports_a_conftest() -> None:
    offenders = {
        str(path.relative_to(TESTS)): sorted(name for name in _imports(path) if name.endswith("conftest"))
        for path in TESTS.rglob("*.py")
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_no_module_imports_a_test_module() -> None:
    offenders = {
        str(path.relative_to(TESTS)): sorted(
            name for name in _imports(path) if name.rsplit(".", 1)[-1].startswith("test_")
        )
        for path in TESTS.rglob("*.py")
    }
    assert {path: names for path, names in offenders.items() if names} == {}
