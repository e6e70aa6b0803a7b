"""A host crash ends the trio application running there; restart(app=) starts it again."""

from __future__ import annotations

import functools
import gc

import pytest

pytest.importorskip("trio")

import trio
import trio.testing

import aiotcpsim
from aiotcpsim.trio_net import open_network


def _run(main: object) -> None:
    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))  # type: ignore[arg-type]


def _network() -> tuple[aiotcpsim.Network, aiotcpsim.Host, aiotcpsim.Host]:
    net = aiotcpsim.Network(seed=3, delay=0.01)
    return net, net.add_host("client"), net.add_host("server")


def test_crash_cancels_the_handler_and_closes_the_listener() -> None:
    net, client, server = _network()
    seen: list[str] = []

    async def handler(stream: trio.SocketStream) -> None:
        try:
            await stream.receive_some(100)  # blocked: the client sends nothing
        except trio.Cancelled:
            seen.append("cancelled")
            await stream.aclose()  # finally-time I/O: nothing reaches the wire
            raise

    async def main() -> None:
        async with open_network(net, host=client), trio.open_nursery() as nursery:
            with server.current():
                listeners = await nursery.start(trio.serve_tcp, handler, 80)
            stream = await trio.open_tcp_stream("server", 80)
            await trio.sleep(1)
            sent = net.stats["segments_sent"]
            net.faults.crash("server")
            await trio.sleep(1)
            assert seen == ["cancelled"]
            assert net.stats["segments_sent"] == sent  # a crashed machine sends nothing
            assert server.listener(80) is None
            with pytest.raises(trio.ClosedResourceError):
                await listeners[0].accept()
            # serve_tcp returned: its nursery was cancelled, nothing is left to wait for.
            assert len(nursery.child_tasks) == 0
            await stream.aclose()

    _run(main)
    gc.collect()


def test_client_sees_a_reset_after_the_restart() -> None:
    net, client, server = _network()

    async def handler(stream: trio.SocketStream) -> None:
        await stream.receive_some(100)

    async def main() -> None:
        async with open_network(net, host=client), trio.open_nursery() as nursery:
            with server.current():
                await nursery.start(trio.serve_tcp, handler, 80)
            stream = await trio.open_tcp_stream("server", 80)
            net.faults.crash("server")
            net.faults.restart("server", at=net.now + 2.0)
            await stream.send_all(b"hello")  # lost while the host is down, retransmitted
            with pytest.raises(trio.BrokenResourceError) as caught:
                await stream.receive_some(100)
            assert isinstance(caught.value.__cause__, ConnectionResetError)
            assert 2.0 < trio.current_time() < 10.0
            await stream.aclose()

    _run(main)


def test_restart_runs_the_app_and_clients_reconnect() -> None:
    net, client, server = _network()
    starts: list[float] = []

    async def echo(stream: trio.SocketStream) -> None:
        await stream.send_all(await stream.receive_some(100))
        await stream.aclose()

    async def serve() -> None:
        starts.append(trio.current_time())
        await trio.serve_tcp(echo, 80)

    async def ask() -> bytes:
        stream = await trio.open_tcp_stream("server", 80)
        await stream.send_all(b"ping")
        answer = await stream.receive_some(100)
        await stream.aclose()
        return answer

    async def main() -> None:
        async with open_network(net, host=client):
            server.start_app(serve)
            await trio.sleep(0.5)
            assert await ask() == b"ping"
            net.faults.crash("server")
            with trio.move_on_after(5.0) as scope:
                await ask()  # SYNs lost while the host is down
            assert scope.cancelled_caught
            net.faults.restart("server", app=serve)
            await trio.sleep(0.5)
            assert await ask() == b"ping"
            net.faults.crash("server")  # the restarted app ends too
            await trio.sleep(0.1)
            assert len(starts) == 2

    _run(main)


def test_app_error_is_raised_when_the_network_closes() -> None:
    net, client, server = _network()

    async def broken() -> None:
        raise ValueError("boom")

    async def body() -> None:
        async with open_network(net, host=client):
            net.faults.restart(server, app=functools.partial(broken))
            await trio.sleep(1)

    async def main() -> None:
        with pytest.raises(ValueError, match="boom"):
            await body()

    _run(main)


def test_localhost_warning_when_host_is_forgotten() -> None:
    net, client, server = _network()

    async def main() -> None:
        async with open_network(net), trio.open_nursery() as nursery:
            with server.current():
                await nursery.start(trio.serve_tcp, trio.aclose_forcefully, 80)
            net.faults.partition(client, server)
            with pytest.warns(aiotcpsim.LocalhostWarning, match="from host 'localhost'"):
                stream = await trio.open_tcp_stream("server", 80)
            await stream.aclose()
            nursery.cancel_scope.cancel()

    _run(main)


def test_no_localhost_warning_with_host() -> None:
    net, client, server = _network()

    async def main() -> None:
        async with open_network(net, host=client), trio.open_nursery() as nursery:
            with server.current():
                await nursery.start(trio.serve_tcp, trio.aclose_forcefully, 80)
            net.faults.partition(client, server)
            with trio.move_on_after(2.0):
                await trio.open_tcp_stream("server", 80)  # warnings are errors
            nursery.cancel_scope.cancel()

    _run(main)


def test_a_hosts_task_in_another_hosts_nursery_ends_quietly() -> None:
    net, client, server = _network()
    ended: list[str] = []

    async def idle() -> None:
        try:
            await trio.sleep_forever()
        finally:
            ended.append("finally")

    async def main() -> None:
        async with open_network(net, host=client), trio.open_nursery() as nursery:
            with server.current():
                nursery.start_soon(idle)
            nursery.start_soon(trio.sleep, 5)  # a task of the client's: unharmed
            await trio.sleep(1)
            net.faults.crash(server)
            await trio.sleep(1)
            assert ended == ["finally"]
            assert len(nursery.child_tasks) == 1
        assert trio.current_time() == 5

    _run(main)


def test_an_app_ends_with_the_network() -> None:
    net, client, server = _network()

    async def serve() -> None:
        await trio.serve_tcp(trio.aclose_forcefully, 80)

    async def main() -> None:
        async with open_network(net, host=client):
            server.start_app(serve)
            await trio.sleep(1)
            assert server.listener(80) is not None
        await trio.sleep(1)  # the app was cancelled: no error, no hang

    _run(main)
