"""Which build the suite runs on: ./dev runs it on the compiled build and on the
pure build and says which through AIOTCPSIM_EXPECT_BUILD (compiled | pure); this
checks that the modules really come from that build.  Without the variable the
check is skipped (any build will do)."""

from __future__ import annotations

import ast
import importlib.machinery
import os
import pathlib
import re

import pytest

import aiotcpsim.segment

EXPECT = os.environ.get("AIOTCPSIM_EXPECT_BUILD", "")


@pytest.mark.skipif(not EXPECT, reason="AIOTCPSIM_EXPECT_BUILD is not set")
def test_the_build_under_test_is_the_one_expected() -> None:
    origin = aiotcpsim.segment.__file__ or ""
    compiled = origin.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))
    assert EXPECT in ("compiled", "pure"), EXPECT
    if EXPECT == "compiled":
        assert compiled, f"expected the compiled build, imported {origin}"
    else:
        assert origin.endswith(".py"), f"expected the pure build, imported {origin}"


# -- what the compiled build needs from the source ----------------------------------------

_CORE = pathlib.Path(__file__).resolve().parents[1] / "aiotcpsim"
_CORE_MODULES = [
    _CORE / "segment.py",
    _CORE / "config.py",
    _CORE / "errors.py",
    _CORE / "replies.py",
    _CORE / "trace.py",
    *sorted((_CORE / "tcp").rglob("*.py")),
    *sorted((_CORE / "stack").rglob("*.py")),
    *sorted((_CORE / "net").rglob("*.py")),
]
_CONSTANT = re.compile(r"_?[A-Z][A-Z0-9_]*")
_NOT_FINAL = {
    # mypyc (2.4) fails to write the text signature of Trace.__init__ when
    # the default of its ``int | None`` keyword is a Final constant; read
    # only when a Trace is made.
    "trace.py DEFAULT_LIMIT",
    "trace.py DEFAULT_SNAPLEN",
}


def _unannotated_constants(path: pathlib.Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        f"{path.name} {target.id}"
        for node in tree.body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
        and _CONSTANT.fullmatch(target.id)
        and f"{path.name} {target.id}" not in _NOT_FINAL
    ]


def test_module_constants_of_the_core_are_final() -> None:
    # mypyc inlines a Final constant (or keeps it in a C static); any other
    # module global is a dictionary lookup at every use, on the hot paths too.
    found = [name for path in _CORE_MODULES for name in _unannotated_constants(path)]
    assert found == []
