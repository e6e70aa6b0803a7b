"""pytest plugin, sweeps: one test under many seeds, or under one fault per segment.

Rule owned here: how a tcpsim test is multiplied -- by seed at collection
(``--tcpsim-seeds``), by fault at call time (``@pytest.mark.tcpsim(explore=...)``)
-- and the command that replays one member of the family.  Registered by
:mod:`aiotcpsim.pytest_plugin`, which hands over how it reads a test's
network arguments; this module knows nothing else of it.

Seeds::

    pytest --tcpsim-seeds=100            # each tcpsim test under seeds 0..99
    pytest --tcpsim-seeds=500:1000       # seeds 500..999: one shard of a CI matrix
    pytest --tcpsim-seeds=100 -n auto    # spread over cores by pytest-xdist

Each test becomes ``test_x[seed=0]``, ``test_x[seed=1]``... (parametrized at
collection, so pytest-xdist and ``-k`` see them as ordinary tests), and a
failing one reports ``replay: pytest 'test_x.py::test_x[seed=7]' --tcpsim-seeds=7:8``.

Fault sweeps: a test marked ``@pytest.mark.tcpsim(explore="drop-each")``
(``"delay-each"``, ``"duplicate-each"``, ``"rst-each"``, ``"all"`` or a list)
runs once clean and once per segment of the clean run with that segment
harmed (:func:`aiotcpsim.explore.explore`), each time with a fresh network
passed as its ``tcpsim`` argument; it fails with the list of faults that
broke it, each with its ladder.  ``explore_workers=N``, ``explore_timeout=S``
(virtual seconds before a run counts as hung), ``explore_delay=S`` and
``explore_limit=N`` tune the sweep.  The test may be ``async def`` (run on
the network's virtual-time loop) or a plain function driving the network.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
import shlex
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from aiotcpsim.net import Network

__all__ = [
    "EXPLORE_KEYWORDS",
    "SEED_PARAM",
    "SweepPlugin",
    "add_options",
    "parse_seeds",
    "replay_command",
    "swept_seed",
]

SEED_PARAM = "tcpsim_swept_seed"
"""The parameter a seed sweep adds to each tcpsim test (its id: ``seed=N``)."""

EXPLORE_KEYWORDS = (
    "explore",
    "explore_workers",
    "explore_timeout",
    "explore_delay",
    "explore_limit",
)
"""The marker keywords of a fault sweep (not passed to the Network)."""

FAILURES_SHOWN = 5


def add_options(group: Any) -> None:
    """Add ``--tcpsim-seeds`` to the plugin's option group."""
    group.addoption(
        "--tcpsim-seeds",
        dest="tcpsim_seeds",
        default=None,
        metavar="N|START:STOP",
        help="run each aiotcpsim test under seeds 0..N-1 (or START..STOP-1, for one "
        "shard of a CI matrix); ids like test_x[seed=3]",
    )


def parse_seeds(text: str) -> range:
    """``"10"`` -> ``range(0, 10)``; ``"100:200"`` -> ``range(100, 200)``.

    Raises:
        ValueError: not ``N`` or ``START:STOP`` with 0 <= START < STOP.
    """
    try:
        if ":" in text:
            start_text, stop_text = text.split(":")
            start, stop = int(start_text), int(stop_text)
        else:
            start, stop = 0, int(text)
    except ValueError:
        start, stop = 0, -1
    if not 0 <= start < stop:
        raise ValueError(
            f"--tcpsim-seeds={text}: expected N (seeds 0..N-1, N >= 1) or START:STOP "
            "(seeds START..STOP-1, 0 <= START < STOP)"
        )
    return range(start, stop)


def swept_seed(item: pytest.Item) -> int | None:
    """The seed a seed sweep gave this test, or None."""
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return None
    seed = callspec.params.get(SEED_PARAM)
    return seed if isinstance(seed, int) else None


def replay_command(item: pytest.Item, seed: int) -> str:
    """The command line that runs ``item`` again under ``seed``, from the
    directory pytest was started in: a swept test keeps its id (``[seed=7]``)
    under a one-seed sweep."""
    config = item.config
    path, sep, rest = item.nodeid.partition("::")
    with contextlib.suppress(ValueError):  # on another drive (Windows), keep the node id's
        path = os.path.relpath(config.rootpath / path, config.invocation_params.dir)
    words = ["pytest", path + sep + rest]
    if swept_seed(item) is not None:
        words.append(f"--tcpsim-seeds={seed}:{seed + 1}")
    else:
        words.append(f"--tcpsim-seed={seed}")
    if config.pluginmanager.get_plugin("aiotcpsim") is None:  # not the entry point
        words[1:1] = ["-p", "aiotcpsim.pytest_plugin"]
    return " ".join(shlex.quote(w) for w in words)


def _call_test(function: Callable[..., Any], args: dict[str, Any], net: Network) -> Any:
    """The body of a fault sweep: the test function with ``tcpsim`` = this run's network."""
    return function(**args, tcpsim=net)


class SweepPlugin:
    """The hooks of the seed and fault sweeps (registered as ``aiotcpsim-sweeps``).

    Args:
        config: the session's config.
        network_arguments: ``item -> dict`` of the test's marker keywords, seed applied.
        forget_network: ``item -> None``: drop the test's own network, so that
            its (unused) trace is not reported next to the sweep's.
        opted_in: ``item or definition -> bool``: the test uses the plugin.
    """

    def __init__(
        self,
        config: pytest.Config,
        network_arguments: Callable[[pytest.Item], dict[str, Any]],
        forget_network: Callable[[pytest.Item], None],
        opted_in: Callable[[Any], bool],
    ) -> None:
        self.network_arguments = network_arguments
        self.forget_network = forget_network
        self.opted_in = opted_in
        text = config.getoption("tcpsim_seeds", None)
        self.seeds: range | None = None
        if text is not None:
            try:
                self.seeds = parse_seeds(str(text))
            except ValueError as exc:
                raise pytest.UsageError(str(exc)) from None
            if config.getoption("tcpsim_seed", None) is not None:
                raise pytest.UsageError(
                    "--tcpsim-seed and --tcpsim-seeds exclude each other: replay one seed "
                    "of a sweep with --tcpsim-seeds=SEED:SEED+1"
                )

    def pytest_report_header(self, config: pytest.Config) -> str | None:
        seeds = self.seeds
        if seeds is None:
            return None
        return f"aiotcpsim: seeds {seeds.start}..{seeds.stop - 1} ({len(seeds)} per test)"

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if self.seeds is None or SEED_PARAM in metafunc.fixturenames:
            return
        if not self.opted_in(metafunc.definition):
            return
        metafunc.fixturenames.append(SEED_PARAM)
        metafunc.parametrize(SEED_PARAM, list(self.seeds), ids=[f"seed={s}" for s in self.seeds])

    @pytest.hookimpl(tryfirst=True)
    def pytest_pyfunc_call(self, pyfuncitem: pytest.Function) -> bool | None:
        if pyfuncitem.get_closest_marker("tcpsim") is None:
            return None
        kwargs = self.network_arguments(pyfuncitem)
        mode = kwargs.get("explore")
        if mode is None:
            return None
        options = {k: kwargs.pop(k) for k in EXPLORE_KEYWORDS if k in kwargs}
        from aiotcpsim.explore import explore

        function = inspect.unwrap(pyfuncitem.obj)  # pytest-asyncio wraps async tests
        names = inspect.signature(function).parameters
        given = pyfuncitem.funcargs
        args = {n: given[n] for n in names if n != "tcpsim" and n in given}
        body = functools.partial(_call_test, function, args)
        try:
            result = explore(
                body,
                mode,
                network=kwargs,
                workers=options.get("explore_workers"),
                timeout=options.get("explore_timeout", 600.0),
                delay=options.get("explore_delay", 3.0),
                limit=options.get("explore_limit"),
            )
        except (TypeError, ValueError) as exc:
            problem = str(exc)
        else:
            problem = ""
        if problem:
            pytest.fail(f"@pytest.mark.tcpsim(explore={mode!r}): {problem}", pytrace=False)
        if result.found:
            self.forget_network(pyfuncitem)
            pytest.fail(self._report(pyfuncitem, mode, result), pytrace=False)
        return True

    def _report(self, item: pytest.Item, mode: Any, result: Any) -> str:
        failures = result.failures
        seed = result.clean.seed
        if result.clean.failed:
            head = f"explore={mode!r}: the clean run already fails (seed {seed})"
        else:
            head = (
                f"explore={mode!r}: {len(failures)} of {len(result.runs)} fault runs failed "
                f"(seed {seed}; {len(result.segments)} segments in the clean run)"
            )
        shown = [run.report() for run in failures[:FAILURES_SHOWN]]
        if len(failures) > FAILURES_SHOWN:
            shown.append(f"... and {len(failures) - FAILURES_SHOWN} more failing runs")
        replay = "replay the sweep: " + replay_command(item, seed)
        return "\n\n".join([head + "\n" + replay, *shown])
