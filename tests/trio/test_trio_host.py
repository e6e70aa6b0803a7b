"""``open_network(net, host=...)``: the body and its nurseries run on that host."""

from __future__ import annotations

import pytest

pytest.importorskip("trio")

import trio
import trio.testing

import aiotcpsim
from aiotcpsim.stack.host import current_host
from aiotcpsim.trio_net import open_network


def _run(main: object) -> None:
    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))  # type: ignore[arg-type]


def test_open_network_host_makes_the_body_and_its_tasks_run_there() -> None:
    net = aiotcpsim.Network(seed=1)
    client = net.add_host("client")
    seen: list[object] = []

    async def child() -> None:
        seen.append(current_host())

    async def main() -> None:
        async with open_network(net, host="client"), trio.open_nursery() as nursery:
            seen.append(current_host())
            nursery.start_soon(child)
        seen.append(current_host())

    _run(main)
    assert seen == [client, client, None]


def test_open_network_host_partition_applies() -> None:
    net = aiotcpsim.Network(seed=1)
    client = net.add_host("client")
    server = net.add_host("server")

    async def main() -> None:
        async with open_network(net, host=client), trio.open_nursery() as nursery:
            with server.current():
                listeners = await nursery.start(trio.serve_tcp, trio.aclose_forcefully, 80)
            net.faults.partition("client", "server")
            with pytest.raises(OSError, match="all attempts to connect") as caught:
                await trio.open_tcp_stream("server", 80)
            assert "timed out" in repr(caught.value.__cause__)
            # serve_tcp closes its listeners (0.0.0.0 and ::) when cancelled; closing
            # one first would fail the task accepting on it.
            assert len(listeners) == 2
            nursery.cancel_scope.cancel()

    _run(main)


def test_open_network_unknown_host() -> None:
    net = aiotcpsim.Network(seed=1)

    async def main() -> None:
        with pytest.raises(ValueError, match="no such host"):
            async with open_network(net, host="nowhere"):
                pass

    _run(main)
