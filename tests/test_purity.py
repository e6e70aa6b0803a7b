"""The TCP core and the network are sans-I/O: no event loop, no clock, no global RNG."""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

import pytest

import aiotcpsim

PACKAGE = pathlib.Path(aiotcpsim.__file__).parent
# The sans-I/O layers: wire values, the TCB package, the host stack and the
# network, wherever they live (top-level modules or their own packages).
CORE_PATTERNS = [
    "segment.py",
    "config.py",
    "errors.py",
    "replies.py",
    "tcp/*.py",
    "stack/*.py",
    "net/**/*.py",
    "trace.py",
    "pcap.py",
]
CORE = sorted(
    {str(f.relative_to(PACKAGE)) for pattern in CORE_PATTERNS for f in PACKAGE.glob(pattern)}
)
FORBIDDEN = {"asyncio", "trio", "anyio", "time", "random", "socketserver", "selectors", "threading"}
ALLOWED_FROM = {("random", "Random")}  # the network's own seeded instance


@pytest.mark.parametrize("module", CORE)
def test_core_module_imports_no_io(module: str) -> None:
    tree = ast.parse((PACKAGE / module).read_text(), module)
    bad = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            bad += [a.name for a in node.names if a.name.split(".")[0] in FORBIDDEN]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            root = node.module.split(".")[0]
            if root in FORBIDDEN:
                bad += [
                    f"{node.module}.{a.name}"
                    for a in node.names
                    if (node.module, a.name) not in ALLOWED_FROM
                ]
    if module == "net/network.py":
        # `import random` is there for random.Random(seed) only: no module-level calls.
        source = (PACKAGE / module).read_text()
        bad = [b for b in bad if b != "random"]
        for forbidden_call in ("random.random(", "random.randint(", "random.choice("):
            assert forbidden_call not in source
    assert not bad, f"{module} imports {bad}"


def test_core_covers_the_tcp_package() -> None:
    tcp = {m for m in CORE if m.startswith("tcp/")}
    assert {"tcp/__init__.py", "tcp/state.py", "tcp/connection.py"} <= tcp


def test_import_aiotcpsim_imports_neither_trio_nor_anyio() -> None:
    code = "import sys, aiotcpsim; print(sorted(m for m in ('trio', 'anyio') if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, timeout=60
    )
    assert out.stdout.strip() == "[]"
