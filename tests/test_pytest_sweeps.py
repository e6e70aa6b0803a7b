"""Seed sweeps (``--tcpsim-seeds``) and fault sweeps (``explore=``) in the pytest plugin."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from importlib.metadata import entry_points

import pytest

from aiotcpsim.pytest_sweeps import parse_seeds

pytest_plugins = ["pytester"]

ENTRY_POINT_INSTALLED = any(
    ep.name == "aiotcpsim" and ep.value == "aiotcpsim.pytest_plugin"
    for ep in entry_points(group="pytest11")
)
PLUGIN_ARGS = [] if ENTRY_POINT_INSTALLED else ["-p", "aiotcpsim.pytest_plugin"]

INI = """
[pytest]
asyncio_default_fixture_loop_scope = function
"""

SEEDED = """
import pytest

@pytest.mark.tcpsim
def test_seed(tcpsim):
    assert tcpsim.seed % 3 != 2, "planted: fails for seeds 2, 5, 8..."

def test_plain():
    pass
"""


@pytest.fixture
def run(pytester: pytest.Pytester) -> Callable[..., pytest.RunResult]:
    pytester.makeini(INI)

    def run(source: str, *args: str) -> pytest.RunResult:
        pytester.makepyfile(source)
        return pytester.runpytest(*PLUGIN_ARGS, "-p", "no:cacheprovider", *args)

    return run


# -- seeds -------------------------------------------------------------------------------


def test_parse_seeds() -> None:
    assert parse_seeds("4") == range(4)
    assert parse_seeds("10:12") == range(10, 12)
    for bad in ("0", "-1", "5:5", "x", "1:2:3", "3:1"):
        with pytest.raises(ValueError, match=r"expected N \(seeds 0..N-1, N >= 1\) or START:STOP"):
            parse_seeds(bad)


def test_seeds_parametrize_each_tcpsim_test(run: Callable[..., pytest.RunResult]) -> None:
    result = run(SEEDED, "--tcpsim-seeds=4", "-v")
    result.assert_outcomes(passed=4, failed=1)
    result.stdout.fnmatch_lines(
        [
            "aiotcpsim: seeds 0..3 (4 per test)",
            "*test_seed[[]seed=0[]] PASSED*",
            "*test_seed[[]seed=2[]] FAILED*",
            "*test_seed[[]seed=3[]] PASSED*",
            "*test_plain PASSED*",
            "replay: pytest *test_seed[[]seed=2[]]* --tcpsim-seeds=2:3",
        ]
    )


def test_a_seed_range_is_one_shard_and_replays_one_seed(
    run: Callable[..., pytest.RunResult],
) -> None:
    result = run(SEEDED, "--tcpsim-seeds=4:6", "-v")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        ["*test_seed[[]seed=4[]] PASSED*", "*test_seed[[]seed=5[]] FAILED*"]
    )
    node = "test_a_seed_range_is_one_shard_and_replays_one_seed.py::test_seed[seed=5]"
    replay = run(SEEDED, node, "--tcpsim-seeds=5:6")
    replay.assert_outcomes(failed=1)
    replay.stdout.fnmatch_lines(["*aiotcpsim (seed 5)*"])


def test_bad_seed_options_are_usage_errors(run: Callable[..., pytest.RunResult]) -> None:
    result = run(SEEDED, "--tcpsim-seeds=0")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--tcpsim-seeds=0: expected N*"])
    both = run(SEEDED, "--tcpsim-seeds=3", "--tcpsim-seed=1")
    assert both.ret == pytest.ExitCode.USAGE_ERROR
    both.stderr.fnmatch_lines(["*--tcpsim-seed and --tcpsim-seeds exclude each other*"])


@pytest.mark.skipif(
    importlib.util.find_spec("xdist") is None, reason="pytest-xdist is not installed"
)
def test_seeds_spread_over_xdist_workers(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI)
    pytester.makepyfile(SEEDED)
    result = pytester.runpytest_subprocess(
        *PLUGIN_ARGS, "-p", "no:cacheprovider", "-n", "2", "--tcpsim-seeds=6"
    )
    result.assert_outcomes(passed=5, failed=2)
    result.stdout.fnmatch_lines(["*replay: pytest *test_seed[[]seed=5[]]* --tcpsim-seeds=5:6*"])


# -- fault sweeps --------------------------------------------------------------------------

EXPLORED = """
import asyncio
import pytest

NETWORK = dict(seed=1, delay=0.01, hosts=["client", "server"])


async def _exchange(tcpsim, read_timeout):
    async def handle(reader, writer):
        await reader.readline()
        writer.write(b"bye\\n")
        writer.close()
        await asyncio.sleep(0.05)
        tcpsim.faults.crash("server")

    with tcpsim.host("server").current():
        await asyncio.start_server(handle, port=80)
    with tcpsim.host("client").current():
        reader, writer = await asyncio.open_connection("server", 80)
        writer.write(b"hi\\n")
        try:
            async with asyncio.timeout(read_timeout):
                return await reader.read()
        except TimeoutError:
            return None


@pytest.mark.tcpsim(explore="drop-each", **NETWORK)
async def test_no_read_timeout(tcpsim):
    assert await _exchange(tcpsim, None) == b"bye\\n"


@pytest.mark.tcpsim(explore="drop-each", **NETWORK)
async def test_read_timeout(tcpsim):
    assert await _exchange(tcpsim, 5.0) in (b"bye\\n", None)


@pytest.mark.tcpsim(explore=["drop-each", "duplicate-each", "delay-each"], **NETWORK)
def test_sync_body(tcpsim):
    server = tcpsim.host("server")
    listener = server.listen(80)
    tcpsim.host("client").connect(server.ip, 80)
    tcpsim.run_until_idle(limit=10.0)
    assert listener.accept() is not None
"""


def test_explore_marker_reports_the_faults_that_break_a_test(
    run: Callable[..., pytest.RunResult],
) -> None:
    result = run(EXPLORED)
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*explore='drop-each': 1 of 9 fault runs failed (seed 1; 9 segments in the clean run)",
            "replay the sweep: pytest *test_no_read_timeout --tcpsim-seed=1",
            "drop segment #7 (t=0.030000 s): server > client FIN|ACK*",
            "*failed: hang: the body was still running after 600 s of virtual time, waiting:",
            "*at test_explore_marker_reports_the_faults_that_break_a_test.py:22 in _exchange: "
            "return await reader.read()",
            "*as a rule: net.faults.drop(src='server', dst='client', flags='FIN|ACK'*",
            "*X------------ FIN|ACK*",
        ]
    )
    assert "aiotcpsim (seed" not in result.stdout.str()  # no section for the unused network


def test_explore_works_in_asyncio_auto_mode(
    run: Callable[..., pytest.RunResult],
) -> None:
    result = run(EXPLORED, "-o", "asyncio_mode=auto")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*explore='drop-each': 1 of 9 fault runs failed*"])


def test_explore_under_a_seed_sweep(run: Callable[..., pytest.RunResult]) -> None:
    result = run(EXPLORED, "--tcpsim-seeds=2", "-k", "no_read_timeout")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        ["replay the sweep: pytest *test_no_read_timeout[[]seed=1[]]* --tcpsim-seeds=1:2"]
    )


def test_explore_with_a_bad_mode_fails_clearly(run: Callable[..., pytest.RunResult]) -> None:
    result = run(
        """
        import pytest

        @pytest.mark.tcpsim(explore="lose-each")
        def test_x(tcpsim):
            pass
        """
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*@pytest.mark.tcpsim(explore='lose-each'): unknown explore mode 'lose-each'*"]
    )


def test_explore_workers_spread_the_runs_over_processes(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI)
    pytester.makepyfile(
        EXPLORED.replace('explore="drop-each"', 'explore="drop-each", explore_workers=2')
    )
    result = pytester.runpytest_subprocess(*PLUGIN_ARGS, "-p", "no:cacheprovider", "-k", "timeout")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["*explore='drop-each': 1 of 9 fault runs failed (seed 1; 9 segments in the clean run)"]
    )
