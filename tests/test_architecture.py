"""DESIGN.md §3 as executable rules over the whole package (new packages are covered automatically).

* core knows no domain; models depend only on core;
* only ``endpoints`` and ``dependencies`` modules (and the app's edge: main, api, dependencies) import
  FastAPI or Starlette;
* no package imports another package's repository or endpoints;
* inside a package, endpoints -> service -> repository: a repository imports no service or endpoints,
  a service imports no endpoints;
* services and repositories never commit.
"""

from __future__ import annotations

import inspect
import pkgutil

import grimp

import donatello

GRAPH = grimp.build_graph("donatello", include_external_packages=True)
OURS = sorted(m for m in GRAPH.modules if m == "donatello" or m.startswith("donatello."))
EDGE = {"donatello.main", "donatello.api", "donatello.dependencies", "donatello.cli", "donatello.worker"}


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _leaf(module: str) -> str:
    return module.rsplit(".", 1)[-1]


def _imports(module: str) -> set[str]:
    return set(GRAPH.find_modules_directly_imported_by(module))


def test_core_knows_no_domain() -> None:
    offences = [
        f"{module} imports {imported}"
        for module in OURS
        if _package(module) == "core"
        for imported in _imports(module)
        if imported.startswith("donatello.") and _package(imported) not in {"core", "config"}
    ]
    assert offences == []


def test_models_depend_only_on_core() -> None:
    offences = [
        f"{module} imports {imported}"
        for module in OURS
        if _package(module) == "models"
        for imported in _imports(module)
        if (imported.startswith("donatello.") and _package(imported) not in {"models", "core"})
        or imported.split(".")[0] in {"fastapi", "starlette"}
    ]
    assert offences == []


def test_only_endpoints_and_dependencies_import_fastapi() -> None:
    offences = [
        f"{module} imports {imported}"
        for module in OURS
        if module not in EDGE and _leaf(module) not in {"endpoints", "dependencies"}
        for imported in _imports(module)
        if imported.split(".")[0] in {"fastapi", "starlette"}
    ]
    assert offences == []


def test_no_package_reaches_into_another_packages_repository_or_endpoints() -> None:
    offences = [
        f"{module} imports {imported}"
        for module in OURS
        for imported in _imports(module)
        if imported.startswith("donatello.")
        and _leaf(imported) in {"repository", "endpoints"}
        and _package(imported) != _package(module)
        and not (module in EDGE and _leaf(imported) == "endpoints")
    ]
    assert offences == []


def test_inside_a_package_endpoints_sit_over_services_over_repositories() -> None:
    below = {"repository": {"service", "endpoints", "dependencies"}, "service": {"endpoints"}}
    offences = [
        f"{module} imports {imported}"
        for module in OURS
        if _leaf(module) in below
        for imported in _imports(module)
        if imported.startswith("donatello.")
        and _package(imported) == _package(module)
        and _leaf(imported) in below[_leaf(module)]
    ]
    assert offences == []


def test_only_the_edge_commits() -> None:
    """Services flush; the request edge (and job runners) commit."""
    committing = []
    for info in pkgutil.walk_packages(donatello.__path__, "donatello."):
        if info.name.endswith((".service", ".repository")):
            module = __import__(info.name, fromlist=["_"])
            if ".commit()" in inspect.getsource(module):
                committing.append(info.name)
    assert committing == []


def test_the_rules_see_every_package() -> None:
    packages = {_package(m) for m in OURS} - {""}
    assert {"core", "models", "budgets", "audit", "departments", "auth"} <= packages
