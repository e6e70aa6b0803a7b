"""anyio's TCP socket tests and trio's high-level TCP tests, run on the simulation.

Rule owned here: a peer suite passes when its pytest run exits 0 with at least
``floor`` tests passed, every expected failure failed as listed (xfail) and
nothing else failed.  Each suite runs unmodified, from the sdist of the
version installed (fetch.py), in a pytest subprocess with the glue plugin
(glue.py: a fresh Network around every test), a 20 s timeout per test and
100 s for the whole run, so nothing hangs CI.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import aiotcpsim

from . import fetch
from .expected import SUITES, Suite

HERE = Path(__file__).resolve().parent
PACKAGE_TREE = Path(aiotcpsim.__file__).resolve().parents[1]
PER_TEST = 20  # seconds, pytest-timeout in the subprocess
WHOLE_RUN = 100  # seconds

pytestmark = pytest.mark.skipif(fetch.opted_out(), reason="AIOTCPSIM_PEERS=0: peer suites off")


def _run(suite: Suite, tmp_path: Path) -> tuple[dict[str, Any], str]:
    try:
        tree = fetch.sdist_tree(suite.project)
    except fetch.Unavailable as why:
        pytest.skip(str(why))
    report = tmp_path / f"{suite.project}.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    path = [*(tree / p for p in suite.pythonpath), PACKAGE_TREE, HERE]
    env["PYTHONPATH"] = os.pathsep.join(map(str, path))
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    cmd = [
        sys.executable, "-P", "-m", "pytest", "-p", "glue", "--peers-suite", suite.project,
        "--peers-report", str(report), "-p", "no:cacheprovider", "-p", "timeout",
        "-o", f"timeout={PER_TEST}", "-q", "--tb=short", "-rfEX", *suite.args, *suite.files,
    ]  # fmt: skip
    if suite.keyword:
        cmd += ["-k", suite.keyword]
    try:
        done = subprocess.run(
            cmd, cwd=tree, env=env, capture_output=True, text=True, timeout=WHOLE_RUN, check=False
        )
    except subprocess.TimeoutExpired as late:
        out = late.stdout or b""
        out = out.decode(errors="replace") if isinstance(out, bytes) else out
        pytest.fail(f"the {suite.project} suite ran over {WHOLE_RUN} s:\n{out[-6000:]}")
    log = done.stdout[-12000:] + done.stderr[-4000:]
    if done.returncode != 0 or not report.exists():
        pytest.fail(f"the {suite.project} suite exited {done.returncode}:\n{log}")
    return json.loads(report.read_text()), log


@pytest.mark.parametrize("name", sorted(SUITES))
def test_peer_suite(name: str, tmp_path: Path) -> None:
    suite = SUITES[name]
    data, log = _run(suite, tmp_path)
    outcomes: dict[str, str] = data["outcomes"]
    passed = sorted(t for t, v in outcomes.items() if v == "passed")
    failed = sorted(t for t, v in outcomes.items() if v in ("failed", "error"))
    not_xfailed = sorted(t for t in suite.expected_failures if outcomes.get(t) != "xfailed")
    assert not failed, f"failed: {failed}\n{log}"
    assert not not_xfailed, f"listed as expected failures, did not fail so: {not_xfailed}\n{log}"
    assert len(passed) >= suite.floor, f"{len(passed)} passed, fewer than {suite.floor}\n{log}"
    entries = {*suite.deselect, *(f"fixture:{fixture}" for fixture in suite.deselect_fixtures)}
    stale = sorted(entries - set(data["deselected"].values()))
    assert not stale, f"deselect entries of expected.py that leave out no test: {stale}"
