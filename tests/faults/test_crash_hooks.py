"""The core's side of a crash (the hook the adapters watch) and the
LocalhostWarning, sans-I/O: no event loop."""

from __future__ import annotations

import warnings

import pytest

import aiotcpsim
from aiotcpsim.stack.host import App, Host


class Watcher:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, int]] = []
        self.apps: list[App] = []

    def host_crashed(self, host: Host) -> None:
        # Called once the host's TCBs and listeners are gone.
        self.events.append(("crashed", host.name, host.connection_count()))
        assert host.listener(80) is None

    def start_app(self, host: Host, app: App) -> None:
        self.events.append(("start", host.name, int(host.up)))
        self.apps.append(app)


def _net() -> tuple[aiotcpsim.Network, Host, Host]:
    net = aiotcpsim.Network(seed=1, delay=0.01)
    return net, net.add_host("client"), net.add_host("server")


def test_crash_tells_every_watcher_after_the_tcbs_are_gone() -> None:
    net, client, server = _net()
    first, second = Watcher(), Watcher()
    net.watch_hosts(first)
    net.watch_hosts(second)
    server.listen(80)
    client.connect("server", 80)
    net.run_until_idle(1.0)
    assert server.connection_count() == 1
    net.faults.crash(server)
    assert first.events == second.events == [("crashed", "server", 0)]
    net.unwatch_hosts(first)
    net.faults.crash(server)
    assert len(first.events) == 1
    assert len(second.events) == 2


def test_restart_with_an_app_asks_the_last_watcher_to_start_it() -> None:
    net, _, _ = _net()
    first, second = Watcher(), Watcher()
    net.watch_hosts(first)
    net.watch_hosts(second)

    async def app() -> None:
        pass

    net.faults.crash("server")
    net.faults.restart("server", at=5.0, app=app)
    net.run_until_idle(10.0)
    assert first.apps == []
    assert second.apps == [app]
    assert second.events[-1] == ("start", "server", 1)  # started once the host is up


def test_localhost_warning_once_per_network() -> None:
    net, _, server = _net()
    server.listen(80)
    net.faults.partition("client", "server")
    with pytest.warns(aiotcpsim.LocalhostWarning, match="ignores the partition client <-> server"):
        net.localhost.connect("server", 80)
    net.localhost.connect("server", 80)  # once is enough (warnings are errors here)


@pytest.mark.parametrize(
    "fault",
    [
        lambda net: net.faults.partition("server"),  # from every host, localhost included
        lambda net: net.faults.drop(dst="server"),  # acts on localhost's segments too
        lambda net: net.faults.drop(flags="SYN"),  # names no host
        lambda net: net.faults.hold_link("localhost", "server"),
    ],
)
def test_no_localhost_warning_for_a_fault_that_applies(fault: object) -> None:
    net, _, server = _net()
    server.listen(80)
    fault(net)  # type: ignore[operator]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        net.localhost.connect("server", 80)


@pytest.mark.parametrize(
    "fault",
    [
        lambda net: net.faults.drop(src="client", dst="server"),
        lambda net: net.faults.hold_link("client", "server"),
    ],
)
def test_localhost_warning_for_rules_and_holds(fault: object) -> None:
    net, _, server = _net()
    server.listen(80)
    fault(net)  # type: ignore[operator]
    with pytest.warns(aiotcpsim.LocalhostWarning, match=r"with host\.current\(\)"):
        net.localhost.connect("server", 80)


def test_named_hosts_draw_no_localhost_warning() -> None:
    net, client, server = _net()
    server.listen(80)
    net.faults.partition("client", "server")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        client.connect("server", 80)
        server.connect("client", 81)
