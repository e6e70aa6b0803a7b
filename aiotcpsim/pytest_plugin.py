"""pytest plugin: a simulated network per test, asyncio tests on virtual time.

Rule owned here: the plugin is inert until a test opts in (the ``tcpsim``
marker or fixture), and then that test -- and only that test -- gets one
network and, for asyncio, one virtual-time loop driving it.

Loaded through the ``pytest11`` entry point ``aiotcpsim`` (or ``-p aiotcpsim``)
and inert until a test opts in.  A test opts in with the marker, or by asking
for the ``tcpsim`` fixture::

    @pytest.mark.asyncio
    @pytest.mark.tcpsim(loss=0.1, seed=3, tcp=TcpConfig(syn_retries=3))
    async def test_client_survives_loss(tcpsim):
        server = tcpsim.add_host("server")
        ...                          # asyncio.sleep(3600) takes no real time

    def test_pure(tcpsim):           # a sync test drives the network by hand
        ...
        tcpsim.run_until_idle()

The marker's keyword arguments (and a single positional seed) go to
:class:`aiotcpsim.Network`; markers on classes and modules apply too, the
closest one winning per keyword.  ``--tcpsim-seed=N`` overrides every seed;
``--tcpsim-seeds=N`` (or ``START:STOP``) runs each test under many seeds, and
``explore="drop-each"`` sweeps one fault per segment (:mod:`aiotcpsim.pytest_sweeps`).
Two keywords are the plugin's own: ``hosts=["client", "server"]`` adds
those hosts to the network, and ``host="client"`` runs an asyncio test's
body (and the tasks it starts) on that host, as if inside
``with client.current():`` -- the host must exist when the loop is made, so
name it in ``hosts=``.

An opted-in asyncio test (pytest-asyncio >= 1.4) runs on
:class:`aiotcpsim.asyncio_loop.VirtualTimeLoop` driving the test's network,
through pytest-asyncio's ``pytest_asyncio_loop_factories`` hook; its loop
scope must be ``function`` (the default).

When a test that has a network fails, its report gets an ``aiotcpsim``
section: the seed; the command that replays the test with that seed, to run
from the directory pytest was started in (``pytest 'tests/x.py::test_y'
--tcpsim-seed=N``); the directory where the run's artifacts were written --
``trace.txt`` (every trace record), ``ladder.txt`` (every connection's
ladder in full), ``trace.pcap``, ``ladder.svg`` and ``report.html`` --,
chosen by ``--tcpsim-artifacts=DIR`` (one subdirectory per test; default
``tcpsim-artifacts/`` under pytest's base temporary directory, ``off`` for
none); whether the bounded trace dropped older records; and one ladder per
connection, its ends labelled ``host ip:port``, cut to the rows that matter
(``--tcpsim-ladder=N|all``, default 40 rows per connection, 0 for none; see
:mod:`aiotcpsim.pictures.text`), lost, delayed, duplicated and retransmitted
segments marked.

About the hook: pytest-asyncio insists that once any implementation of
``pytest_asyncio_loop_factories`` exists, it answers for every asyncio test.
This plugin therefore registers its implementation (a hook wrapper) only
when collection meets the first test that opts in.  It answers for the
tests that opted in, whatever other implementations (a project's
``conftest.py``) say; for the other tests it passes on their answer, or,
when there is none, ``asyncio.new_event_loop``: the loop they get anyway.
One cost remains, from pytest-asyncio (1.5) itself: while a loop-factory
hook is active, async fixtures of a wider scope (session, module) used by
function-loop tests are set up again for every test; projects that rely on
such fixtures can keep their aiotcpsim tests in a separate pytest run.

anyio tests (``@pytest.mark.anyio``) get the network's loop through anyio's
own backend options, in the test module or ``conftest.py``::

    @pytest.fixture
    def anyio_backend(tcpsim):
        from aiotcpsim.asyncio_loop import loop_factory

        return ("asyncio", {"loop_factory": loop_factory(tcpsim)})

The ``looptime`` plugin patches the same loops for the same purpose; a test
that has both active is a usage error.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping
from typing import TYPE_CHECKING, Any

import pytest

from . import pytest_report, pytest_sweeps

if TYPE_CHECKING:
    import asyncio

    from aiotcpsim.net import Network

__all__ = ["tcpsim", "tcpsim_loop_factories"]

MARKER = "tcpsim"
FIXTURE = "tcpsim"
LOOP_FACTORY_NAME = "aiotcpsim"

_NETWORK = pytest.StashKey["Network"]()
_LOOP_MADE = pytest.StashKey[bool]()
_STATE = pytest.StashKey["_PluginState"]()


class _PluginState:
    """Per-session state, kept in ``config.stash`` (pytester runs nest sessions)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.current_item: pytest.Item | None = None
        self.hook_registered = False

    def make_loop(self) -> asyncio.AbstractEventLoop:
        """The loop factory handed to pytest-asyncio for an opted-in test."""
        item = self.current_item
        if item is None:
            raise RuntimeError(
                "aiotcpsim's loop factory was called outside a test's setup; "
                "@pytest.mark.tcpsim needs a function-scoped event loop"
            )
        network = _network_for(item)
        from aiotcpsim.asyncio_loop import loop_factory

        host = _network_arguments(item).get("host")
        try:
            loop = loop_factory(network, **({} if host is None else {"host": host}))()
        except (TypeError, ValueError) as exc:
            problem = str(exc)
        else:
            problem = ""
        if problem:
            pytest.fail(f"@pytest.mark.{MARKER}(host={host!r}): {problem}", pytrace=False)
        item.stash[_LOOP_MADE] = True
        return loop


def _state(config: pytest.Config) -> _PluginState:
    state = config.stash.get(_STATE, None)
    if state is None:
        state = config.stash[_STATE] = _PluginState(config)
    return state


# -- options, marker ----------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("aiotcpsim", "aiotcpsim simulated network")
    group.addoption(
        "--tcpsim-seed",
        dest="tcpsim_seed",
        type=int,
        default=None,
        metavar="SEED",
        help="seed of every aiotcpsim network, overriding @pytest.mark.tcpsim(seed=...)",
    )
    pytest_report.add_options(group)
    pytest_sweeps.add_options(group)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(seed=0, *, loss=..., delay=..., tcp=TcpConfig(...), hosts=[...], "
        "host=NAME, explore='drop-each', ...): "
        "give the test an aiotcpsim.Network built with these arguments (fixture "
        f"'{FIXTURE}') and run it, if it is an asyncio test, on the network's "
        "virtual-time event loop",
    )
    _state(config)
    _register_sweeps(config)


def _register_sweeps(config: pytest.Config) -> None:
    """Seed sweeps and fault sweeps (``--tcpsim-seeds``, ``explore=``): see
    :mod:`aiotcpsim.pytest_sweeps`."""
    if not config.pluginmanager.has_plugin("aiotcpsim-sweeps"):
        plugin = pytest_sweeps.SweepPlugin(config, _network_arguments, _forget_network, _opted_in)
        config.pluginmanager.register(plugin, "aiotcpsim-sweeps")


def pytest_report_header(config: pytest.Config) -> str | None:
    seed = config.getoption("tcpsim_seed", None)
    return None if seed is None else f"aiotcpsim: --tcpsim-seed={seed}"


# -- which tests opted in -----------------------------------------------------


def _opted_in(node: pytest.Item) -> bool:
    return node.get_closest_marker(MARKER) is not None or FIXTURE in getattr(
        node, "fixturenames", ()
    )


def _is_asyncio_test(item: pytest.Item) -> bool:
    try:
        from pytest_asyncio import is_async_test
    except ImportError:  # pragma: no cover - pytest-asyncio is not installed
        return False
    return is_async_test(item)


def _loop_scope(item: pytest.Item) -> str:
    marker = item.get_closest_marker("asyncio")
    scope = None
    if marker is not None:
        scope = marker.kwargs.get("loop_scope") or marker.kwargs.get("scope")
    if not scope:
        try:
            scope = item.config.getini("asyncio_default_test_loop_scope")
        except ValueError:  # pragma: no cover - pytest-asyncio without the option
            scope = None
    return str(scope or "function")


def _looptime_active(item: pytest.Item) -> bool:
    config = item.config
    if not config.pluginmanager.has_plugin("looptime"):
        return False
    flag = config.getoption("looptime", None)
    if flag is False:
        return False
    return flag is True or item.get_closest_marker("looptime") is not None


def tcpsim_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]] | None:
    """pytest-asyncio loop factories for an item that opted in, else None.

    For a ``pytest_asyncio_loop_factories`` implementation in a project's
    ``conftest.py`` that must also serve aiotcpsim's tests.
    """
    if not _opted_in(item):
        return None
    return {LOOP_FACTORY_NAME: _state(config).make_loop}


class _LoopFactoryHook:
    """Registered on the plugin manager once a test opts in (see the module doc)."""

    @pytest.hookimpl(wrapper=True)
    def pytest_asyncio_loop_factories(
        self, config: pytest.Config, item: pytest.Item
    ) -> Generator[
        None,
        Mapping[str, Callable[[], asyncio.AbstractEventLoop]] | None,
        Mapping[str, Callable[[], asyncio.AbstractEventLoop]],
    ]:
        others = yield
        ours = tcpsim_loop_factories(config, item)
        if ours is not None:
            return ours
        if others is not None:
            return others
        import asyncio

        return {"asyncio": asyncio.new_event_loop}


@pytest.hookimpl(wrapper=True)
def pytest_generate_tests(metafunc: pytest.Metafunc) -> Generator[None, None, None]:
    # Runs before pytest-asyncio's implementation, which asks for loop factories.
    definition = metafunc.definition
    state = _state(metafunc.config)
    if not state.hook_registered and (
        definition.get_closest_marker(MARKER) is not None or FIXTURE in metafunc.fixturenames
    ):
        pluginmanager = metafunc.config.pluginmanager
        if hasattr(pluginmanager.hook, "pytest_asyncio_loop_factories"):  # pytest-asyncio >= 1.4
            pluginmanager.register(_LoopFactoryHook(), "aiotcpsim-loop-factories")
        state.hook_registered = True
    return (yield)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    clashing = [item.nodeid for item in items if _opted_in(item) and _looptime_active(item)]
    if clashing:
        raise pytest.UsageError(
            "aiotcpsim and looptime both want to run these tests on their own virtual "
            "clock: " + ", ".join(clashing) + ". aiotcpsim's loop already skips "
            "idle time; remove @pytest.mark.looptime / --looptime for them, or run "
            "with -p no:looptime."
        )


# -- per test -----------------------------------------------------------------


def _network_arguments(item: pytest.Item) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    for mark in reversed(list(item.iter_markers(MARKER))):  # farthest first
        if len(mark.args) > 1:
            raise pytest.UsageError(
                f"{item.nodeid}: @pytest.mark.{MARKER} takes at most one positional "
                f"argument (the seed), got {mark.args!r}"
            )
        if mark.args:
            kwargs["seed"] = mark.args[0]
        kwargs.update(mark.kwargs)
    seed = item.config.getoption("tcpsim_seed", None)
    if seed is not None:
        kwargs["seed"] = seed
    swept = pytest_sweeps.swept_seed(item)
    if swept is not None:
        kwargs["seed"] = swept
    return kwargs


def _forget_network(item: pytest.Item) -> None:
    """Drop the network of ``item`` (a fault sweep reports its own runs)."""
    if _NETWORK in item.stash:
        del item.stash[_NETWORK]


def _network_for(item: pytest.Item) -> Network:
    network = item.stash.get(_NETWORK, None)
    if network is None:
        from aiotcpsim.net import Network

        kwargs = _network_arguments(item)
        hosts = kwargs.pop("hosts", ())
        try:
            network = Network(
                **{
                    k: v
                    for k, v in kwargs.items()
                    if k != "host" and k not in pytest_sweeps.EXPLORE_KEYWORDS
                }
            )
            for name in [hosts] if isinstance(hosts, str) else hosts:
                network.add_host(name)
        except (TypeError, ValueError) as exc:
            problem = str(exc)
        else:
            problem = ""
        if problem:
            shown = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
            pytest.fail(f"@pytest.mark.{MARKER}({shown}): {problem}", pytrace=False)
        assert network is not None
        item.stash[_NETWORK] = network
        item.user_properties.append(("tcpsim_seed", network.seed))
    return network


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, object, object]:
    state = _state(item.config)
    previous, state.current_item = state.current_item, item
    try:
        return (yield)
    finally:
        state.current_item = previous


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    if not _opted_in(item) or not _is_asyncio_test(item):
        return
    scope = _loop_scope(item)
    if scope != "function":
        pytest.fail(
            f"@pytest.mark.{MARKER} needs a function-scoped event loop (one network per "
            f"test), but this test's loop scope is {scope!r}: use "
            "@pytest.mark.asyncio(loop_scope='function')",
            pytrace=False,
        )


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> None:
    if not _opted_in(item) or not _is_asyncio_test(item) or item.stash.get(_LOOP_MADE, False):
        return
    pytest.fail(
        f"@pytest.mark.{MARKER}: this asyncio test does not run on aiotcpsim's loop. "
        "It needs pytest-asyncio >= 1.4 (the pytest_asyncio_loop_factories hook), and "
        "no @pytest.mark.asyncio(loop_factories=[...]) that leaves out "
        f"{LOOP_FACTORY_NAME!r}.",
        pytrace=False,
    )


@pytest.fixture
def tcpsim(request: pytest.FixtureRequest) -> Network:
    """The test's :class:`aiotcpsim.Network` (see ``@pytest.mark.tcpsim``).

    In an asyncio test it is the network that the test's event loop drives;
    in a sync test, drive it by hand (``advance``, ``run_until_idle``).
    """
    return _network_for(request.node)


# -- failure reports (aiotcpsim.pytest_report says what they hold) ------------

_REPORTED = pytest.StashKey[str]()


@pytest.hookimpl(trylast=True)
def pytest_itemcollected(item: pytest.Item) -> None:
    # The default artifacts directory is under pytest's basetemp, which only the
    # tmp_path_factory fixture hands out: an opted-in test requests it too.
    if (
        isinstance(item, pytest.Function)
        and _opted_in(item)
        and "tmp_path_factory" not in item.fixturenames
    ):
        item.fixturenames.append("tmp_path_factory")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    network = item.stash.get(_NETWORK, None)
    if network is not None and report.failed:
        text = item.stash.get(_REPORTED, None)
        if text is None:  # once per test, at its first failing phase
            text = item.stash[_REPORTED] = pytest_report.report_text(item, network)
        report.sections.append((f"aiotcpsim (seed {network.seed})", text))
    return report
