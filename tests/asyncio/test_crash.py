"""A host crash ends the asyncio application running there; restart(app=) starts it again."""

from __future__ import annotations

import asyncio
import gc

import pytest

import aiotcpsim


def _network() -> tuple[aiotcpsim.Network, aiotcpsim.Host, aiotcpsim.Host]:
    net = aiotcpsim.Network(seed=3, delay=0.01)
    return net, net.add_host("client"), net.add_host("server")


def test_crash_cancels_the_handler_and_closes_the_server() -> None:
    net, client, server = _network()
    seen: list[str] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.read(100)  # blocked: the client sends nothing
        except asyncio.CancelledError as exc:
            seen.append(f"cancelled: {exc}")
            writer.close()  # finally-time I/O: nothing reaches the wire
            raise

    async def main() -> None:
        with server.current():
            srv = await asyncio.start_server(handle, port=80)
        _reader, writer = await asyncio.open_connection("server", 80)
        await asyncio.sleep(1)
        sent = net.stats["segments_sent"]
        net.faults.crash("server")
        assert srv.sockets == ()
        assert not srv.is_serving()
        await asyncio.sleep(1)
        assert seen == ["cancelled: host 'server' crashed"]
        assert net.stats["segments_sent"] == sent  # a crashed machine sends nothing
        await srv.wait_closed()
        writer.close()

    aiotcpsim.run(main(), network=net, host=client)
    gc.collect()  # no "Task was destroyed but it is pending!" (warnings are errors)


def test_client_sees_a_reset_after_the_restart() -> None:
    net, client, server = _network()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(100)

    async def main() -> None:
        with server.current():
            await asyncio.start_server(handle, port=80)
        reader, writer = await asyncio.open_connection("server", 80)
        net.faults.crash("server")
        net.faults.restart("server", at=net.now + 2.0)
        writer.write(b"hello")  # lost while the host is down, retransmitted
        with pytest.raises(ConnectionResetError):
            await reader.read(100)
        assert 2.0 < asyncio.get_running_loop().time() < 10.0  # the first retry after 2 s
        writer.close()

    aiotcpsim.run(main(), network=net, host=client)


def test_client_of_a_host_that_stays_down_times_out() -> None:
    net, client, server = _network()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(100)

    async def main() -> None:
        with server.current():
            await asyncio.start_server(handle, port=80)
        reader, writer = await asyncio.open_connection("server", 80)
        net.faults.crash("server")
        writer.write(b"hello")
        with pytest.raises(TimeoutError):
            await reader.read(100)  # tcp_retries2: about 15 minutes
        assert asyncio.get_running_loop().time() > 600
        writer.close()

    aiotcpsim.run(main(), network=net, host=client)


def test_restart_runs_the_app_and_clients_reconnect() -> None:
    net, client, server = _network()
    starts: list[float] = []

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await reader.read(100))
        await writer.drain()
        writer.close()

    async def serve() -> None:
        starts.append(asyncio.get_running_loop().time())
        srv = await asyncio.start_server(echo, port=80)
        await srv.serve_forever()

    async def ask() -> bytes:
        reader, writer = await asyncio.open_connection("server", 80)
        writer.write(b"ping")
        answer = await reader.read(100)
        writer.close()
        await writer.wait_closed()
        return answer

    async def main() -> None:
        server.start_app(serve)
        await asyncio.sleep(0.5)
        assert await ask() == b"ping"
        net.faults.crash("server")
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(ask(), 5.0)  # SYNs lost while the host is down
        net.faults.restart("server", app=serve)
        await asyncio.sleep(0.5)
        assert await ask() == b"ping"
        net.faults.crash("server")  # the restarted app ends too
        await asyncio.sleep(0.1)
        assert len(starts) == 2

    aiotcpsim.run(main(), network=net, host=client)


def test_awaiting_a_crashed_hosts_task_raises_cancelled_error() -> None:
    net, client, server = _network()

    async def main() -> None:
        with server.current():
            task = asyncio.create_task(asyncio.sleep(100))
        await asyncio.sleep(1)
        net.faults.crash(server)
        with pytest.raises(asyncio.CancelledError):
            await task
        assert task.cancelled()
        with pytest.raises(OSError, match="down"), server.current():  # ENETDOWN until restart
            await asyncio.open_connection("client", 80)

    aiotcpsim.run(main(), network=net, host=client)


def test_restart_app_needs_a_driven_network() -> None:
    net, _, server = _network()
    net.faults.crash(server)
    with pytest.raises(RuntimeError, match="no event loop drives this network"):
        net.faults.restart(server, app=lambda: None)
    with pytest.raises(TypeError, match="app must be an async function"):
        net.faults.restart(server, app=42)  # type: ignore[arg-type]
    net.faults.crash(server)
    with pytest.raises(RuntimeError, match="is down"):
        server.start_app(lambda: None)


def test_localhost_warning_when_host_is_forgotten() -> None:
    net, client, server = _network()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    async def main() -> None:
        with server.current():
            srv = await asyncio.start_server(handle, port=80)
        net.faults.partition(client, server)
        with pytest.warns(aiotcpsim.LocalhostWarning, match=r"host=.*current\(\)"):
            _reader, writer = await asyncio.open_connection("server", 80)  # from localhost
        writer.close()
        srv.close()

    aiotcpsim.run(main(), network=net)


def test_no_localhost_warning_with_host() -> None:
    net, client, server = _network()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    async def main() -> None:
        with server.current():
            srv = await asyncio.start_server(handle, port=80)
        net.faults.drop(src="client", dst="server", with_flags="FIN")
        reader, writer = await asyncio.open_connection("server", 80)  # warnings are errors
        assert await reader.read() == b""
        writer.close()
        srv.close()

    aiotcpsim.run(main(), network=net, host=client)


def test_no_localhost_warning_when_the_fault_applies_to_localhost() -> None:
    net, _client, server = _network()

    async def main() -> None:
        with server.current():
            srv = await asyncio.start_server(lambda r, w: w.close(), port=80)
        net.faults.partition(server)  # from every other host, localhost included
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(asyncio.open_connection("server", 80), 2.0)
        srv.close()

    aiotcpsim.run(main(), network=net)


def test_crash_at_a_virtual_time_cancels_the_serving_task() -> None:
    net, client, server = _network()

    async def serve() -> None:
        srv = await asyncio.start_server(lambda r, w: None, port=80)
        await srv.serve_forever()

    async def main() -> None:
        with server.current():
            task = asyncio.create_task(serve())
        net.faults.crash("server", at=2.0)
        await asyncio.sleep(3)
        assert task.cancelled()
        assert server.listener(80) is None

    aiotcpsim.run(main(), network=net, host=client)


def test_an_app_that_fails_is_reported() -> None:
    net, client, server = _network()
    reported: list[dict[str, object]] = []

    async def broken() -> None:
        raise ValueError("boom")

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda loop, context: reported.append(context))
        server.start_app(broken)
        await asyncio.sleep(1)

    aiotcpsim.run(main(), network=net, host=client)
    assert [str(c["exception"]) for c in reported] == ["boom"]
    assert reported[0]["message"] == "app on server failed"
