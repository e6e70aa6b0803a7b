"""The shape of the package, checked over its source (issue 7): layers import one
way (no import cycle), no module reaches into another module's ``_private``
names -- tests included --, every module says at its top which rule it owns,
and no file or function grows past what a reader can hold.
"""

from __future__ import annotations

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "aiotcpsim"
MAX_FILE_LINES = 800
MAX_FUNCTION_LINES = 80


def _module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
TREES = {name: ast.parse(path.read_text()) for name, path in MODULES.items()}


def _imports(name: str, tree: ast.Module) -> set[str]:
    """The package's modules that ``name`` imports (TYPE_CHECKING imports count)."""
    is_package = MODULES[name].name == "__init__.py"
    base = name.split(".") if is_package else name.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                prefix = base[: len(base) - node.level + 1]
                target = ".".join(prefix + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target in MODULES:
                found.add(target)
            for alias in node.names:
                if f"{target}.{alias.name}" in MODULES:
                    found.add(f"{target}.{alias.name}")
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in MODULES)
    return found


def _defined_private(tree: ast.Module) -> set[str]:
    """The ``_private`` names a module defines (functions, classes, attributes, slots)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names.add(node.value)  # __slots__ entries
    return {n for n in names if n.startswith("_") and not n.startswith("__")}


PRIVATE = {name: _defined_private(tree) for name, tree in TREES.items()}


def _foreign_private_uses(tree: ast.Module, own: set[str]) -> list[str]:
    """Uses of ``._name`` (on anything but self/cls) and ``from x import _name``
    where ``_name`` belongs to another module of the package."""
    ours = set().union(*PRIVATE.values())
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            attr = node.attr
            if not attr.startswith("_") or attr.startswith("__") or attr in own:
                continue
            if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                continue
            if attr in ours:
                found.append(f"line {node.lineno}: .{attr}")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("aiotcpsim"):
            found.extend(
                f"line {node.lineno}: import {a.name}"
                for a in node.names
                if a.name.startswith("_") and not a.name.startswith("__")
            )
    return found


def test_no_import_cycles() -> None:
    graph = {
        name: {t for t in _imports(name, tree) if t != name and MODULES[t].name != "__init__.py"}
        for name, tree in TREES.items()
    }
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the path, 2: done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == []


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_access_to_another_modules_private_names(name: str) -> None:
    assert _foreign_private_uses(TREES[name], PRIVATE[name]) == []


TEST_FILES = (
    sorted(p for p in (ROOT / "tests").rglob("*.py") if p.name != "test_structure.py")
    + sorted((ROOT / "examples").rglob("*.py"))
    + sorted((ROOT / "benchmarks").rglob("*.py"))
)


@pytest.mark.parametrize("path", TEST_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_tests_use_public_hooks_only(path: pathlib.Path) -> None:
    tree = ast.parse(path.read_text())
    assert _foreign_private_uses(tree, _defined_private(tree)) == []


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_says_which_rule_it_owns(name: str) -> None:
    assert ast.get_docstring(TREES[name]), f"{name} has no module docstring"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_files_and_functions_stay_small(name: str) -> None:
    lines = MODULES[name].read_text().count("\n")
    assert lines <= MAX_FILE_LINES, f"{name}: {lines} lines"
    long = [
        f"{node.name}: {node.end_lineno - node.lineno + 1} lines"
        for node in ast.walk(TREES[name])
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert long == []
