"""The asyncio, trio and pytest examples of examples/ run and do what they say.

(The sans-I/O textbook examples are asserted in tests/faults/test_textbook.py.)
Each example's ``scenario()`` returns what happened; its ``main()`` prints it.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType

import pytest

from aiotcpsim import State

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_asyncio_retry_times_out_until_the_partition_heals() -> None:
    example = _load("asyncio_retry")
    run = example.scenario()
    before = [outcome for start, outcome in run.log if start < example.HEAL_AT]
    assert len(before) >= 2
    assert set(before) == {"TimeoutError"}  # a blackhole: SYNs vanish, asyncio.timeout fires
    last_start, last_outcome = run.log[-1]
    assert last_outcome == "ok" and last_start >= example.HEAL_AT
    assert run.answer == b"OK 200 lines\n"
    stats = run.net.statistics()
    assert stats["segments_dropped"] > 0 and stats["retransmissions"] > 0
    again = example.scenario()  # the same seed, the same run
    assert again.log == run.log and again.net.trace.digest() == run.net.trace.digest()


def test_trio_half_close_then_reset() -> None:
    example = _load("trio_half_close_reset")
    run = example.scenario()
    assert run.reply == example.REPLY  # every byte after the client's send_eof()
    assert run.net.statistics()["retransmissions"] > 0
    assert isinstance(run.client_error, ConnectionResetError)
    assert run.client_state is State.CLOSED
    assert isinstance(run.server_error, ConnectionResetError)


@pytest.mark.parametrize("name", ["asyncio_retry", "trio_half_close_reset"])
def test_example_main_prints_its_story(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    _load(name).main()
    out = capsys.readouterr().out
    assert "virtual time" in out and "retransmitted" in out


def test_pytest_example_passes_under_the_plugin(tmp_path: Path) -> None:
    """``pytest examples/test_client_faults.py``, as a user runs it."""
    installed = any(
        ep.name == "aiotcpsim" and ep.value == "aiotcpsim.pytest_plugin"
        for ep in entry_points(group="pytest11")
    )
    plugin = [] if installed else ["-p", "aiotcpsim.pytest_plugin"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    test_file = str(EXAMPLES / "test_client_faults.py")
    done = subprocess.run(
        [sys.executable, "-P", "-m", "pytest", *plugin, "-q", "-p", "no:cacheprovider", test_file],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"^6 passed", done.stdout, re.M), done.stdout


def test_every_example_is_pointed_to() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    page = (ROOT / "docs" / "examples.md").read_text(encoding="utf-8")
    for path in sorted(EXAMPLES.glob("[!_]*.py")):
        assert f"examples/{path.name}" in page, f"docs/examples.md does not mention {path.name}"
    for name in ("asyncio_retry.py", "trio_half_close_reset.py", "test_client_faults.py"):
        assert f"examples/{name}" in readme, f"README.md does not point to examples/{name}"


def test_examples_and_the_docs_ship_in_the_sdist() -> None:
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    include = config["tool"]["hatch"]["build"]["targets"]["sdist"]["include"]
    assert {"examples", "docs", "mkdocs.yml", "tests"} <= set(include)
