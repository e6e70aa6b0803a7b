"""Every ```python block of README.md runs as written, each in a fresh interpreter
(a block defining pytest tests runs under pytest).

A block that cannot run alone is preceded by an HTML comment
``<!-- not runnable: REASON -->``; such blocks are only compiled.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_BLOCK = re.compile(r"(<!--[^\n]*-->\n)?```python\n(.*?)```", re.S)


def _blocks() -> list[tuple[int, str, str | None]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    out = []
    for m in _BLOCK.finditer(text):
        line = text.count("\n", 0, m.start(2)) + 1
        out.append((line, m.group(2), m.group(1)))
    return out


BLOCKS = _blocks()


def test_readme_has_python_blocks() -> None:
    assert len(BLOCKS) >= 5


@pytest.mark.parametrize(("line", "code", "note"), BLOCKS, ids=[f"line{b[0]}" for b in BLOCKS])
def test_readme_block_runs(line: int, code: str, note: str | None, tmp_path: Path) -> None:
    if note is not None and "not runnable:" in note:
        reason = note.split("not runnable:", 1)[1].strip(" ->\n")
        assert reason, "a block marked not runnable names its reason"
        compile(code, f"README.md:{line}", "exec")
        return
    script = tmp_path / "test_block.py"
    script.write_text(code, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *sys.path])}
    # A block that defines pytest tests is run by pytest, the others as scripts.
    runner = ["-m", "pytest", "-q", "-p", "no:cacheprovider"] if "@pytest" in code else []
    done = subprocess.run(
        [sys.executable, *runner, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"README.md line {line}:\n{done.stdout}\n{done.stderr}"
