"""A SYN flood against an asyncio server (``net.faults.syn_flood``): with SYN
cookies (``tcp_syncookies=1``, Linux's default) a client still connects and is
served at once; without them its connect times out."""

from __future__ import annotations

import asyncio

import pytest

import aiotcpsim


def _flooded(syncookies: int) -> tuple[aiotcpsim.Network, aiotcpsim.Host, aiotcpsim.Host]:
    net = aiotcpsim.Network(seed=5, delay=0.01, tcp=aiotcpsim.TcpConfig(syncookies=syncookies))
    client, server = net.add_host("client"), net.add_host("server")
    net.faults.syn_flood(server, 8080, count=800, rate=10.0)  # 80 s of 10 SYNs a second
    return net, client, server


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(await reader.read(100))
    await writer.drain()
    writer.close()


def test_syn_flood_with_cookies_the_client_is_served() -> None:
    net, client, server = _flooded(syncookies=1)

    async def main() -> float:
        with server.current():
            srv = await asyncio.start_server(_echo, port=8080, backlog=16)
        await asyncio.sleep(5)  # the SYN queue is full since 1.7 s
        loop = asyncio.get_running_loop()
        start = loop.time()
        with client.current():
            reader, writer = await asyncio.open_connection("server", 8080)
        writer.write(b"ping")
        assert await reader.read(100) == b"ping"
        writer.close()
        srv.close()
        return loop.time() - start

    took = aiotcpsim.run(main(), network=net)
    assert took == pytest.approx(0.04)  # handshake and one exchange, no retransmission
    assert server.netstat["SyncookiesRecv"] == 1
    assert server.netstat["SyncookiesSent"] > 30
    assert any(
        r.text == "Possible SYN flooding on port 0.0.0.0:8080. Sending cookies." for r in net.trace
    )


def test_syn_flood_without_cookies_connect_times_out() -> None:
    net, client, server = _flooded(syncookies=0)

    async def main() -> float:
        with server.current():
            srv = await asyncio.start_server(_echo, port=8080, backlog=16)
        await asyncio.sleep(5)
        loop = asyncio.get_running_loop()
        start = loop.time()
        with client.current(), pytest.raises(TimeoutError):
            await asyncio.open_connection("server", 8080)
        srv.close()
        return loop.time() - start

    assert aiotcpsim.run(main(), network=net) == pytest.approx(131.0)
    assert server.netstat["ListenDrops"] > 700
