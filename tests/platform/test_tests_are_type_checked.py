"""The tests are type-checked like the code (`make lint` runs `mypy tests`): no test module is exempt, and a
`type: ignore` stays only where a third-party library's types fall short, naming the error it silences and
saying why (after it, or in a comment on the line above). mypy itself reports an ignore that is no longer
needed."""

from __future__ import annotations

import re
import tokenize
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests"
IGNORE = re.compile(r"type:\s*ignore(?P<codes>\[[a-z-]+(?:,\s*[a-z-]+)*\])?(?P<after>.*)")


def _mypy_overrides() -> list[dict[str, object]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    overrides: list[dict[str, object]] = config["tool"]["mypy"].get("overrides", [])
    return overrides


def _modules(override: dict[str, object]) -> list[str]:
    module = override["module"]
    if isinstance(module, str):
        return [module]
    assert isinstance(module, list)
    return [str(name) for name in module]


def test_no_test_module_is_exempt_from_type_checking() -> None:
    exempt = [
        name
        for override in _mypy_overrides()
        if override.get("ignore_errors")
        for name in _modules(override)
        if name == "tests" or name.startswith("tests.")
    ]
    assert exempt == []


def _unexplained_ignores(path: Path) -> list[str]:
    lines = path.read_text().splitlines()
    found = []
    with path.open("rb") as source:
        for token in tokenize.tokenize(source.readline):
            match = IGNORE.search(token.string) if token.type == tokenize.COMMENT else None
            if match is None:
                continue
            row = token.start[0]
            above = lines[row - 2].strip() if row > 1 else ""
            explained = match["after"].strip().lstrip("#").strip() or above.startswith("#")
            if not (match["codes"] and explained):
                found.append(f"{path.relative_to(ROOT)}:{row}: {lines[row - 1].strip()}")
    return found


def test_every_type_ignore_in_the_tests_names_its_error_and_says_why() -> None:
    offenders = [line for path in sorted(TESTS.rglob("*.py")) for line in _unexplained_ignores(path)]
    assert offenders == []
