"""The rules of docs/architecture.md as executable rules over the whole package, by role rather than by
a list of names (new packages and modules are covered automatically).

* core knows no domain; models depend only on core;
* only ``endpoints`` and ``dependencies`` modules (and the app's edge: main, api, dependencies) import
  FastAPI or Starlette;
* a module that builds SQL is a repository: its name is ``repository`` or ends in ``_repository``;
* no package imports another package's repository or endpoints;
* inside a package, endpoints -> use cases -> repositories: a repository imports no use case, endpoints
  or dependencies; a repository imports no domain package but core, models and tenancy;
* nothing but the edge commits (the app's edge, endpoints, dependencies, jobs' ``tasks``);
* the audit log is a leaf: below its HTTP edge it imports only core, models, config and tenancy.
"""

from __future__ import annotations

import ast
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
    "donatello.demo",  # the demo tenant `donatello seed-demo` writes: an operator's command
}
#: the HTTP edge of a package, and the job runners: where a transaction is opened and committed
EDGE_LEAVES = {"endpoints", "dependencies", "tasks"}
#: what builds SQL without being a domain's repository: the database plumbing, the tables, and the one
#: tenancy filter every repository query passes through
SQL_FOUNDATIONS = ("donatello.core", "donatello.models", "donatello.tenancy.scope")
#: names from sqlalchemy that build no SQL: sessions and engines to pass along, errors to catch
NOT_SQL = ("sqlalchemy.ext.asyncio", "sqlalchemy.exc")


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _leaf(module: str) -> str:
    return module.rsplit(".", 1)[-1]


def _imports(module: str) -> set[str]:
    return set(GRAPH.find_modules_directly_imported_by(module))


def _is_repository(module: str) -> bool:
    return _leaf(module) == "repository" or _leaf(module).endswith("_repository")


def _is_edge(module: str) -> bool:
    return (
        module in EDGE
        or any(module.startswith(f"{edge}.") for edge in EDGE)
        or _leaf(module) in EDGE_LEAVES
        or module == "donatello.core.database"  # transaction(): the jobs' commit, used by the edge
    )


def _modules_on_disk() -> dict[str, Path]:
    root = Path(donatello.__file__).parent
    return {
        ".".join(("donatello", *path.relative_to(root).with_suffix("").parts)).removesuffix(".__init__"): path
        for path in root.rglob("*.py")
    }


def _sql_names(path: Path) -> set[str]:
    """What the module takes from sqlalchemy to build SQL with (imports only for type checking excepted)."""
    tree = ast.parse(path.read_text())
    type_only = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and ast.unparse(block.test) in {"TYPE_CHECKING", "typing.TYPE_CHECKING"}
        for node in ast.walk(block)
    }
    names = set()
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "sqlalchemy":
            if not (node.module or "").startswith(NOT_SQL):
                names |= {f"{node.module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names if alias.name.split(".")[0] == "sqlalchemy"}
    return names


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
        and (_is_repository(imported) or _leaf(imported) == "endpoints")
        and _package(imported) != _package(module)
        and not (module in EDGE and _leaf(imported) == "endpoints")
    ]
    assert offences == []


def test_inside_a_package_endpoints_sit_over_services_over_repositories() -> None:
    """Services import no endpoints; a repository imports nothing of its package that decides or serves
    (only other repositories and plain values: periods, layouts, event shapes)."""
    offences = [
        f"{module} imports {imported}"
        for module in OURS
        if _leaf(module) == "service" or _is_repository(module)
        for imported in _imports(module)
        if imported.startswith("donatello.")
        and _package(imported) == _package(module)
        and (
            _leaf(imported) == "endpoints"
            or (_is_repository(module) and not _is_repository(imported) and not _sql_free_value(imported))
        )
    ]
    assert offences == []


def _sql_free_value(module: str) -> bool:
    """A module a repository may lean on: it builds no SQL and imports nothing of its package."""
    path = _modules_on_disk()[module]
    same_package = {i for i in _imports(module) if _package(i) == _package(module) and i != module}
    return not _sql_names(path) and not same_package and _leaf(module) not in {"service", *EDGE_LEAVES}


def test_only_repositories_build_sql() -> None:
    """A module that builds SQL is a repository (``repository`` or ``<topic>_repository``): use cases read
    like the rule and call their repository for the statement."""
    offences = {
        module: sorted(names)
        for module, path in _modules_on_disk().items()
        if not _is_repository(module)
        and not module.startswith(SQL_FOUNDATIONS)
        and not _is_edge(module)
        and (names := _sql_names(path))
    }
    assert offences == {}


def test_repositories_lean_only_on_core_models_and_tenancy() -> None:
    offences = [
        f"{module} imports {imported}"
        for module in OURS
        if _is_repository(module)
        for imported in _imports(module)
        if imported.startswith("donatello.")
        and _package(imported) not in {_package(module), "core", "models", "tenancy", "config"}
    ]
    assert offences == []


def test_only_the_edge_commits() -> None:
    """Every module but the edge flushes; the request edge (endpoints, dependencies, the app's edge) and
    job runners (``tasks``, ``core.database.transaction``) commit."""
    committing = [
        module
        for module, path in _modules_on_disk().items()
        if not _is_edge(module) and ".commit()" in path.read_text()
    ]
    assert committing == []


def test_the_audit_log_is_a_leaf() -> None:
    """Anything may record events; below its HTTP edge, audit imports only the foundations."""
    foundations = {"audit", "core", "models", "config", "tenancy"}
    offences = [
        f"{module} imports {imported}"
        for module in OURS
        if _package(module) == "audit" and _leaf(module) not in EDGE_LEAVES
        for imported in _imports(module)
        if imported.startswith("donatello.") and _package(imported) not in foundations
    ]
    assert offences == []


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
