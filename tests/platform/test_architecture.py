"""The import rules of docs/architecture.md as executable rules over the whole package (new packages are covered automatically).

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
from pathlib import Path

import grimp

import donatello

GRAPH = grimp.build_graph("donatello", include_external_packages=True)
OURS = sorted(m for m in GRAPH.modules if m == "donatello" or m.startswith("donatello."))
EDGE = {
    "donatello.main",
    "donatello.middleware",
    "donatello.api",
    "donatello.dependencies",
    "donatello.cli",
    "donatello.worker",
    "donatello.resources",  # the runtime main and worker open; it assembles the domains
}


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
    """The graph the rules walk holds every package on disk, so a new one cannot escape them."""
    on_disk = {info.name for info in pkgutil.iter_modules(donatello.__path__) if info.ispkg}
    packages = {_package(m) for m in OURS} - {""}
    assert on_disk <= packages, sorted(on_disk - packages)
    assert len(on_disk) >= 20


def _package_edges() -> dict[str, set[str]]:
    """Package -> packages it imports, below the HTTP edge (endpoints and dependencies modules may reach
    any package's services; the app's edge modules are not packages)."""
    edges: dict[str, set[str]] = {}
    for module in OURS:
        source = _package(module)
        if not source or module in EDGE or _leaf(module) in {"endpoints", "dependencies"}:
            continue
        for imported in _imports(module):
            target = _package(imported) if imported.startswith("donatello.") else ""
            if target and target != source and f"donatello.{target}" not in EDGE:
                edges.setdefault(source, set()).add(target)
    return edges


def test_no_package_imports_a_package_that_imports_it_back() -> None:
    edges = _package_edges()
    graph = grimp.ImportGraph()
    for source, targets in edges.items():
        for target in targets:
            graph.add_import(importer=source, imported=target)
    cycles = []
    for source in sorted(edges):
        for target in sorted(edges[source]):
            back = graph.find_shortest_chain(importer=target, imported=source)
            if back is not None:
                cycles.append(" -> ".join((source, *back)))
    assert cycles == []


def test_reports_only_read_and_exports_are_their_own_package() -> None:
    """Reports read rollups; the export files, the job queue and the ``COPY`` live in ``exports``, which
    reports never import (a report never reaches for the export's SQL, or the export for a report's)."""
    edges = _package_edges()
    assert "exports" not in edges.get("reports", set())
    assert {m for m in OURS if _package(m) == "exports"} >= {
        "donatello.exports.service", "donatello.exports.files", "donatello.exports.repository",
        "donatello.exports.tasks", "donatello.exports.endpoints",
    }  # fmt: skip


def test_no_module_is_over_400_lines() -> None:
    """A file over ~400 lines is asking to be split by use case."""
    root = Path(donatello.__file__).parent
    long = {
        str(p.relative_to(root)): n
        for p in root.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > 400
    }
    assert long == {}
