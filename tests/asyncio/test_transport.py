"""SimTransport at the protocol level: extra info, flow control, BufferedProtocol,
TLS through loop.start_tls, and sockets that libraries build themselves."""

from __future__ import annotations

import asyncio
import select
import socket
import ssl
from typing import Any

import pytest
from loop_support import close_writer, run

import aiotcpsim
from aiotcpsim import State
from aiotcpsim.asyncio_loop import SimSocket, install


class Recorder(asyncio.Protocol):
    def __init__(self) -> None:
        self.events: list[Any] = []
        self.transport: asyncio.Transport | None = None
        self.data = bytearray()
        self.lost: asyncio.Future[BaseException | None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.events.append("made")

    def data_received(self, data: bytes) -> None:
        self.data += data

    def eof_received(self) -> bool:
        self.events.append("eof")
        return True

    def pause_writing(self) -> None:
        self.events.append("pause")

    def resume_writing(self) -> None:
        self.events.append("resume")

    def connection_lost(self, exc: BaseException | None) -> None:
        self.events.append("lost")
        self.lost.set_result(exc)


# Loopback connections get Linux's autotuned buffer maxima (6 MiB / 4 MiB); the
# flow-control tests below use the buffers a connection starts with instead,
# so that a few hundred kilobytes fill them.
SMALL_LOOPBACK_BUFFERS = aiotcpsim.TcpConfig(loopback_rcvbuf=131072, loopback_sndbuf=65536)


def test_extra_info_and_socket() -> None:
    net = aiotcpsim.Network(seed=3)
    writers: list[asyncio.StreamWriter] = []

    async def main() -> None:
        server = await asyncio.start_server(lambda r, w: writers.append(w), "127.0.0.1", 4000)
        _reader, writer = await asyncio.open_connection("127.0.0.1", 4000)
        sock = writer.get_extra_info("socket")
        assert isinstance(sock, SimSocket)
        sockname = writer.get_extra_info("sockname")
        assert sock.getsockname() == sockname
        assert sock.getpeername() == writer.get_extra_info("peername") == ("127.0.0.1", 4000)
        assert (sock.family, sock.type, sock.proto) == (socket.AF_INET, socket.SOCK_STREAM, 6)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 30)
        conn = writer.get_extra_info("tcp_connection")
        assert conn.keepalive and conn.keepalive_idle == 30
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, 5000)
        assert conn.user_timeout == 5.0
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
        assert writer.get_extra_info("tcp_state") is State.ESTABLISHED
        # fileno(): a real descriptor, readable exactly when the socket is
        fd = sock.fileno()
        assert fd >= 0
        assert select.select([fd], [], [], 0)[0] == []
        writer.write_eof()
        await asyncio.sleep(1)
        assert writer.get_extra_info("tcp_state") is State.FIN_WAIT_2
        server.close()
        await close_writer(writer)
        assert sock.fileno() == -1
        await close_writer(writers[0])
        await server.wait_closed()

    run(net, main)


def test_fileno_turns_readable_when_peer_closes() -> None:
    """httpcore polls an idle pooled connection's fd: readable means 'closed by peer'."""
    net = aiotcpsim.Network(seed=3)
    writers: list[asyncio.StreamWriter] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 4001)
        reader, writer = await asyncio.open_connection("127.0.0.1", 4001)
        fd = writer.get_extra_info("socket").fileno()
        await asyncio.sleep(1)
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        assert poller.poll(0) == []  # idle: reusable
        writers[0].close()
        await asyncio.sleep(1)
        assert poller.poll(0) == [(fd, select.POLLIN)]  # peer closed
        assert await reader.read() == b""
        await close_writer(writer)
        server.close()
        await server.wait_closed()

    run(net, main)


def test_write_buffer_limits_and_pause_resume_writing() -> None:
    net = aiotcpsim.Network(seed=3, tcp=SMALL_LOOPBACK_BUFFERS)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server_protocols: list[Recorder] = []

        def factory() -> Recorder:
            p = Recorder()
            server_protocols.append(p)
            return p

        server = await loop.create_server(factory, "127.0.0.1", 4002)
        transport, client = await loop.create_connection(Recorder, "127.0.0.1", 4002)
        assert transport.get_write_buffer_limits() == (16384, 65536)
        transport.set_write_buffer_limits(high=1000)
        assert transport.get_write_buffer_limits() == (250, 1000)
        with pytest.raises(ValueError, match="must be >="):
            transport.set_write_buffer_limits(high=1, low=2)
        await asyncio.sleep(0.1)
        peer = server_protocols[0]
        assert peer.transport is not None
        peer.transport.pause_reading()  # the server stops reading: window closes
        block = b"x" * 100_000
        for _ in range(10):
            transport.write(block)
            await asyncio.sleep(0.5)
        sent = 10 * len(block)
        # The server's receive buffer and our send buffer hold ~192 KiB: the rest
        # waits in the transport, and stays there while TCP is blocked.
        size_when_blocked = transport.get_write_buffer_size()
        assert size_when_blocked > 500_000
        await asyncio.sleep(10)
        assert transport.get_write_buffer_size() == size_when_blocked
        assert client.events[-1] == "pause"
        flow = client.events[1:]
        assert flow == ["pause", "resume"] * (len(flow) // 2) + ["pause"]  # strictly alternating
        peer.transport.resume_reading()
        while len(peer.data) < sent:  # noqa: ASYNC110 (virtual time)
            await asyncio.sleep(0.5)
        assert client.events[-1] == "resume"
        assert transport.get_write_buffer_size() == 0
        transport.close()
        assert await client.lost is None
        while "eof" not in peer.events:  # noqa: ASYNC110 (virtual time)
            await asyncio.sleep(0.1)
        peer.transport.close()
        assert await peer.lost is None
        server.close()
        await server.wait_closed()

    run(net, main)


def test_paused_reader_closes_the_receive_window() -> None:
    net = aiotcpsim.Network(seed=3, tcp=SMALL_LOOPBACK_BUFFERS)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        peers: list[Recorder] = []

        def factory() -> Recorder:
            peers.append(Recorder())
            return peers[-1]

        server = await loop.create_server(factory, "127.0.0.1", 4003)
        transport, client = await loop.create_connection(Recorder, "127.0.0.1", 4003)
        transport.pause_reading()
        assert not transport.is_reading()
        conn = transport.get_extra_info("tcp_connection")
        await asyncio.sleep(0.1)
        server_conn = next(c for c in net.connections() if c.local[1] == 4003)
        server_conn.sndbuf = 1 << 20  # take it all at once
        assert server_conn.send(b"y" * 300_000, net.now) == 300_000
        await asyncio.sleep(5)
        assert client.data == b""
        assert conn.rcv_wnd == 0
        assert conn.readable_bytes > 0
        transport.resume_reading()
        await asyncio.sleep(5)
        assert client.data == b"y" * 300_000
        transport.close()
        await client.lost
        assert peers[0].transport is not None
        peers[0].transport.close()
        await peers[0].lost
        server.close()
        await server.wait_closed()

    run(net, main)


class BufferedRecorder(asyncio.BufferedProtocol):
    def __init__(self) -> None:
        self.buf = bytearray(1000)
        self.data = bytearray()
        self.eof = asyncio.get_running_loop().create_future()
        self.transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def get_buffer(self, sizehint: int) -> bytearray:
        return self.buf

    def buffer_updated(self, nbytes: int) -> None:
        self.data += self.buf[:nbytes]

    def eof_received(self) -> None:
        self.eof.set_result(None)


def test_buffered_protocol() -> None:
    net = aiotcpsim.Network(seed=3, loss=0.05, delay=0.01)
    payload = bytes(range(256)) * 400

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(payload)
        await writer.drain()
        await close_writer(writer)

    async def main() -> bytes:
        loop = asyncio.get_running_loop()
        server = await asyncio.start_server(handle, "127.0.0.1", 4004)
        transport, proto = await loop.create_connection(BufferedRecorder, "127.0.0.1", 4004)
        await proto.eof
        transport.close()
        server.close()
        await server.wait_closed()
        return bytes(proto.data)

    assert run(net, main) == payload


def test_close_flushes_buffer_then_connection_lost() -> None:
    net = aiotcpsim.Network(seed=3, tcp=SMALL_LOOPBACK_BUFFERS)
    payload = b"z" * 1_000_000

    async def main() -> bytes:
        loop = asyncio.get_running_loop()
        received = loop.create_future()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            received.set_result(await reader.read())
            await close_writer(writer)

        server = await asyncio.start_server(handle, "127.0.0.1", 4005)
        transport, proto = await loop.create_connection(Recorder, "127.0.0.1", 4005)
        transport.write(payload)
        assert transport.get_write_buffer_size() > 0
        transport.close()
        assert transport.is_closing()
        transport.close()  # idempotent
        assert await proto.lost is None
        server.close()
        await server.wait_closed()
        return await received

    assert run(net, main) == payload


# -- TLS -------------------------------------------------------------------------------------


def _tls_contexts() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert("server.test")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    return server_ctx, client_ctx


@pytest.mark.parametrize("loss", [0.0, 0.05])
def test_tls_streams(loss: float) -> None:
    server_ctx, client_ctx = _tls_contexts()
    net = aiotcpsim.Network(seed=5, loss=loss, delay=0.01)
    server_host = net.add_host("server.test")
    client_host = net.add_host("client")

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert writer.get_extra_info("ssl_object") is not None
        line = await reader.readline()
        writer.write(line.upper() * 1000)
        await writer.drain()
        await close_writer(writer)

    async def main() -> bytes:
        with server_host.current():
            server = await asyncio.start_server(handle, port=443, ssl=server_ctx)
        with client_host.current():
            reader, writer = await asyncio.open_connection("server.test", 443, ssl=client_ctx)
        assert writer.get_extra_info("peercert")["subjectAltName"] == (("DNS", "server.test"),)
        writer.write(b"secret\n")
        data = await reader.read()
        await close_writer(writer)
        server.close()
        await server.wait_closed()
        await asyncio.sleep(1)  # the server's TLS shutdown completes
        return data

    assert run(net, main) == b"SECRET\n" * 1000


def test_start_tls_upgrade() -> None:
    server_ctx, client_ctx = _tls_contexts()
    net = aiotcpsim.Network(seed=5)
    server_host = net.add_host("server.test")

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert await reader.readline() == b"STARTTLS\n"
        writer.write(b"go ahead\n")
        await writer.drain()
        await writer.start_tls(server_ctx)
        writer.write(b"hello over tls: " + await reader.readline())
        await writer.drain()
        await close_writer(writer)

    async def main() -> bytes:
        with server_host.current():
            server = await asyncio.start_server(handle, port=25)
        with net.add_host("client").current():
            reader, writer = await asyncio.open_connection("server.test", 25)
        writer.write(b"STARTTLS\n")
        assert await reader.readline() == b"go ahead\n"
        await writer.start_tls(client_ctx, server_hostname="server.test")
        assert writer.get_extra_info("ssl_object") is not None
        writer.write(b"client\n")
        data = await reader.read()
        await close_writer(writer)
        server.close()
        await server.wait_closed()
        await asyncio.sleep(1)  # the server's TLS shutdown completes
        return data

    assert run(net, main) == b"hello over tls: client\n"


# -- sockets built by libraries ----------------------------------------------------------------


def test_sock_connect_then_create_connection_with_real_socket() -> None:
    """aiohttp/aiohappyeyeballs: socket.socket() + loop.sock_connect + create_connection(sock=)."""
    net = aiotcpsim.Network(seed=3)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await reader.readline())
        await close_writer(writer)

    async def main() -> bytes:
        loop = asyncio.get_running_loop()
        server = await asyncio.start_server(handle, "127.0.0.1", 4010)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as real:
            real.setblocking(False)
            await loop.sock_connect(real, ("127.0.0.1", 4010))
            reader, writer = await asyncio.open_connection(sock=real)
            writer.write(b"via a real socket object\n")
            data = await reader.read()
            await close_writer(writer)
        server.close()
        await server.wait_closed()
        return data

    assert run(net, main) == b"via a real socket object\n"


def test_sock_accept_and_connect_accepted_socket() -> None:
    net = aiotcpsim.Network(seed=3)

    async def main() -> bytes:
        loop = asyncio.get_running_loop()
        with socket.socket() as listening:
            listening.bind(("127.0.0.1", 0))
            listening.listen()
            port = listening.getsockname()[1]
            accept = asyncio.create_task(loop.sock_accept(listening))
            await asyncio.sleep(0)
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            conn, addr = await accept
            assert addr == writer.get_extra_info("sockname")
            writer.write(b"ping")
            assert await loop.sock_recv(conn, 100) == b"ping"
            await loop.sock_sendall(conn, b"pong")
            assert await reader.readexactly(4) == b"pong"
            transport, proto = await loop.connect_accepted_socket(Recorder, conn)
            writer.write(b"to the protocol")
            await asyncio.sleep(1)
            assert bytes(proto.data) == b"to the protocol"  # type: ignore[attr-defined]
            transport.close()
            assert await reader.read() == b""
            await close_writer(writer)
        return b""

    run(net, main)


def test_real_sockets_that_were_never_registered_stay_real() -> None:
    net = aiotcpsim.Network(seed=3)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        a, b = socket.socketpair()
        with a, b:
            a.setblocking(False)
            b.setblocking(False)
            b.send(b"kernel")
            assert await loop.sock_recv(a, 10) == b"kernel"

    run(net, main)


def test_install_on_a_stock_loop_real_time() -> None:
    """Real-time mode: the overrides installed on a stock loop with a driver attached."""
    from aiotcpsim.asyncio_loop import attach

    net = aiotcpsim.Network(seed=3)

    async def main() -> bytes:
        loop = asyncio.get_running_loop()
        with attach(loop, net):
            uninstall = install(loop, net)
            try:

                async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
                    w.write(await r.readline())
                    await close_writer(w)

                server = await asyncio.start_server(handle, "127.0.0.1", 4020)
                reader, writer = await asyncio.open_connection("127.0.0.1", 4020)
                writer.write(b"real time\n")
                data = await asyncio.wait_for(reader.read(), 5)
                await close_writer(writer)
                server.close()
                await server.wait_closed()
            finally:
                uninstall()
        assert "create_connection" not in vars(loop)
        return data

    assert asyncio.run(main()) == b"real time\n"
