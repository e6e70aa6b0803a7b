"""asyncio streams over the simulated network: plain application code on virtual time.

Each scenario runs on a clean network and on a lossy one; what the application
sees must not change.
"""

from __future__ import annotations

import asyncio
import socket
import sys
from typing import Any

import pytest
from loop_support import close_writer, run

import aiotcpsim

NETWORKS = {
    "clean": {},
    "lossy": {"loss": 0.05, "delay": 0.005, "jitter": 0.002},
}


@pytest.fixture(params=sorted(NETWORKS))
def net(request: pytest.FixtureRequest) -> aiotcpsim.Network:
    return aiotcpsim.Network(seed=7, **NETWORKS[request.param])


def pattern(n: int, seed: int = 0) -> bytes:
    return bytes((i * 31 + seed) % 251 for i in range(n))


def test_echo(net: aiotcpsim.Network) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(1000):
            writer.write(data)
            await writer.drain()
        await close_writer(writer)

    async def main() -> list[bytes]:
        server = await asyncio.start_server(handle, "127.0.0.1", 7007)
        reader, writer = await asyncio.open_connection("127.0.0.1", 7007)
        replies = []
        for i in range(5):
            msg = f"message {i}\n".encode()
            writer.write(msg)
            await writer.drain()
            replies.append(await reader.readexactly(len(msg)))
        writer.write_eof()
        assert await reader.read() == b""
        await close_writer(writer)
        server.close()
        await server.wait_closed()
        return replies

    assert run(net, main) == [f"message {i}\n".encode() for i in range(5)]


def test_request_response_between_named_hosts(net: aiotcpsim.Network) -> None:
    server_host = net.add_host("server")
    client_host = net.add_host("client", ip="10.0.0.9")
    peers: list[Any] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peers.append(writer.get_extra_info("peername"))
        request = await reader.readline()
        body = request.strip().upper() * 1000
        writer.write(b"%d\n" % len(body) + body)
        await writer.drain()
        await close_writer(writer)

    async def main() -> bytes:
        with server_host.current():
            server = await asyncio.start_server(handle, port=80)
        with client_host.current():
            reader, writer = await asyncio.open_connection("server", 80)
        assert writer.get_extra_info("peername") == (server_host.ip, 80)
        assert writer.get_extra_info("sockname")[0] == "10.0.0.9"
        writer.write(b"get\n")
        size = int(await reader.readline())
        body = await reader.readexactly(size)
        assert await reader.read() == b""
        await close_writer(writer)
        async with server:
            pass
        return body

    assert run(net, main) == b"GET" * 1000
    assert peers[0][0] == "10.0.0.9"


def test_half_close_client_write_eof_then_reads_long_reply(net: aiotcpsim.Network) -> None:
    reply = pattern(1_000_000)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.read()  # until the client's FIN
        assert request == b"upload" * 1000
        writer.write(reply)
        await writer.drain()
        await close_writer(writer)

    async def main() -> bytes:
        server = await asyncio.start_server(handle, "127.0.0.1", 8000)
        reader, writer = await asyncio.open_connection("127.0.0.1", 8000)
        assert writer.can_write_eof()
        writer.write(b"upload" * 1000)
        writer.write_eof()
        with pytest.raises(RuntimeError, match=r"Cannot call write\(\) after write_eof\(\)"):
            writer.write(b"more")
        data = await reader.read()
        await close_writer(writer)
        server.close()
        await server.wait_closed()
        return data

    assert run(net, main) == reply


def test_slow_reader_back_pressures_writer(net: aiotcpsim.Network) -> None:
    config = net.config  # loopback: both buffers and then some must fill
    total = 2 * (config.loopback_rcvbuf + config.loopback_sndbuf)
    progress: dict[str, Any] = {}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        data = pattern(total)
        step = 64 * 1024
        loop = asyncio.get_running_loop()
        progress["transport"] = writer.transport
        for off in range(0, total, step):
            writer.write(data[off : off + step])
            await writer.drain()
            progress["sent"] = off + step
            progress["at"] = loop.time()
        await close_writer(writer)

    async def main() -> bytes:
        server = await asyncio.start_server(handle, "127.0.0.1", 8001)
        reader, writer = await asyncio.open_connection("127.0.0.1", 8001)
        await asyncio.sleep(30)  # the client reads nothing for 30 s
        stalled = progress["sent"]
        # Blocked: far less than everything went out, and the writer's drain()
        # has been waiting (its last progress was long ago).
        assert stalled < total
        assert progress["at"] < 10
        assert progress["transport"].get_write_buffer_size() > 0
        conn = writer.get_extra_info("tcp_connection")
        assert conn.rcv_wnd == 0  # the client's receive window closed
        data = await reader.read()
        await close_writer(writer)
        server.close()
        await server.wait_closed()
        return data

    assert run(net, main) == pattern(total)


def test_many_clients_concurrently(net: aiotcpsim.Network) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        name = await reader.readline()
        writer.write(b"hello " + name)
        await writer.drain()
        await close_writer(writer)

    async def client(i: int) -> bytes:
        reader, writer = await asyncio.open_connection("localhost", 9000)
        writer.write(b"%d\n" % i)
        line = await reader.readline()
        await close_writer(writer)
        return line

    async def main() -> list[bytes]:
        server = await asyncio.start_server(handle, "localhost", 9000)
        results = await asyncio.gather(*(client(i) for i in range(20)))
        server.close()
        await server.wait_closed()
        return list(results)

    assert run(net, main) == [b"hello %d\n" % i for i in range(20)]


# -- Server API ------------------------------------------------------------------------------


def test_server_port_zero_and_sockets() -> None:
    net = aiotcpsim.Network(seed=1)

    async def main() -> None:
        server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
        assert isinstance(server, asyncio.base_events.Server)
        assert server.is_serving()
        assert server.get_loop() is asyncio.get_running_loop()
        (sock,) = server.sockets
        host, port = sock.getsockname()
        assert host == "127.0.0.1"
        assert 1024 <= port <= 65535
        assert sock.family == socket.AF_INET
        assert sock.type == socket.SOCK_STREAM
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await reader.read() == b""
        await close_writer(writer)
        server.close()
        assert not server.is_serving()
        assert server.sockets == ()
        await server.wait_closed()

    run(net, main)


def test_server_host_list_and_wildcard() -> None:
    net = aiotcpsim.Network(seed=1)
    me = net.add_host("me")

    async def main() -> None:
        with me.current():
            server = await asyncio.start_server(lambda r, w: w.close(), [me.ip, "127.0.0.1"], 5000)
            names = sorted(s.getsockname() for s in server.sockets)
            assert names == sorted([(me.ip, 5000), ("127.0.0.1", 5000)])
            server.close()
            await server.wait_closed()
            wildcard = await asyncio.start_server(lambda r, w: w.close(), port=5001)
            # As the stock loop on Linux: one AF_INET socket, one AF_INET6 (IPV6_V6ONLY).
            assert [s.getsockname() for s in wildcard.sockets] == [
                ("0.0.0.0", 5001),
                ("::", 5001, 0, 0),
            ]
            wildcard.close()
            await wildcard.wait_closed()

    run(net, main)


def test_server_address_in_use() -> None:
    net = aiotcpsim.Network(seed=1)

    async def main() -> None:
        server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 6000)
        with pytest.raises(OSError, match="error while attempting to bind on address") as info:
            await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 6000)
        assert info.value.errno == 98
        expected = "[errno 98] address already in use" if sys.version_info >= (3, 13) else ""
        assert str(info.value).endswith(expected or ": address already in use")
        server.close()
        await server.wait_closed()

    run(net, main)


def test_server_not_local_address() -> None:
    net = aiotcpsim.Network(seed=1)

    async def main() -> None:
        with pytest.raises(OSError, match="address") as info:
            await asyncio.start_server(lambda r, w: w.close(), "10.99.0.1", 6000)
        if sys.version_info >= (3, 13):
            assert info.value.errno is None
            assert "could not bind on any address out of" in str(info.value)
        else:
            assert info.value.errno == 99

    run(net, main)


def test_server_start_serving_false() -> None:
    net = aiotcpsim.Network(seed=1)
    accepted: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(1)
        await close_writer(writer)

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 6001, start_serving=False)
        assert not server.is_serving()
        await server.start_serving()
        assert server.is_serving()
        reader, writer = await asyncio.open_connection("127.0.0.1", 6001)
        assert await reader.read() == b""
        await close_writer(writer)
        server.close()
        await server.wait_closed()

    run(net, main)
    assert accepted == [1]


def test_server_serve_forever_cancel_closes() -> None:
    net = aiotcpsim.Network(seed=1)

    async def main() -> None:
        server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 6002)
        task = asyncio.create_task(server.serve_forever())
        await asyncio.sleep(1)
        with pytest.raises(RuntimeError, match="already being awaited"):
            await server.serve_forever()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not server.is_serving()
        with pytest.raises(RuntimeError, match="is closed"):
            await server.serve_forever()
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection("127.0.0.1", 6002)

    run(net, main)


def test_server_wait_closed_and_open_clients() -> None:
    """3.12.1+: wait_closed() waits for the accepted connections; 3.11 does not."""
    net = aiotcpsim.Network(seed=1)
    writers: list[asyncio.StreamWriter] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 6003)
        reader, writer = await asyncio.open_connection("127.0.0.1", 6003)
        await asyncio.sleep(0.1)
        server.close()
        waiter = asyncio.create_task(server.wait_closed())
        await asyncio.sleep(1)
        if sys.version_info >= (3, 12, 1):
            assert not waiter.done()
        else:
            assert waiter.done()
        # existing connections stay open after close()
        writers[0].write(b"still here")
        assert await reader.readexactly(10) == b"still here"
        if sys.version_info >= (3, 13):
            server.close_clients()
        else:
            writers[0].close()
        assert await reader.read() == b""
        await asyncio.wait_for(waiter, 5)
        await close_writer(writer)

    run(net, main)


@pytest.mark.skipif(sys.version_info < (3, 13), reason="Server.abort_clients is 3.13+")
def test_server_abort_clients() -> None:
    net = aiotcpsim.Network(seed=1)

    writers: list[asyncio.StreamWriter] = []

    async def main() -> None:
        server = await asyncio.start_server(lambda r, w: writers.append(w), "127.0.0.1", 6004)
        reader, writer = await asyncio.open_connection("127.0.0.1", 6004)
        await asyncio.sleep(0.1)
        server.close()
        server.abort_clients()  # type: ignore[attr-defined]
        assert await reader.read() == b""  # nothing unread at the server: FIN, not RST
        assert writers[0].transport.is_closing()
        await server.wait_closed()
        await close_writer(writer)

    run(net, main)


def test_open_connection_by_name_and_getaddrinfo() -> None:
    net = aiotcpsim.Network(seed=1)
    db = net.add_host("db")

    async def main() -> None:
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo("db", 5432, type=socket.SOCK_STREAM)
        assert infos == [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (db.ip, 5432))]
        infos = await loop.getaddrinfo(b"db", "5432")
        assert [i[1] for i in infos] == [socket.SOCK_STREAM, socket.SOCK_DGRAM, socket.SOCK_RAW]
        passive = await loop.getaddrinfo(None, 80, flags=socket.AI_PASSIVE)
        assert passive[0][4] == ("0.0.0.0", 80)
        # glibc with the usual /etc/hosts (::1 and 127.0.0.1 localhost): ::1 first.
        assert (await loop.getaddrinfo("localhost", "http"))[0][4] == ("::1", 80, 0, 0)
        assert (await loop.getaddrinfo("127.0.0.1", None))[0][4] == ("127.0.0.1", 0)
        with pytest.raises(socket.gaierror, match="Name or service not known") as info:
            await loop.getaddrinfo("nosuchhost", 80)
        assert info.value.errno == socket.EAI_NONAME
        with pytest.raises(socket.gaierror):
            await loop.getaddrinfo("db", 80, flags=socket.AI_NUMERICHOST)
        with pytest.raises(socket.gaierror):
            await asyncio.open_connection("nosuchhost", 80)
        assert await loop.getnameinfo((db.ip, 80)) == ("db", "http")
        assert await loop.getnameinfo(("10.200.0.1", 12345)) == ("10.200.0.1", "12345")
        assert await loop.getnameinfo((db.ip, 80), socket.NI_NUMERICHOST) == (db.ip, "http")
        with db.current():
            server = await asyncio.start_server(lambda r, w: w.close(), "db", 5432)
        with net.add_host("app").current():
            reader, writer = await asyncio.open_connection("db", 5432)
        assert await reader.read() == b""
        await close_writer(writer)
        server.close()
        await server.wait_closed()

    run(net, main)


def test_default_host_reaches_named_host() -> None:
    net = aiotcpsim.Network(seed=1)
    db = net.add_host("db")

    async def main() -> None:
        with db.current():
            server = await asyncio.start_server(lambda r, w: w.close(), port=5432)
        reader, writer = await asyncio.open_connection("db", 5432)
        assert await reader.read() == b""
        await close_writer(writer)
        server.close()
        await server.wait_closed()

    run(net, main)


def test_server_on_localhost_is_unreachable_from_other_hosts() -> None:
    # uvicorn's and hypercorn's default bind: 127.0.0.1 answers only the host itself.
    net = aiotcpsim.Network(seed=1)
    server_host = net.add_host("server")
    client_host = net.add_host("client")

    async def main() -> None:
        with server_host.current():
            server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 8000)
            _, local = await asyncio.open_connection("127.0.0.1", 8000)
            await close_writer(local)
        with client_host.current(), pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection("server", 8000)
        server.close()
        await server.wait_closed()

    run(net, main)


def test_server_on_two_addresses_answers_on_both() -> None:
    net = aiotcpsim.Network(seed=1)
    server_host = net.add_host("server")
    client_host = net.add_host("client")

    async def main() -> None:
        with server_host.current():
            server = await asyncio.start_server(
                lambda r, w: w.close(), [server_host.ip, "127.0.0.1"], 8000
            )
            _, local = await asyncio.open_connection("127.0.0.1", 8000)
            await close_writer(local)
        with client_host.current():
            _, remote = await asyncio.open_connection("server", 8000)
            await close_writer(remote)
        server.close()
        await server.wait_closed()

    run(net, main)


def test_local_addr_in_127_8_is_kept_on_both_ends() -> None:
    # The whole of 127.0.0.0/8 is loopback: 127.0.0.5 reaches a wildcard listener,
    # and a client bound to 127.0.0.2 keeps that address (Linux).
    net = aiotcpsim.Network(seed=1)
    peers: list[Any] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peers.append((writer.get_extra_info("sockname"), writer.get_extra_info("peername")))
        writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "0.0.0.0", 8000)
        only_one = await asyncio.start_server(handle, "127.0.0.1", 8001)
        reader, writer = await asyncio.open_connection(
            "127.0.0.5", 8000, local_addr=("127.0.0.2", 0)
        )
        assert writer.get_extra_info("sockname")[0] == "127.0.0.2"
        assert writer.get_extra_info("peername") == ("127.0.0.5", 8000)
        assert await reader.read() == b""
        await close_writer(writer)
        assert peers[0][0] == ("127.0.0.5", 8000)
        assert peers[0][1] == writer.get_extra_info("sockname")
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection("127.0.0.5", 8001)
        for s in (server, only_one):
            s.close()
            await s.wait_closed()

    run(net, main)
