"""The pytest plugin (aiotcpsim.pytest_plugin), exercised through pytester."""

from __future__ import annotations

import asyncio
import sys
import types
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

import pytest

pytest_plugins = ["pytester"]

ENTRY_POINT_INSTALLED = any(
    ep.name == "aiotcpsim" and ep.value == "aiotcpsim.pytest_plugin"
    for ep in entry_points(group="pytest11")
)
# Without the installed entry point (a plain checkout), load the plugin by module name.
PLUGIN_ARGS = [] if ENTRY_POINT_INSTALLED else ["-p", "aiotcpsim.pytest_plugin"]

INI = """
[pytest]
asyncio_default_fixture_loop_scope = function
"""


def _has_virtual_loop() -> bool:
    try:
        from aiotcpsim.asyncio_loop import loop_factory  # noqa: F401
    except ImportError:
        return False
    return True


def _has_sim_transport() -> bool:
    try:
        from aiotcpsim.asyncio_loop import SimTransport  # noqa: F401
    except ImportError:
        return False
    return True


def _core_connects() -> bool:
    from aiotcpsim import Network

    net = Network()
    try:
        net.add_host("server").listen(80)
        net.add_host("client").connect("server", 80)
        net.run_until_idle(limit=5.0)
    except (TypeError, NotImplementedError, AttributeError):
        return False
    return len(net.trace) > 0


needs_virtual_loop = pytest.mark.skipif(
    not _has_virtual_loop(), reason="aiotcpsim.asyncio_loop.loop_factory is not available yet"
)
needs_sim_transport = pytest.mark.skipif(
    not (_has_virtual_loop() and _has_sim_transport()),
    reason="the asyncio transport over the simulated network is not available yet",
)
needs_core_tcp = pytest.mark.skipif(
    not _core_connects(), reason="the TCP core cannot open a connection yet"
)


def _section(result: pytest.RunResult) -> str:
    """The text of the aiotcpsim report section of a failed run."""
    lines = result.stdout.lines
    start = next(i for i, line in enumerate(lines) if "aiotcpsim (seed" in line)
    end = next(
        (i for i in range(start + 1, len(lines)) if lines[i].startswith(("___", "===", "---"))),
        len(lines),
    )
    return "\n".join(lines[start:end])


@pytest.fixture
def run(pytester: pytest.Pytester) -> Callable[..., pytest.RunResult]:
    pytester.makeini(INI)

    def run(source: str, *args: str) -> pytest.RunResult:
        pytester.makepyfile(source)
        return pytester.runpytest(*PLUGIN_ARGS, "--strict-markers", "-p", "no:cacheprovider", *args)

    return run


class _StubLoop(asyncio.SelectorEventLoop):
    """Stands in for VirtualTimeLoop to check the plugin's wiring alone."""

    def __init__(self, network: Any) -> None:
        super().__init__()
        self.network = network


@pytest.fixture
def stub_loop(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    made: list[Any] = []
    module = types.ModuleType("aiotcpsim.asyncio_loop")

    def loop_factory(network: Any = None, *, seed: int = 0) -> Callable[[], _StubLoop]:
        def factory() -> _StubLoop:
            loop = _StubLoop(network)
            made.append(loop)
            return loop

        return factory

    module.loop_factory = loop_factory  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "aiotcpsim.asyncio_loop", module)
    return made


# -- loading and inertness ----------------------------------------------------


def test_plugin_is_loaded_and_marker_registered(run: Callable[..., pytest.RunResult]) -> None:
    result = run(
        """
        import pytest

        @pytest.mark.tcpsim(seed=5)
        def test_marked(tcpsim):
            assert tcpsim.seed == 5
        """,
        "--markers",
    )
    result.stdout.fnmatch_lines(["@pytest.mark.tcpsim(*"])
    assert result.ret == 0


def test_loading_the_plugin_imports_no_adapter(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI)
    pytester.makepyfile(
        """
        import sys
        import pytest

        def test_plain():
            assert "aiotcpsim.asyncio_loop" not in sys.modules
            assert "aiotcpsim.trio_net" not in sys.modules

        @pytest.mark.asyncio
        async def test_async_plain():
            assert "aiotcpsim.asyncio_loop" not in sys.modules
        """
    )
    result = pytester.runpytest_subprocess(*PLUGIN_ARGS, "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_unmarked_asyncio_test_runs_on_the_normal_loop(
    run: Callable[..., pytest.RunResult],
) -> None:
    result = run(
        """
        import asyncio
        import time
        import pytest

        @pytest.mark.asyncio
        async def test_plain_loop():
            loop = asyncio.get_running_loop()
            assert type(loop).__module__.startswith("asyncio")
            assert not hasattr(loop, "network")
            assert abs(loop.time() - time.monotonic()) < 60
        """,
        "-v",
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*::test_plain_loop PASSED*"])


def test_unmarked_tests_keep_the_normal_loop_next_to_opted_in_ones(
    run: Callable[..., pytest.RunResult], stub_loop: list[Any]
) -> None:
    result = run(
        """
        import asyncio
        import time
        import pytest

        @pytest.mark.asyncio
        async def test_before():
            assert not hasattr(asyncio.get_running_loop(), "network")

        @pytest.mark.asyncio
        @pytest.mark.tcpsim(seed=2)
        async def test_marked(tcpsim):
            assert asyncio.get_running_loop().network is tcpsim

        @pytest.mark.asyncio
        async def test_after():
            loop = asyncio.get_running_loop()
            assert not hasattr(loop, "network")
            assert abs(loop.time() - time.monotonic()) < 60
        """,
        "-v",
    )
    result.assert_outcomes(passed=3)
    # test ids are unchanged by the loop-factory parametrization
    result.stdout.fnmatch_lines(
        ["*::test_before PASSED*", "*::test_marked PASSED*", "*::test_after PASSED*"]
    )
    assert len(stub_loop) == 1


# -- the network --------------------------------------------------------------


def test_fixture_in_a_sync_test_drives_the_network_by_hand(
    run: Callable[..., pytest.RunResult],
) -> None:
    result = run(
        """
        import pytest
        from aiotcpsim import Network, TcpConfig

        @pytest.mark.tcpsim(loss=0.25, seed=9, tcp=TcpConfig(syn_retries=2))
        def test_marked(tcpsim):
            assert isinstance(tcpsim, Network)
            assert tcpsim.seed == 9
            assert tcpsim.config.syn_retries == 2
            fired = []
            tcpsim.call_later(42.0, lambda: fired.append(tcpsim.now))
            tcpsim.run_until_idle()
            assert fired == [42.0]

        def test_unmarked_fixture(tcpsim):
            assert tcpsim.seed == 0
            assert tcpsim.now == 0.0

        @pytest.mark.tcpsim(4)
        def test_positional_seed(tcpsim):
            assert tcpsim.seed == 4
        """
    )
    result.assert_outcomes(passed=3)


def test_class_marker_and_function_marker_merge(run: Callable[..., pytest.RunResult]) -> None:
    result = run(
        """
        import pytest

        @pytest.mark.tcpsim(seed=1, loss=0.5)
        class TestGroup:
            @pytest.mark.tcpsim(seed=2)
            def test_inner(self, tcpsim):
                assert tcpsim.seed == 2
                assert tcpsim.link("localhost", "localhost").loss == 0.5
        """
    )
    result.assert_outcomes(passed=1)


def test_each_test_gets_its_own_network(run: Callable[..., pytest.RunResult]) -> None:
    result = run(
        """
        import pytest

        seen = []

        @pytest.mark.parametrize("n", [1, 2])
        def test_param(tcpsim, n):
            seen.append(tcpsim)
            tcpsim.add_host(f"h{n}")
            assert len(tcpsim.hosts) == 2   # localhost and this test's host

        def test_distinct():
            assert seen[0] is not seen[1]
        """
    )
    result.assert_outcomes(passed=3)


def test_bad_marker_arguments_fail_clearly(run: Callable[..., pytest.RunResult]) -> None:
    result = run(
        """
        import pytest

        @pytest.mark.tcpsim(los=0.1)
        def test_typo(tcpsim):
            pass
        """
    )
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*@pytest.mark.tcpsim(los=0.1): *'los'*"])
    assert "During handling" not in result.stdout.str()


# -- seeds and failure reports ------------------------------------------------

FAILING = """
import pytest

@pytest.mark.tcpsim(seed=3)
def test_fails(tcpsim):
    a = tcpsim.add_host("a")
    b = tcpsim.add_host("b")
    tcpsim.note("a", "marker-note-for-the-trace")
    assert False, "boom"
"""


def test_failure_report_shows_seed_and_trace_tail(run: Callable[..., pytest.RunResult]) -> None:
    result = run(FAILING)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*aiotcpsim (seed 3)*",
            "seed: 3*",
            "replay: pytest *test_fails* --tcpsim-seed=3",
        ]
    )
    assert "marker-note-for-the-trace" in _section(result)


@needs_core_tcp
def test_failure_report_contains_segments(run: Callable[..., pytest.RunResult]) -> None:
    result = run(
        """
        import pytest

        @pytest.mark.tcpsim(seed=8)
        def test_handshake_then_fail(tcpsim):
            server = tcpsim.add_host("server")
            client = tcpsim.add_host("client")
            server.listen(80)
            client.connect("server", 80)
            tcpsim.run_until_idle(limit=5.0)
            assert False, "after the handshake"
        """
    )
    result.assert_outcomes(failed=1)
    section = _section(result)
    assert "aiotcpsim (seed 8)" in section
    assert "ladder" in section
    assert "SYN" in section


def test_seed_option_overrides_marker(run: Callable[..., pytest.RunResult]) -> None:
    result = run(FAILING, "--tcpsim-seed=11")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*aiotcpsim: --tcpsim-seed=11*", "*aiotcpsim (seed 11)*"])
    assert "seed 3" not in result.stdout.str()


def test_passing_test_has_no_report_section(run: Callable[..., pytest.RunResult]) -> None:
    result = run(
        """
        import pytest

        @pytest.mark.tcpsim(seed=3)
        def test_ok(tcpsim):
            pass
        """,
        "-rA",
    )
    result.assert_outcomes(passed=1)
    assert "aiotcpsim (seed" not in result.stdout.str()


def test_seed_is_a_junit_property(
    run: Callable[..., pytest.RunResult], pytester: pytest.Pytester
) -> None:
    result = run(
        """
        import pytest

        @pytest.mark.tcpsim(seed=21)
        def test_ok(tcpsim):
            pass
        """,
        "--junitxml=out.xml",
        "-o",
        "junit_family=xunit1",
    )
    result.assert_outcomes(passed=1)
    xml = (pytester.path / "out.xml").read_text()
    assert 'name="tcpsim_seed" value="21"' in xml


# -- asyncio tests on the virtual-time loop -----------------------------------


def test_marked_asyncio_test_gets_the_loop_of_its_network(
    run: Callable[..., pytest.RunResult], stub_loop: list[Any]
) -> None:
    result = run(
        """
        import asyncio
        import pytest
        import pytest_asyncio

        @pytest_asyncio.fixture
        async def loop_in_fixture():
            return asyncio.get_running_loop()

        @pytest.mark.asyncio
        @pytest.mark.tcpsim(seed=6)
        async def test_marked(loop_in_fixture, tcpsim):
            loop = asyncio.get_running_loop()
            assert loop is loop_in_fixture
            assert loop.network is tcpsim
            assert tcpsim.seed == 6

        @pytest.mark.asyncio
        async def test_fixture_alone_opts_in(tcpsim):
            assert asyncio.get_running_loop().network is tcpsim

        @pytest.mark.asyncio
        @pytest.mark.tcpsim
        async def test_marker_alone_opts_in():
            assert asyncio.get_running_loop().network.seed == 0
        """
    )
    result.assert_outcomes(passed=3)
    assert len(stub_loop) == 3


def test_marked_asyncio_test_needs_function_loop_scope(
    run: Callable[..., pytest.RunResult], stub_loop: list[Any]
) -> None:
    result = run(
        """
        import pytest

        @pytest.mark.asyncio(loop_scope="module")
        @pytest.mark.tcpsim
        async def test_module_loop(tcpsim):
            pass
        """
    )
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*needs a function-scoped event loop*'module'*"])
    assert stub_loop == []


def test_marker_wins_over_a_conftest_loop_factory_hook(
    run: Callable[..., pytest.RunResult], pytester: pytest.Pytester, stub_loop: list[Any]
) -> None:
    pytester.makeconftest(
        """
        import asyncio

        class PlainLoop(asyncio.SelectorEventLoop):
            pass

        def pytest_asyncio_loop_factories(config, item):
            return {"plain": PlainLoop}
        """
    )
    result = run(
        """
        import asyncio
        import pytest

        @pytest.mark.asyncio
        @pytest.mark.tcpsim
        async def test_marked(tcpsim):
            assert asyncio.get_running_loop().network is tcpsim

        @pytest.mark.asyncio
        async def test_plain():
            assert type(asyncio.get_running_loop()).__name__ == "PlainLoop"
        """
    )
    result.assert_outcomes(passed=2)


def test_conftest_loop_factory_hook_can_delegate(
    run: Callable[..., pytest.RunResult], pytester: pytest.Pytester, stub_loop: list[Any]
) -> None:
    pytester.makeconftest(
        """
        import asyncio
        from aiotcpsim.pytest_plugin import tcpsim_loop_factories

        def pytest_asyncio_loop_factories(config, item):
            return tcpsim_loop_factories(config, item) or {"plain": asyncio.new_event_loop}
        """
    )
    result = run(
        """
        import asyncio
        import pytest

        @pytest.mark.asyncio
        async def test_plain_first():
            assert not hasattr(asyncio.get_running_loop(), "network")

        @pytest.mark.asyncio
        @pytest.mark.tcpsim
        async def test_marked(tcpsim):
            assert asyncio.get_running_loop().network is tcpsim
        """
    )
    result.assert_outcomes(passed=2)


def test_loop_factory_selection_without_aiotcpsim_is_reported(
    run: Callable[..., pytest.RunResult], pytester: pytest.Pytester, stub_loop: list[Any]
) -> None:
    pytester.makeconftest(
        """
        import asyncio

        def pytest_asyncio_loop_factories(config, item):
            return {"plain": asyncio.new_event_loop}
        """
    )
    result = run(
        """
        import pytest

        @pytest.mark.asyncio(loop_factories=["plain"])
        @pytest.mark.tcpsim
        async def test_marked(tcpsim):
            pass
        """,
        "-rs",
    )
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*'plain' is not available*aiotcpsim*"])


@needs_virtual_loop
def test_sleep_an_hour_on_virtual_time(run: Callable[..., pytest.RunResult]) -> None:
    result = run(
        """
        import asyncio
        import time
        import pytest

        @pytest.mark.asyncio
        @pytest.mark.tcpsim(seed=1)
        async def test_hour(tcpsim):
            loop = asyncio.get_running_loop()
            assert loop.network is tcpsim
            start = time.monotonic()
            await asyncio.sleep(3600)
            assert loop.time() == 3600
            assert time.monotonic() - start < 60
        """
    )
    result.assert_outcomes(passed=1)


@needs_sim_transport
def test_virtual_time_failure_reports_seed_and_segments(
    run: Callable[..., pytest.RunResult],
) -> None:
    result = run(
        """
        import asyncio
        import pytest

        @pytest.mark.asyncio
        @pytest.mark.tcpsim(seed=3)
        async def test_echo_then_fail(tcpsim):
            async def handle(reader, writer):
                writer.write(await reader.read(100))
                await writer.drain()
                writer.close()

            server = await asyncio.start_server(handle, "127.0.0.1", 8080)
            reader, writer = await asyncio.open_connection("127.0.0.1", 8080)
            writer.write(b"ping")
            assert await reader.read(100) == b"ping"
            writer.close()
            server.close()
            assert False, "fail on purpose"
        """,
        "--tcpsim-seed=12",
    )
    result.assert_outcomes(failed=1)
    section = _section(result)
    assert "aiotcpsim (seed 12)" in section
    assert "--tcpsim-seed=12" in section
    assert "SYN" in section


@needs_sim_transport
def test_anyio_backend_recipe(run: Callable[..., pytest.RunResult]) -> None:
    pytest.importorskip("anyio")
    result = run(
        """
        import asyncio
        import anyio
        import pytest

        @pytest.fixture
        def anyio_backend(tcpsim):
            from aiotcpsim.asyncio_loop import loop_factory

            return ("asyncio", {"loop_factory": loop_factory(tcpsim)})

        @pytest.mark.anyio
        @pytest.mark.tcpsim(seed=4)
        async def test_refused(tcpsim):
            assert asyncio.get_running_loop().network is tcpsim
            await anyio.sleep(100)
            assert asyncio.get_running_loop().time() == 100
            with pytest.raises(OSError):
                await anyio.connect_tcp("localhost", 1)
            # localhost is ::1 then 127.0.0.1: both attempts refused
            assert tcpsim.statistics()["resets_sent"] == 2
        """
    )
    result.assert_outcomes(passed=1)


# -- looptime -----------------------------------------------------------------

FAKE_LOOPTIME = """
import pytest

def pytest_addoption(parser):
    parser.addoption("--looptime", dest="looptime", action="store_const", const=True)
    parser.addoption("--no-looptime", dest="looptime", action="store_const", const=False)

def pytest_configure(config):
    config.addinivalue_line("markers", "looptime: fake looptime")
"""


def test_looptime_on_the_same_test_is_a_usage_error(
    run: Callable[..., pytest.RunResult], pytester: pytest.Pytester
) -> None:
    pytester.makepyfile(looptime=FAKE_LOOPTIME)
    pytester.syspathinsert()
    source = """
        import pytest

        @pytest.mark.tcpsim
        def test_both(tcpsim):
            pass

        def test_plain():
            pass
    """
    result = run(source, "-p", "looptime", "--looptime")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*aiotcpsim and looptime*test_both*"])

    # looptime installed but not active for the opted-in test: fine
    result = run(source, "-p", "looptime")
    result.assert_outcomes(passed=2)


@needs_sim_transport
def test_marker_hosts_and_host_run_the_body_on_that_host(
    run: Callable[..., pytest.RunResult],
) -> None:
    result = run(
        """
        import asyncio
        import pytest
        from aiotcpsim.stack.host import current_host

        @pytest.mark.asyncio
        @pytest.mark.tcpsim(hosts=["client", "server"], host="client")
        async def test_on_client(tcpsim):
            assert [h.name for h in tcpsim.hosts if h.name != "localhost"] == [
                "client", "server"
            ]
            assert current_host() is tcpsim.host("client")
            tcpsim.faults.partition("client", "server")

            async def handle(reader, writer):
                writer.close()

            with tcpsim.host("server").current():
                srv = await asyncio.start_server(handle, port=80)
            with pytest.raises(TimeoutError):
                await asyncio.open_connection("server", 80)
            srv.close()
            await srv.wait_closed()

        @pytest.mark.asyncio
        @pytest.mark.tcpsim(host="nowhere")
        async def test_unknown_host():
            pass
        """,
    )
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*tcpsim(host='nowhere'): host='nowhere': no such host*"])
