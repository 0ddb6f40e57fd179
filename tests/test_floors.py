"""The import graph is the architecture: packages stand on floors, every import points down, and no
module imports itself back through others.

1. ``trellis.collector``: the ground floor;
2. ``trellis.catalog``, ``trellis.analytics``: above it, independent of each other;
3. ``trellis.dashboard``, ``trellis.simulator``, ``trellis.notifications``: above those, independent of each other;
4. the top floor: ``trellis.cli``, ``trellis.server``, ``trellis.settings``, ``trellis.testing``.

``trellis`` itself (its ``__init__``) holds only the version and may be imported from anywhere.
Imports inside functions count like the others.
"""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "trellis"
FLOORS = {
    "trellis.collector": 1,
    "trellis.catalog": 2,
    "trellis.analytics": 2,
    "trellis.dashboard": 3,
    "trellis.simulator": 3,
    "trellis.notifications": 3,
}
TOP_FLOOR = 4
LONGEST_MODULE = 500


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def room(module: str) -> str:
    """The package a module belongs to: ``trellis.catalog.importers.csv`` is in ``trellis.catalog``; the
    top floor's modules (``trellis.cli``, ``trellis.testing.collector``) are one room, ``trellis``."""
    package = ".".join(module.split(".")[:2])
    return package if package in FLOORS else "trellis"


def floor(module: str) -> int:
    if module == "trellis":
        return 0
    return FLOORS.get(room(module), TOP_FLOOR)


def _resolve(importer: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = importer.split(".")
    is_package = MODULES[importer].name == "__init__.py"
    base = base[: len(base) - node.level + (1 if is_package else 0)]
    return ".".join([*base, node.module] if node.module else base)


def _submodule_or(source: str, name: str) -> str:
    """``from a.b import c`` imports the module ``a.b.c`` when there is one, else a name of ``a.b``."""
    return f"{source}.{name}" if f"{source}.{name}" in MODULES else source


def imports_of(module: str) -> Iterator[tuple[str, int]]:
    """The project modules ``module`` imports, with the line of each import."""
    tree = ast.parse(MODULES[module].read_text(), filename=str(MODULES[module]))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            source = _resolve(module, node)
            targets = [
                f"{source}.{alias.name}" if f"{source}.{alias.name}" in MODULES else source for alias in node.names
            ]
        else:
            continue
        for target in targets:
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target and target != module:
                yield target, node.lineno


GRAPH = {module: sorted(set(imports_of(module))) for module in MODULES}


def test_every_import_points_down_a_floor() -> None:
    wrong = [
        f"{MODULES[module].relative_to(ROOT)}:{line} imports {target} (floor {floor(target)} from {floor(module)})"
        for module, targets in GRAPH.items()
        for target, line in targets
        if room(target) != room(module) and floor(target) >= floor(module) and floor(module) != 0
    ]
    assert not wrong, "imports that do not point down:\n" + "\n".join(wrong)


def test_the_trellis_package_itself_imports_nothing_of_the_project() -> None:
    assert GRAPH["trellis"] == []


def _cycle_from(start: str, edges: dict[str, list[str]]) -> list[str] | None:
    path: list[str] = []
    on_path: set[str] = set()
    done: set[str] = set()

    def visit(node: str) -> list[str] | None:
        path.append(node)
        on_path.add(node)
        for target in edges[node]:
            if target in on_path:
                return [*path[path.index(target) :], target]
            if target not in done and (found := visit(target)):
                return found
        on_path.discard(path.pop())
        done.add(node)
        return None

    return visit(start)


def test_no_module_imports_itself_back_through_others() -> None:
    edges = {module: [target for target, _ in targets] for module, targets in GRAPH.items()}
    cycles = {" -> ".join(cycle) for module in edges if (cycle := _cycle_from(module, edges))}
    assert not cycles, "import cycles:\n" + "\n".join(sorted(cycles))


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_is_longer_than_500_lines(module: str) -> None:
    lines = len(MODULES[module].read_text().splitlines())
    assert lines <= LONGEST_MODULE, f"{MODULES[module].relative_to(ROOT)} has {lines} lines"


def test_the_checks_see_an_upward_import_and_a_cycle() -> None:
    """The rules themselves: an upward arrow and a circle are found when they exist."""
    assert floor("trellis.collector.store") < floor("trellis.catalog.service") < floor("trellis.dashboard.app")
    assert floor("trellis.cli") == TOP_FLOOR and floor("trellis") == 0
    edges = {"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]}
    assert _cycle_from("d", edges) == ["a", "b", "c", "a"]
    assert _cycle_from("a", {"a": ["b"], "b": []}) is None


PACKAGES = ["trellis.collector", "trellis.catalog", "trellis.analytics", "trellis.dashboard", "trellis.simulator"]


@pytest.mark.parametrize("package", [*PACKAGES, "trellis.testing"])
def test_every_package_lists_its_public_surface(package: str) -> None:
    """Each package says in ``__all__`` what the floors above may use, and every name there exists."""
    module = importlib.import_module(package)
    names = getattr(module, "__all__", None)
    assert names, f"{package} has no __all__"
    assert [name for name in names if not hasattr(module, name)] == []


SHARED_MODULES = (
    "trellis.catalog.models",
    "trellis.catalog.builtin_types",
    "trellis.catalog.documents",
    "trellis.analytics.report",
    "trellis.collector.options",
    "trellis.collector.settings",
    "trellis.collector.api",
    "trellis.collector.auth",
    "trellis.collector.client",
)
"""Modules other packages may import directly: the catalog's document models (the dashboard's editor
validates with them), the report package, the shared command options and settings, the API's
building blocks and the client. Everything else of a package comes through its ``__init__``."""


def _shared(target: str) -> bool:
    return any(target == m or target.startswith(m + ".") for m in SHARED_MODULES)


def test_other_packages_come_in_through_the_public_surface() -> None:
    """``trellis.testing`` may build internals (it ships the test doubles); no one else reaches in."""
    reaching = sorted(
        f"{MODULES[module].relative_to(ROOT)} -> {target}"
        for module, targets in GRAPH.items()
        if not module.startswith("trellis.testing")
        for target, _ in targets
        if room(target) != room(module) and room(target) in PACKAGES and target != room(target) and not _shared(target)
    )
    assert not reaching, "imports of another package's insides; add the name to its __init__:\n" + "\n".join(reaching)


def _imported_names() -> Iterator[tuple[str, str, str, int]]:
    """(importer, module, name, line) for every ``from module import name`` of the project."""
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "") in MODULES:
                for alias in node.names:
                    yield module, node.module or "", alias.name, node.lineno


def test_what_other_packages_take_from_a_shared_module_is_in_its_all() -> None:
    wrong = []
    for importer, module, name, line in _imported_names():
        if room(importer) == room(module) or not _shared(module) or f"{module}.{name}" in MODULES:
            continue
        listed = getattr(importlib.import_module(module), "__all__", None)
        if listed is None or name not in listed:
            wrong.append(f"{MODULES[importer].relative_to(ROOT)}:{line} takes {name} from {module}")
    assert not wrong, "names another package uses that the module does not list in __all__:\n" + "\n".join(wrong)
