"""The errors asyncio applications see, as kernel sockets give them (Linux).

Each scenario runs on a clean and on a lossy network.
"""

from __future__ import annotations

import asyncio
import errno
import socket

import pytest
from loop_support import close_writer, run

import aiotcpsim

# Loss without jitter: reordering lets a late ACK reach TIME-WAIT, whose answer
# draws a RST that ends TIME-WAIT early (RFC 1337 assassination, as Linux does).
NETWORKS = {
    "clean": {},
    "lossy": {"loss": 0.05, "delay": 0.005},
}


@pytest.fixture(params=sorted(NETWORKS))
def lossy(request: pytest.FixtureRequest) -> bool:
    return request.param == "lossy"


def make_net(lossy: bool, **kw: object) -> aiotcpsim.Network:
    return aiotcpsim.Network(seed=11, **NETWORKS["lossy" if lossy else "clean"], **kw)  # type: ignore[arg-type]


def test_connection_refused(lossy: bool) -> None:
    net = make_net(lossy)

    async def main() -> None:
        with pytest.raises(ConnectionRefusedError) as info:
            await asyncio.open_connection("127.0.0.1", 9)
        assert info.value.errno == errno.ECONNREFUSED
        assert str(info.value) == "[Errno 111] Connect call failed ('127.0.0.1', 9)"

    run(net, main)


def _blackholed(lossy: bool, **tcp: int) -> tuple[aiotcpsim.Network, aiotcpsim.Host]:
    net = make_net(lossy, tcp=aiotcpsim.TcpConfig(**tcp)) if tcp else make_net(lossy)
    client = net.add_host("client")
    server = net.add_host("server")
    net.link(client, server).update(loss=1.0)  # every SYN is lost
    return net, client


@pytest.mark.parametrize(
    ("tcp", "expected"),
    [({}, 131.0), ({"syn_retries": 3}, 19.0)],
    ids=["default", "syn_retries=3"],
)
def test_syn_timeout(lossy: bool, tcp: dict[str, int], expected: float) -> None:
    net, client = _blackholed(lossy, **tcp)

    async def main() -> float:
        loop = asyncio.get_running_loop()
        with client.current(), pytest.raises(TimeoutError) as info:
            await asyncio.open_connection("server", 80)
        assert info.value.errno == errno.ETIMEDOUT
        assert str(info.value) == f"[Errno 110] Connect call failed ('{net.host('server').ip}', 80)"
        return loop.time()

    assert run(net, main) == pytest.approx(expected)


def test_syn_timeout_cancelled_by_wait_for(lossy: bool) -> None:
    net, client = _blackholed(lossy)

    async def main() -> float:
        loop = asyncio.get_running_loop()
        with client.current(), pytest.raises(TimeoutError):
            await asyncio.wait_for(asyncio.open_connection("server", 80), 10)
        return loop.time()

    assert run(net, main) == pytest.approx(10.0)
    assert not [c for c in net.connections() if str(c.state) == "SYN-SENT"]


def test_reset_mid_stream(lossy: bool) -> None:
    """The server closes with unread data: the kernel sends a RST, the client's
    read raises ConnectionResetError (after the bytes that came before it)."""
    net = make_net(lossy)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readexactly(5)
        writer.write(b"reply")
        writer.transport.pause_reading()
        await asyncio.sleep(2)  # the client's next bytes stay unread
        writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 7000)
        reader, writer = await asyncio.open_connection("127.0.0.1", 7000)
        writer.write(b"hello")
        assert await reader.readexactly(5) == b"reply"
        writer.write(b"unread by the server")
        await writer.drain()
        with pytest.raises(ConnectionResetError) as info:
            await reader.read(100)
        assert info.value.errno == errno.ECONNRESET
        assert str(info.value) == "[Errno 104] Connection reset by peer"
        with pytest.raises(ConnectionResetError):
            await writer.drain()
        writer.close()
        with pytest.raises(ConnectionResetError):
            await writer.wait_closed()
        server.close()
        await server.wait_closed()

    run(net, main)


def test_write_after_peer_closed_broken_pipe(lossy: bool) -> None:
    """Peer closed: the first write is accepted (the peer answers RST), a later
    drain reports the lost connection, then EPIPE (RST in CLOSE-WAIT)."""
    net = make_net(lossy)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 7001)
        reader, writer = await asyncio.open_connection("127.0.0.1", 7001)
        assert await reader.read() == b""
        writer.write(b"first")
        await writer.drain()
        await asyncio.sleep(5)  # the RST comes back
        writer.write(b"second")
        with pytest.raises(ConnectionResetError, match="Connection lost"):
            await writer.drain()
        with pytest.raises(BrokenPipeError) as info:
            await writer.drain()
        assert info.value.errno == errno.EPIPE
        writer.close()
        with pytest.raises(BrokenPipeError):
            await writer.wait_closed()
        server.close()
        await server.wait_closed()

    run(net, main)


def test_abort_without_unread_data_is_a_fin(lossy: bool) -> None:
    """transport.abort() is close(2): no unread data, so the peer reads EOF."""
    net = make_net(lossy)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert await reader.readexactly(4) == b"ping"
        writer.write(b"pong")
        writer.transport.abort()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 7002)
        reader, writer = await asyncio.open_connection("127.0.0.1", 7002)
        writer.write(b"ping")
        # "pong" was already in the send buffer: it goes out, then the FIN
        assert await reader.read() == b"pong"
        await close_writer(writer)
        server.close()
        await server.wait_closed()

    run(net, main)


def test_port_exhaustion_from_time_wait_and_recovery(lossy: bool) -> None:
    net = make_net(lossy, tcp=aiotcpsim.TcpConfig(ephemeral_ports=(40000, 40009)))

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # the client closes first: TIME-WAIT is on its side
        writer.close()

    async def one() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", 8080)
        writer.write_eof()
        assert await reader.read() == b""
        await close_writer(writer)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await asyncio.start_server(handle, "127.0.0.1", 8080)
        for _ in range(10):
            await one()
        await asyncio.sleep(1)
        last_close = loop.time()
        with pytest.raises(OSError, match="Cannot assign requested address") as info:
            await asyncio.open_connection("127.0.0.1", 8080)
        assert info.value.errno == errno.EADDRNOTAVAIL
        if not lossy:
            await asyncio.sleep(57)  # TIME-WAIT lasts 60 s
            with pytest.raises(OSError, match="Cannot assign requested address"):
                await asyncio.open_connection("127.0.0.1", 8080)
        await asyncio.sleep(last_close + 61 - loop.time())
        await one()  # ports are free again
        server.close()
        await server.wait_closed()

    run(net, main)


def test_bind_errors_for_local_addr() -> None:
    net = aiotcpsim.Network(seed=1)

    async def main() -> None:
        server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 9100)
        with pytest.raises(OSError, match="error while attempting to bind on address") as info:
            await asyncio.open_connection("127.0.0.1", 9100, local_addr=("10.55.0.1", 0))
        assert info.value.errno == errno.EADDRNOTAVAIL
        with pytest.raises(OSError, match="address already in use") as info:
            await asyncio.open_connection("127.0.0.1", 9100, local_addr=("127.0.0.1", 9100))
        assert info.value.errno == errno.EADDRINUSE
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", 9100, local_addr=("127.0.0.1", 45000)
        )
        assert writer.get_extra_info("sockname") == ("127.0.0.1", 45000)
        assert await reader.read() == b""
        await close_writer(writer)
        server.close()
        await server.wait_closed()

    run(net, main)


def test_unknown_host_gaierror() -> None:
    net = aiotcpsim.Network(seed=1)

    async def main() -> None:
        with pytest.raises(socket.gaierror, match="Name or service not known") as info:
            await asyncio.open_connection("no-such-host.example", 80)
        assert info.value.errno == socket.EAI_NONAME
        with pytest.raises(ConnectionRefusedError, match=r"\('::1', 80, 0, 0\)"):
            await asyncio.open_connection("::1", 80)  # the host's own ::1, nobody listens

    run(net, main)


def test_udp_and_unix_sockets_are_not_supported() -> None:
    net = aiotcpsim.Network(seed=1)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        with pytest.raises(NotImplementedError, match="UDP"):
            await loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=("0.0.0.0", 0))
        with pytest.raises(NotImplementedError, match="Unix socket"):
            await asyncio.open_unix_connection("/tmp/nowhere.sock")
        with pytest.raises(NotImplementedError, match="Unix socket"):
            await asyncio.start_unix_server(lambda r, w: None, "/tmp/nowhere.sock")

    run(net, main)


def test_all_errors_exception_group() -> None:
    import sys

    if sys.version_info < (3, 12):
        pytest.skip("create_connection(all_errors=) is 3.12+")
    net = aiotcpsim.Network(seed=1)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        with pytest.raises(ExceptionGroup) as info:
            await loop.create_connection(asyncio.Protocol, "127.0.0.1", 9, all_errors=True)
        assert isinstance(info.value.exceptions[0], ConnectionRefusedError)

    run(net, main)


def test_connect_to_address_no_host_owns() -> None:
    net = aiotcpsim.Network(seed=1)
    net.add_host("client")

    async def main() -> None:
        loop = asyncio.get_running_loop()
        with net.host("client").current():
            start = loop.time()
            with pytest.raises(OSError, match=r"10\.0\.0\.200") as info:
                await asyncio.open_connection("10.0.0.200", 80)
            assert info.value.errno == errno.EHOSTUNREACH
            assert loop.time() - start == pytest.approx(3.0)
            start = loop.time()
            with pytest.raises(OSError, match="unreachable") as info:
                await asyncio.open_connection("192.0.2.7", 80)
            assert info.value.errno == errno.ENETUNREACH
            assert loop.time() == start

    run(net, main)
