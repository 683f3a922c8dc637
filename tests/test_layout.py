"""The layout docs/development.md ("Where things are") promises: each top-level Python
folder is one ``txwatch`` subpackage that says what it owns, modules stay small, no folder
dominates, imports point one way (no cycles; the exporter needs only the contract; process
and server helpers come from ``txwatch.engines``, not from the replay client), and no package
code finds files by walking up from ``__file__``."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

from tests.conftest import REPO

MAX_MODULE_LINES = 250
MAX_FOLDER_SHARE = 0.40
PACKAGES: dict[str, str] = tomllib.loads((REPO / "pyproject.toml").read_text())[
    "tool"]["setuptools"]["package-dir"]


def modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of every package."""
    found = {}
    for package, folder in PACKAGES.items():
        for path in sorted((REPO / folder).glob("*.py")):
            name = package if path.stem == "__init__" else f"{package}.{path.stem}"
            found[name] = path
    return found


def imports(path: Path, known: set[str]) -> set[str]:
    """txwatch modules a file imports (anywhere in it, lazy imports included)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            submodules = {f"{node.module}.{a.name}" for a in node.names} & known
            out |= submodules or {node.module}
    return {name for name in out if name in known}


def test_every_package_folder_is_mapped_and_says_what_it_owns():
    for folder in PACKAGES.values():
        init = REPO / folder / "__init__.py"
        assert init.exists(), f"{folder}/ has no __init__.py"
        assert ast.get_docstring(ast.parse(init.read_text())), f"{folder}/__init__.py: docstring"
    on_disk = {p.parent.name for p in REPO.glob("*/__init__.py")} - {"tests", "scripts"}
    assert on_disk == set(PACKAGES.values()), on_disk ^ set(PACKAGES.values())


@pytest.mark.parametrize("name", sorted(modules()))
def test_module_is_small(name):
    lines = len(modules()[name].read_text().splitlines())
    assert lines <= MAX_MODULE_LINES, f"{name}: {lines} lines"


def test_no_folder_holds_40_percent_of_the_package_code():
    sizes: dict[str, int] = {}
    for name, path in modules().items():
        folder = PACKAGES[name if name in PACKAGES else name.rsplit(".", 1)[0]]
        sizes[folder] = sizes.get(folder, 0) + len(path.read_text().splitlines())
    total = sum(sizes.values())
    for folder, size in sizes.items():
        assert size / total < MAX_FOLDER_SHARE, f"{folder}/: {size} of {total} lines"


def test_no_import_cycles():
    known = set(modules())
    graph = {name: imports(path, known) - {name} for name, path in modules().items()}
    state: dict[str, int] = {}

    def visit(name: str, trail: list[str]) -> None:
        state[name] = 1
        for dep in sorted(graph[name]):
            if state.get(dep) == 1:
                cycle = trail[trail.index(dep):] + [dep] if dep in trail else [name, dep]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if dep not in state:
                visit(dep, [*trail, dep])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])


def test_exporter_depends_only_on_the_contract():
    known = set(modules())
    for name, path in modules().items():
        if name.startswith("txwatch.exporter"):
            outside = {m for m in imports(path, known)
                       if not m.startswith("txwatch.exporter")
                       and m not in ("txwatch.contract", "txwatch.ports")}
            assert not outside, f"{name} imports {outside}"


def test_stack_web_and_bench_get_helpers_from_engines_not_the_replay_client():
    known = set(modules())
    files = [p for n, p in modules().items() if n.startswith(("txwatch.stack", "txwatch.web"))]
    files += sorted((REPO / "bench").glob("*.py"))
    for path in files:
        client = {m for m in imports(path, known) if m.startswith("txwatch.replay")}
        # The demo replays its data set: that is the client's job, not a helper.
        allowed = {"txwatch.replay.push"} if path.name == "demo.py" else set()
        assert client <= allowed, f"{path.relative_to(REPO)} imports {client - allowed}"


def test_package_code_finds_files_through_resources_not___file__():
    for name, path in modules().items():
        assert "__file__" not in path.read_text(), f"{name} locates files by __file__"


# The layout table's rows, top to bottom: a package imports only packages above it (or
# itself). Data-only folders (configs, templates, static files) import nothing.
LAYERS = ("txwatch", "txwatch.exporter", "txwatch.rules", "txwatch.prometheus",
          "txwatch.alertmanager", "txwatch.engines", "txwatch.history", "txwatch.backtest",
          "txwatch.replay", "txwatch.web", "txwatch.stack", "txwatch.docs")


def _package(module: str) -> str:
    return max((p for p in PACKAGES if module == p or module.startswith(p + ".")), key=len)


def test_every_import_points_up_the_layout_table():
    known = set(modules())
    layered = {p for p in PACKAGES if any(p == layer or p.startswith(layer + ".")
                                          for layer in LAYERS)}
    assert layered == set(PACKAGES), f"packages missing from LAYERS: {set(PACKAGES) - layered}"

    def layer(module: str) -> int:
        package = _package(module)
        return max(i for i, name in enumerate(LAYERS)
                   if package == name or package.startswith(name + "."))

    wrong = [f"{name} imports {other}" for name, path in modules().items()
             for other in sorted(imports(path, known)) if layer(other) > layer(name)]
    assert not wrong, wrong
