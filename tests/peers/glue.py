"""The pytest plugin that runs another project's tests on the simulation.

Rule owned here: every test of a peer suite runs on a fresh simulated network,
or fails saying it did not.  Loaded into the peer suite's own pytest run
(``python -m pytest -p glue --peers-suite NAME``, in the unpacked sdist, so
the suite's own configuration and conftest apply):

* anyio, asyncio backend: the ``anyio_backend`` parameter gets the options
  ``{"loop_factory": aiotcpsim.loop_factory()}`` (anyio's public way to pick
  the loop; each runner's loop drives a new ``Network``), and the test checks
  at its start that it runs on a ``VirtualTimeLoop``;
* anyio's trio backend and trio's own tests: the test body runs inside
  ``aiotcpsim.trio_net.open_network(Network())``;
* the suite's entry in ``expected.py`` decides what is left out (DESELECT,
  by node id prefix or by fixture, each with a reason) and what must fail
  (``xfail(strict=True, raises=...)``: failing otherwise, or passing, fails);
* ``--peers-report FILE`` receives every test's outcome as JSON, for the
  check in ``test_peers.py``.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import inspect
import json
import warnings
from collections.abc import Generator
from pathlib import Path
from typing import Any

import expected  # type: ignore[import-not-found]  # beside this file, on PYTHONPATH
import pytest

import aiotcpsim
from aiotcpsim.asyncio_loop import VirtualTimeLoop

_outcomes: dict[str, str] = {}
_deselected: dict[str, str] = {}  # node id -> the entry of expected.py


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("aiotcpsim peers")
    group.addoption("--peers-suite", required=True, choices=sorted(expected.SUITES))
    group.addoption("--peers-report", default=None, help="write the outcomes here (JSON)")


def _suite(config: pytest.Config) -> Any:
    return expected.SUITES[config.getoption("--peers-suite")]


def _why_left_out(suite: Any, item: pytest.Item) -> str | None:
    """The entry of expected.py (a node id prefix, ``[part]`` or ``fixture:name``)
    that leaves ``item`` out, or None."""
    for prefix in suite.deselect:
        if item.nodeid.startswith(prefix):
            return str(prefix)
    params = item.nodeid.partition("[")[2].rstrip("]").split("-")
    for part in suite.deselect_params:
        if part in params:
            return f"[{part}]"
    used = set(getattr(item, "fixturenames", ()))
    for fixture in suite.deselect_fixtures:
        if fixture in used:
            return f"fixture:{fixture}"
    return None


def _backend(item: pytest.Item) -> Any:
    callspec = getattr(item, "callspec", None)
    return None if callspec is None else callspec.params.get("anyio_backend")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    suite = _suite(config)
    keep, dropped = [], []
    for item in items:
        why = _why_left_out(suite, item)
        if why is not None:
            _deselected[item.nodeid] = why
            dropped.append(item)
            continue
        keep.append(item)
        backend = _backend(item)
        if backend is not None:
            name, options = (backend, {}) if isinstance(backend, str) else backend
            if name == "asyncio":
                if "loop_factory" in options:
                    raise pytest.UsageError(
                        f"{item.nodeid}: its own loop_factory; deselect it in expected.py"
                    )
                options = {**options, "loop_factory": aiotcpsim.loop_factory()}
            item.callspec.params["anyio_backend"] = (name, options)  # type: ignore[attr-defined]
        if item.nodeid in suite.expected_failures:
            fails = suite.expected_failures[item.nodeid]
            item.add_marker(
                pytest.mark.xfail(raises=fails.raises, reason=fails.reason, strict=True)
            )
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


def _on_simulation(func: Any, *, trio_run: bool) -> Any:
    @functools.wraps(func)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        if trio_run:
            from aiotcpsim.trio_net import open_network

            async with open_network(aiotcpsim.Network()):
                return await func(*args, **kwargs)
        loop = asyncio.get_running_loop()
        assert isinstance(loop, VirtualTimeLoop), f"not on the simulation: {loop!r}"
        return await func(*args, **kwargs)

    return wrapper


@pytest.hookimpl(wrapper=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> Generator[None, Any, Any]:
    """Before any runner (anyio's, trio's) takes the test: put its body on the network."""
    if inspect.iscoroutinefunction(pyfuncitem.obj):
        backend = _backend(pyfuncitem)
        if backend is None:
            trio_run = _suite(pyfuncitem.config).project == "trio"
        else:
            trio_run = (backend if isinstance(backend, str) else backend[0]) == "trio"
        pyfuncitem.obj = _on_simulation(pyfuncitem.obj, trio_run=trio_run)
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, Any, Any]:
    """An expected failure stopped half-way leaves kernel sockets unclosed (the
    test's own, or anyio's): collect them here, quietly, so that their
    ResourceWarning does not fall on a later test."""
    if item.nodeid in _suite(item.config).expected_failures:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            gc.collect()
    return (yield)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" or report.outcome != "passed":
        outcome = "xfailed" if hasattr(report, "wasxfail") and report.skipped else report.outcome
        if report.when != "call" and report.failed:
            outcome = "error"
        if _outcomes.get(report.nodeid) not in ("failed", "error"):
            _outcomes[report.nodeid] = outcome


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    where = session.config.getoption("--peers-report")
    if where:
        data = {"outcomes": _outcomes, "deselected": _deselected, "exitstatus": int(exitstatus)}
        Path(where).write_text(json.dumps(data, indent=1, sort_keys=True))
