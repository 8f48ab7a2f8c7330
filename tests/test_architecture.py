"""DESIGN.md §3 as executable rules (import-linter checks the rest in `make lint`)."""

from __future__ import annotations

import grimp

GRAPH = grimp.build_graph("donatello")


def _domain(module: str) -> str:
    return module.split(".")[1]


def test_no_package_reaches_into_another_packages_repository() -> None:
    offences = [
        f"{importer} imports {imported}"
        for imported in GRAPH.modules
        if imported.endswith(".repository")
        for importer in GRAPH.find_modules_that_directly_import(imported)
        if _domain(importer) != _domain(imported)
    ]
    assert offences == []


def test_no_package_imports_another_packages_endpoints() -> None:
    offences = [
        f"{importer} imports {imported}"
        for imported in GRAPH.modules
        if imported.endswith(".endpoints")
        for importer in GRAPH.find_modules_that_directly_import(imported)
        if _domain(importer) != _domain(imported) and importer not in {"donatello.api", "donatello.main"}
    ]
    assert offences == []


def test_only_the_edge_commits() -> None:
    """Services flush; the request edge (and job runners) commit."""
    import inspect
    import pkgutil

    import donatello

    committing = []
    for info in pkgutil.walk_packages(donatello.__path__, "donatello."):
        if info.name.endswith((".service", ".repository")):
            module = __import__(info.name, fromlist=["_"])
            if ".commit()" in inspect.getsource(module):
                committing.append(info.name)
    assert committing == []
