"""What an asyncio application sees: kernel TCP on loopback vs the simulation.

Each test is plain asyncio code (``asyncio.start_server`` / ``open_connection``
on 127.0.0.1, port 0) that records what the application observes -- bytes,
EOF, exception types, errno and messages -- and returns the list.  The
``run`` fixture (conftest.py) runs it on both backends; the list is asserted
equal to one expected list written once, so the kernel and the simulation must
both produce it.

The kernel runs on a real clock: where a test must let a segment and its
answer cross (a RST coming back), it sleeps ``SETTLE`` -- ample on loopback,
and 50 virtual milliseconds on the simulation.

Not compared here, because loopback cannot provoke them quickly:

* the accept-queue overflow: asyncio's Server accepts as soon as a connection
  is ready, so the queue never fills; a raw listening socket that never
  accepts would fill it, but then the next SYN is dropped and retried for
  131 s before ``ETIMEDOUT`` (docs TCP-REFERENCE.md, "Listen backlog");
* the SYN timeout (131 s, or 19 s with ``TCP_SYNCNT=3``): it needs a peer that
  never answers, and loopback always answers (RST from a closed port); a
  blackhole needs root (an iptables DROP rule or a network namespace).  The
  simulation-only test below checks the expected numbers instead.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import socket
import struct
import sys
from collections.abc import Awaitable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conftest import Runner

SETTLE = 0.05  # long enough for a segment and its answer to cross loopback

Observation = tuple[Any, ...]


def outcome_of(exc: BaseException) -> Observation:
    return (type(exc).__name__, getattr(exc, "errno", None), str(exc))


async def attempt(aw: Awaitable[Any]) -> Observation:
    """("ok", result) or (exception type name, errno, message)."""
    try:
        result = await aw
    except (Exception, asyncio.CancelledError) as exc:
        return outcome_of(exc)
    return ("ok", result)


def try_call(fn: Any, *args: Any) -> Observation:
    try:
        result = fn(*args)
    except Exception as exc:
        return outcome_of(exc)
    return ("ok", result)


async def serve(handle: Any, **kw: Any) -> tuple[asyncio.Server, int]:
    server = await asyncio.start_server(handle, "127.0.0.1", 0, **kw)
    return server, server.sockets[0].getsockname()[1]


async def close_writer(writer: asyncio.StreamWriter) -> Observation:
    """Close and say what ``wait_closed()`` raised, if anything."""
    writer.close()
    return await attempt(writer.wait_closed())


async def stop(server: asyncio.Server) -> None:
    server.close()
    await server.wait_closed()


async def free_port() -> int:
    """A port nobody listens on: a server's port 0 choice, then closed."""
    server, port = await serve(lambda r, w: w.close())
    await stop(server)
    return port


def pattern(n: int) -> bytes:
    return bytes((i * 31 + 7) % 251 for i in range(n))


CONN_LOST = ("ConnectionResetError", None, "Connection lost")
RESET = ("ConnectionResetError", errno.ECONNRESET, "[Errno 104] Connection reset by peer")
PIPE = ("BrokenPipeError", errno.EPIPE, "[Errno 32] Broken pipe")


# -- data transfer -------------------------------------------------------------------------


def test_echo(run: Runner) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(1000):
            writer.write(data)
            await writer.drain()
        await close_writer(writer)

    async def main() -> list[Observation]:
        seen: list[Observation] = []
        server, port = await serve(handle)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for msg in (b"one", b"two", b"three" * 10_000):
            writer.write(msg)
            await writer.drain()
            seen.append(("echo", await reader.readexactly(len(msg)) == msg))
        writer.write_eof()
        seen.append(("eof", await reader.read()))
        seen.append(("close", await close_writer(writer)))
        await stop(server)
        return seen

    assert run(main) == [
        ("echo", True),
        ("echo", True),
        ("echo", True),
        ("eof", b""),
        ("close", ("ok", None)),
    ]


def test_request_response_and_addresses(run: Runner) -> None:
    async def main() -> list[Observation]:
        seen: list[Observation] = []
        server_saw: list[Any] = []

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            server_saw.append(writer.get_extra_info("peername"))
            server_saw.append(writer.get_extra_info("sockname"))
            request = await reader.readline()
            body = request.strip().upper() * 100
            writer.write(b"%d\n" % len(body) + body)
            await writer.drain()
            await close_writer(writer)

        server, port = await serve(handle)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"get /index\n")
        size = int(await reader.readline())
        seen.append(("body", size, await reader.readexactly(size) == b"GET /INDEX" * 100))
        seen.append(("eof", await reader.read()))
        sockname = writer.get_extra_info("sockname")
        seen.append(("peername", writer.get_extra_info("peername") == ("127.0.0.1", port)))
        seen.append(("server peername is client sockname", server_saw[0] == sockname))
        seen.append(("server sockname", server_saw[1] == ("127.0.0.1", port)))
        seen.append(("ephemeral", 32768 <= sockname[1] <= 60999))
        sock = writer.get_extra_info("socket")
        seen.append(("socket", sock.getsockname() == sockname, sock.family, sock.type))
        seen.append(("close", await close_writer(writer)))
        await stop(server)
        return seen

    assert run(main) == [
        ("body", 1000, True),
        ("eof", b""),
        ("peername", True),
        ("server peername is client sockname", True),
        ("server sockname", True),
        ("ephemeral", True),
        ("socket", True, socket.AF_INET, socket.SOCK_STREAM),
        ("close", ("ok", None)),
    ]


def test_write_eof_then_read_long_reply(run: Runner) -> None:
    reply = pattern(1_000_000)

    async def main() -> list[Observation]:
        seen: list[Observation] = []

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            request = await reader.read()  # until the client's FIN
            seen.append(("server got", len(request)))
            writer.write(reply)
            await writer.drain()
            await close_writer(writer)

        server, port = await serve(handle)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        seen.append(("can_write_eof", writer.can_write_eof()))
        writer.write(b"upload" * 1000)
        writer.write_eof()
        data = await reader.read()
        seen.append(
            ("reply", len(data), hashlib.sha256(data).digest() == hashlib.sha256(reply).digest())
        )
        seen.append(("again", await reader.read()))
        seen.append(("close", await close_writer(writer)))
        await stop(server)
        return seen

    assert run(main) == [
        ("can_write_eof", True),
        ("server got", 6000),
        ("reply", 1_000_000, True),
        ("again", b""),
        ("close", ("ok", None)),
    ]


def test_reading_after_eof(run: Runner) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"bye")
        await close_writer(writer)

    async def main() -> list[Observation]:
        seen: list[Observation] = []
        server, port = await serve(handle)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        seen.append(("read", await reader.read()))
        seen.append(("read", await reader.read()))
        seen.append(("read(10)", await reader.read(10)))
        seen.append(("readline", await reader.readline()))
        seen.append(("at_eof", reader.at_eof()))
        try:
            await reader.readexactly(1)
        except asyncio.IncompleteReadError as exc:
            seen.append(("readexactly", type(exc).__name__, exc.partial, exc.expected))
        seen.append(("close", await close_writer(writer)))
        await stop(server)
        return seen

    assert run(main) == [
        ("read", b"bye"),
        ("read", b""),
        ("read(10)", b""),
        ("readline", b""),
        ("at_eof", True),
        ("readexactly", "IncompleteReadError", b"", 1),
        ("close", ("ok", None)),
    ]


def test_server_close_keeps_open_connections(run: Runner) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(100):
            writer.write(data)
        await close_writer(writer)

    async def main() -> list[Observation]:
        seen: list[Observation] = []
        server, port = await serve(handle)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"a")
        seen.append(("before", await reader.readexactly(1)))
        server.close()
        seen.append(("is_serving", server.is_serving(), len(server.sockets)))
        writer.write(b"b")
        seen.append(("after", await reader.readexactly(1)))
        refused = await attempt(asyncio.open_connection("127.0.0.1", port))
        seen.append(("new connection", refused[:2]))
        writer.write_eof()
        seen.append(("eof", await reader.read()))
        seen.append(("close", await close_writer(writer)))
        await server.wait_closed()
        return seen

    assert run(main) == [
        ("before", b"a"),
        ("is_serving", False, 0),
        ("after", b"b"),
        ("new connection", ("ConnectionRefusedError", errno.ECONNREFUSED)),
        ("eof", b""),
        ("close", ("ok", None)),
    ]


def test_server_half_close_client_keeps_sending(run: Runner) -> None:
    """The server sends its reply and write_eof(); the client reads EOF, then
    still sends, and the server reads it all (half-close the other way)."""

    async def main() -> list[Observation]:
        seen: list[Observation] = []

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(b"greeting")
            writer.write_eof()
            seen.append(("server read", len(await reader.read())))
            seen.append(("server close", await close_writer(writer)))

        server, port = await serve(handle)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        seen.append(("client read", await reader.read()))
        for _ in range(10):
            writer.write(pattern(10_000))
            await writer.drain()
        writer.write_eof()
        await asyncio.sleep(SETTLE)
        seen.append(("client close", await close_writer(writer)))
        await stop(server)
        return seen

    assert run(main) == [
        ("client read", b"greeting"),
        ("server read", 100_000),
        ("server close", ("ok", None)),
        ("client close", ("ok", None)),
    ]


def test_slow_reader_back_pressures_the_writer(run: Runner) -> None:
    """A server that does not read: the client's drain() blocks once the
    receive and send buffers are full (16 MB is more than Linux's loopback
    buffers take, tcp_rmem + tcp_wmem maxima), and completes once it reads."""
    size = 16 * 1024 * 1024

    async def main() -> list[Observation]:
        seen: list[Observation] = []
        start_reading = asyncio.Event()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await start_reading.wait()
            total = 0
            while data := await reader.read(1 << 20):
                total += len(data)
            seen.append(("server read", total))
            await close_writer(writer)

        server, port = await serve(handle)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(bytes(size))
        seen.append(("drain while unread", await attempt(asyncio.wait_for(writer.drain(), SETTLE))))
        seen.append(("buffered", writer.transport.get_write_buffer_size() > 0))
        start_reading.set()
        seen.append(("drain after reading", await attempt(writer.drain())))
        writer.write_eof()
        seen.append(("eof", await reader.read()))
        seen.append(("close", await close_writer(writer)))
        await stop(server)
        return seen

    assert run(main) == [
        ("drain while unread", ("TimeoutError", None, "")),
        ("buffered", True),
        ("drain after reading", ("ok", None)),
        ("server read", 16 * 1024 * 1024),
        ("eof", b""),
        ("close", ("ok", None)),
    ]


def test_addresses_on_the_loopback_network(run: Runner) -> None:
    """A server on 0.0.0.0 answers on 127.0.0.1, 127.0.0.2 (all of 127/8 is
    loopback) and "localhost"; the client's address stays 127.0.0.1."""

    async def main() -> list[Observation]:
        seen: list[Observation] = []
        server = await asyncio.start_server(lambda r, w: w.close(), "0.0.0.0", 0)
        port = server.sockets[0].getsockname()[1]
        seen.append(("server", server.sockets[0].getsockname() == ("0.0.0.0", port)))
        for host in ("127.0.0.1", "127.0.0.2", "localhost"):
            reader, writer = await asyncio.open_connection(host, port)
            sockname = writer.get_extra_info("sockname")
            peername = writer.get_extra_info("peername")
            seen.append((host, sockname[0], peername[0], peername[1] == port))
            seen.append(("eof", await reader.read()))
            await close_writer(writer)
        await stop(server)
        return seen

    assert run(main) == [
        ("server", True),
        ("127.0.0.1", "127.0.0.1", "127.0.0.1", True),
        ("eof", b""),
        ("127.0.0.2", "127.0.0.1", "127.0.0.2", True),
        ("eof", b""),
        ("localhost", "127.0.0.1", "127.0.0.1", True),
        ("eof", b""),
    ]


# -- resets --------------------------------------------------------------------------------


def test_close_with_unread_data_resets_peer(run: Runner) -> None:
    """CONFORMANCE 42: the server closes with bytes it never read -> RST; the
    client's read raises ECONNRESET, and so does everything after."""

    async def main() -> list[Observation]:
        seen: list[Observation] = []
        client_sent = asyncio.Event()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readexactly(5)
            writer.write(b"reply")
            writer.transport.pause_reading()  # the client's next bytes stay unread
            await client_sent.wait()
            await asyncio.sleep(SETTLE)
            writer.close()

        server, port = await serve(handle)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"hello")
        seen.append(("reply", await reader.readexactly(5)))
        writer.write(b"unread by the server")
        await writer.drain()
        client_sent.set()
        seen.append(("read", await attempt(reader.read(100))))
        seen.append(("write", try_call(writer.write, b"more")))
        seen.append(("drain", await attempt(writer.drain())))
        seen.append(("read again", await attempt(reader.read(100))))
        seen.append(("close", await close_writer(writer)))
        await stop(server)
        return seen

    assert run(main) == [
        ("reply", b"reply"),
        ("read", RESET),
        ("write", ("ok", None)),
        ("drain", RESET),
        ("read again", RESET),
        ("close", RESET),
    ]


def test_abort_with_unread_data_resets_peer(run: Runner) -> None:
    """transport.abort() is close(2): with unread bytes the kernel sends RST."""

    async def main() -> list[Observation]:
        seen: list[Observation] = []
        client_sent = asyncio.Event()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readexactly(4)
            writer.transport.pause_reading()
            writer.write(b"pong")
            await client_sent.wait()
            await asyncio.sleep(SETTLE)
            writer.transport.abort()

        server, port = await serve(handle)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"ping")
        seen.append(("reply", await reader.readexactly(4)))
        writer.write(b"never read")
        await writer.drain()
        client_sent.set()
        seen.append(("read", await attempt(reader.read(100))))
        seen.append(("close", await close_writer(writer)))
        await stop(server)
        return seen

    assert run(main) == [("reply", b"pong"), ("read", RESET), ("close", RESET)]


def test_abort_without_unread_data_is_a_fin(run: Runner) -> None:
    """transport.abort() with nothing unread: the kernel sends what was written,
    then FIN -- the peer reads the bytes and EOF, no reset."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readexactly(4)
        writer.write(b"pong")
        writer.transport.abort()

    async def main() -> list[Observation]:
        seen: list[Observation] = []
        server, port = await serve(handle)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"ping")
        seen.append(("read", await attempt(reader.read())))
        seen.append(("close", await close_writer(writer)))
        await stop(server)
        return seen

    assert run(main) == [("read", ("ok", b"pong")), ("close", ("ok", None))]


def test_abort_with_linger_zero_resets_peer(run: Runner) -> None:
    """CONFORMANCE 44: SO_LINGER {1, 0} makes close(2) abortive -- RST even with
    nothing unread (what Toxiproxy's reset_peer does)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readexactly(4)
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    async def main() -> list[Observation]:
        seen: list[Observation] = []
        server, port = await serve(handle)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"ping")
        seen.append(("read", await attempt(reader.read())))
        seen.append(("close", await close_writer(writer)))
        await stop(server)
        return seen

    assert run(main) == [("read", RESET), ("close", RESET)]


def test_data_before_reset_is_readable(run: Runner) -> None:
    """CONFORMANCE 47: bytes queued before a RST are read first, then ECONNRESET."""

    async def main() -> list[Observation]:
        seen: list[Observation] = []
        paused = asyncio.Event()
        client_sent = asyncio.Event()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readexactly(4)
            writer.transport.pause_reading()  # what comes next stays unread
            paused.set()
            writer.write(b"last words")
            await client_sent.wait()
            await asyncio.sleep(SETTLE)
            writer.transport.abort()  # unread bytes: RST

        server, port = await serve(handle)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.transport.pause_reading()  # let "last words" and the RST both queue up
        writer.write(b"ping")
        await paused.wait()
        writer.write(b"unread")
        await writer.drain()
        client_sent.set()
        await asyncio.sleep(2 * SETTLE)
        writer.transport.resume_reading()
        seen.append(("read", await attempt(reader.read(100))))
        seen.append(("read", await attempt(reader.read(100))))
        seen.append(("close", await close_writer(writer)))
        await stop(server)
        return seen

    assert run(main) == [("read", ("ok", b"last words")), ("read", RESET), ("close", RESET)]


def test_write_after_peer_reset(run: Runner) -> None:
    """The peer reset the connection while we were not reading: the write
    meets the error (send() -> ECONNRESET), and the stream reports it."""

    async def main() -> list[Observation]:
        seen: list[Observation] = []
        paused = asyncio.Event()
        client_sent = asyncio.Event()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readexactly(4)
            writer.transport.pause_reading()  # what comes next stays unread
            paused.set()
            await client_sent.wait()
            await asyncio.sleep(SETTLE)
            writer.transport.abort()  # unread bytes: RST

        server, port = await serve(handle)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.transport.pause_reading()  # the RST is not seen through a read
        writer.write(b"ping")
        await paused.wait()
        writer.write(b"unread")
        await writer.drain()
        client_sent.set()
        await asyncio.sleep(2 * SETTLE)
        seen.append(("write", try_call(writer.write, b"after the reset")))
        seen.append(("drain", await attempt(writer.drain())))
        seen.append(("drain", await attempt(writer.drain())))
        seen.append(("read", await attempt(reader.read(100))))
        seen.append(("close", await close_writer(writer)))
        await stop(server)
        return seen

    assert run(main) == [
        ("write", ("ok", None)),
        ("drain", CONN_LOST),
        ("drain", RESET),
        ("read", RESET),
        ("close", RESET),
    ]


def test_peer_fin_then_two_writes(run: Runner) -> None:
    """Peer closed (FIN): our first write is accepted (the peer answers RST,
    which lands in CLOSE-WAIT: EPIPE), the second write meets EPIPE."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    async def main() -> list[Observation]:
        seen: list[Observation] = []
        server, port = await serve(handle)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        seen.append(("read", await reader.read()))
        writer.write(b"first")
        seen.append(("drain", await attempt(writer.drain())))
        await asyncio.sleep(SETTLE)  # the RST comes back
        seen.append(("write", try_call(writer.write, b"second")))
        seen.append(("drain", await attempt(writer.drain())))
        seen.append(("drain", await attempt(writer.drain())))
        seen.append(("read", await attempt(reader.read())))
        seen.append(("close", await close_writer(writer)))
        await stop(server)
        return seen

    assert run(main) == [
        ("read", b""),
        ("drain", ("ok", None)),
        ("write", ("ok", None)),
        ("drain", CONN_LOST),
        ("drain", PIPE),
        ("read", PIPE),
        ("close", PIPE),
    ]


# -- beyond streams: sendfile, socket options, the loop's sock_* calls ----------------------


def test_sendfile(run: Runner, tmp_path: Path) -> None:
    """loop.sendfile(): os.sendfile on a kernel socket; on other transports
    asyncio falls back to read + write (base_events._sendfile_fallback), which
    needs a transports._FlowControlMixin transport."""
    data = pattern(200_000)
    (tmp_path / "blob").write_bytes(data)

    async def main() -> list[Observation]:
        seen: list[Observation] = []
        loop = asyncio.get_running_loop()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            seen.append(("sent", await attempt(loop.sendfile(writer.transport, blob))))
            await close_writer(writer)

        server, port = await serve(handle)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        body = await reader.read()
        seen.append(("received", len(body), body == data))
        seen.append(("close", await close_writer(writer)))
        await stop(server)
        return seen

    with open(tmp_path / "blob", "rb") as blob:
        observed = run(main)
    assert observed == [
        ("sent", ("ok", len(data))),
        ("received", len(data), True),
        ("close", ("ok", None)),
    ]


def test_socket_options(run: Runner) -> None:
    """What get_extra_info("socket") answers: asyncio turns TCP_NODELAY on for
    every TCP transport (base_events._set_nodelay); keep-alive is off until set."""

    async def main() -> list[Observation]:
        seen: list[Observation] = []
        server, port = await serve(lambda r, w: w.close())
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        sock = writer.get_extra_info("socket")
        for level, name in (
            (socket.IPPROTO_TCP, "TCP_NODELAY"),
            (socket.SOL_SOCKET, "SO_KEEPALIVE"),
            (socket.SOL_SOCKET, "SO_TYPE"),
            (socket.SOL_SOCKET, "SO_ERROR"),
        ):
            seen.append((name, sock.getsockopt(level, getattr(socket, name))))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 30)
        seen.append(("SO_KEEPALIVE set", sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE)))
        seen.append(("TCP_KEEPIDLE set", sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE)))
        seen.append(("limits", writer.transport.get_write_buffer_limits()))
        seen.append(("eof", await reader.read()))
        seen.append(("close", await close_writer(writer)))
        await stop(server)
        return seen

    assert run(main) == [
        ("TCP_NODELAY", 1),
        ("SO_KEEPALIVE", 0),
        ("SO_TYPE", socket.SOCK_STREAM),
        ("SO_ERROR", 0),
        ("SO_KEEPALIVE set", 1),
        ("TCP_KEEPIDLE set", 30),
        ("limits", (16384, 65536)),
        ("eof", b""),
        ("close", ("ok", None)),
    ]


def test_sock_calls_with_a_socket_built_by_the_application(run: Runner) -> None:
    """Libraries that build sockets themselves (aiohttp through aiohappyeyeballs,
    anyio) use loop.sock_connect / sock_accept / sock_sendall / sock_recv.
    The listening socket accepts handshakes from listen() on: the client
    connects before the server calls sock_accept."""

    async def main() -> list[Observation]:
        seen: list[Observation] = []
        loop = asyncio.get_running_loop()
        with socket.socket() as listening, socket.socket() as client:
            listening.setblocking(False)
            client.setblocking(False)
            listening.bind(("127.0.0.1", 0))
            listening.listen()
            port = listening.getsockname()[1]
            connected = await attempt(loop.sock_connect(client, ("127.0.0.1", port)))
            seen.append(("connect", connected[:2]))
            if connected[0] != "ok":
                return seen  # nothing to accept
            conn, addr = await loop.sock_accept(listening)
            with conn:
                # the application's own socket object answers for the connection
                seen.append(("client peername", client.getpeername() == ("127.0.0.1", port)))
                seen.append(("client sockname", client.getsockname() == addr))
                await loop.sock_sendall(client, b"request")
                seen.append(("server got", await loop.sock_recv(conn, 100)))
                await loop.sock_sendall(conn, b"response")
                seen.append(("client got", await loop.sock_recv(client, 100)))
                client.shutdown(socket.SHUT_WR)
                seen.append(("server eof", await loop.sock_recv(conn, 100)))
        return seen

    assert run(main) == [
        ("connect", ("ok", None)),
        ("client peername", True),
        ("client sockname", True),
        ("server got", b"request"),
        ("client got", b"response"),
        ("server eof", b""),
    ]


def test_closing_a_listening_socket_built_by_the_application(run: Runner) -> None:
    """anyio's and hypercorn's listeners are sockets the library built: close()
    on the socket object ends the listener -- a connection still in its accept
    queue is reset, a later connect is refused."""

    async def main() -> list[Observation]:
        seen: list[Observation] = []
        listening = socket.socket()
        listening.setblocking(False)
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listening.bind(("127.0.0.1", 0))
        listening.listen(8)
        port = listening.getsockname()[1]
        seen.append(("accepting", listening.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)))
        reader, writer = await asyncio.open_connection("127.0.0.1", port)  # queued
        listening.close()
        seen.append(("fileno", listening.fileno()))
        seen.append(("getsockname", try_call(listening.getsockname)[:2]))
        seen.append(("queued client reads", (await attempt(reader.read(10)))[:2]))
        writer.close()
        later = await attempt(asyncio.open_connection("127.0.0.1", port))
        seen.append(("connect after close", later[:2]))
        return seen

    assert run(main) == [
        ("accepting", 1),
        ("fileno", -1),
        ("getsockname", ("OSError", errno.EBADF)),
        ("queued client reads", ("ConnectionResetError", errno.ECONNRESET)),
        ("connect after close", ("ConnectionRefusedError", errno.ECONNREFUSED)),
    ]


def test_socket_built_by_the_application_bound_then_connected(run: Runner) -> None:
    """A socket bound before loop.sock_connect connects from its bound port."""

    async def main() -> list[Observation]:
        seen: list[Observation] = []
        loop = asyncio.get_running_loop()
        server, port = await serve(lambda r, w: w.close())
        with socket.socket() as client:
            client.setblocking(False)
            client.bind(("127.0.0.1", 0))
            bound = client.getsockname()
            seen.append(
                ("connect", (await attempt(loop.sock_connect(client, ("127.0.0.1", port))))[:2])
            )
            seen.append(("same port", client.getsockname() == bound))
            seen.append(("peer", client.getpeername() == ("127.0.0.1", port)))
            seen.append(("bind again", try_call(client.bind, ("127.0.0.1", 0))[:2]))
        await stop(server)
        return seen

    assert run(main) == [
        ("connect", ("ok", None)),
        ("same port", True),
        ("peer", True),
        ("bind again", ("OSError", errno.EINVAL)),
    ]


# -- connection establishment and binding --------------------------------------------------


def test_connection_refused(run: Runner) -> None:
    async def main() -> list[Observation]:
        port = await free_port()
        result = await attempt(asyncio.open_connection("127.0.0.1", port))
        return [
            (
                result[0],
                result[1],
                result[2] == f"[Errno 111] Connect call failed ('127.0.0.1', {port})",
            )
        ]

    assert run(main) == [("ConnectionRefusedError", errno.ECONNREFUSED, True)]


def test_bound_but_not_serving_refuses(run: Runner) -> None:
    """start_server(start_serving=False) binds a socket but does not listen()
    (asyncio calls listen() in Server._start_serving): the kernel refuses a
    connection until serving starts."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"hi")
        await close_writer(writer)

    async def main() -> list[Observation]:
        seen: list[Observation] = []
        server, port = await serve(handle, start_serving=False)
        seen.append(("is_serving", server.is_serving()))
        result = await attempt(asyncio.open_connection("127.0.0.1", port))
        if result[0] == "ok":
            await close_writer(result[1][1])
            result = ("ok", "connected")
        seen.append(("connect", result[:2]))
        await server.start_serving()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        seen.append(("read", await reader.read()))
        seen.append(("close", await close_writer(writer)))
        await asyncio.sleep(SETTLE)  # let every handler finish
        await stop(server)
        return seen

    assert run(main) == [
        ("is_serving", False),
        ("connect", ("ConnectionRefusedError", errno.ECONNREFUSED)),
        ("read", b"hi"),
        ("close", ("ok", None)),
    ]


def test_bind_conflict(run: Runner) -> None:
    async def main() -> list[Observation]:
        seen: list[Observation] = []
        server, port = await serve(lambda r, w: w.close())
        second = await attempt(asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", port))
        seen.append(("second server", second[:2]))
        # 3.13 puts the lowered str() of the error in the message, 3.11/3.12 its strerror.
        reason = (
            "[errno 98] address already in use"
            if sys.version_info >= (3, 13)
            else ("address already in use")
        )
        seen.append(
            (
                "message",
                second[2]
                == f"[Errno 98] error while attempting to bind on address ('127.0.0.1', {port}): "
                + reason,
            )
        )
        client = await attempt(
            asyncio.open_connection("127.0.0.1", port, local_addr=("127.0.0.1", port))
        )
        seen.append(("client bound to the server's port", client[:2]))
        await stop(server)
        return seen

    assert run(main) == [
        ("second server", ("OSError", errno.EADDRINUSE)),
        ("message", True),
        ("client bound to the server's port", ("OSError", errno.EADDRINUSE)),
    ]


def test_listeners_keyed_by_address(run: Runner) -> None:
    # Linux keys listeners by (address, port): 127.0.0.1 and 127.0.0.2 share a
    # port; a wildcard bind conflicts with a listening specific one (asyncio sets
    # SO_REUSEADDR, which does not cover a socket already listening); a SYN goes
    # to the listener bound to its destination address, or is refused.
    async def main() -> list[Observation]:
        seen: list[Observation] = []
        first, port = await serve(lambda r, w: w.close())
        second = await attempt(asyncio.start_server(lambda r, w: w.close(), "127.0.0.2", port))
        seen.append(("127.0.0.2, same port", second[0]))
        wildcard = await attempt(asyncio.start_server(lambda r, w: w.close(), "0.0.0.0", port))
        seen.append(("0.0.0.0, same port", wildcard[:2]))
        for ip in ("127.0.0.2", "127.0.0.3"):
            conn = await attempt(asyncio.open_connection(ip, port))
            seen.append((ip, conn[0]))
            if conn[0] == "ok":
                await close_writer(conn[1][1])
        await stop(first)
        if second[0] == "ok":
            await stop(second[1])
        return seen

    assert run(main) == [
        ("127.0.0.2, same port", "ok"),
        ("0.0.0.0, same port", ("OSError", errno.EADDRINUSE)),
        ("127.0.0.2", "ok"),
        ("127.0.0.3", "ConnectionRefusedError"),
    ]


def test_self_connect(run: Runner) -> None:
    """CONFORMANCE 13: a socket bound to port P connects to P on its own
    address -- a simultaneous open with itself; the stream echoes to itself."""

    async def main() -> list[Observation]:
        seen: list[Observation] = []
        port = await free_port()
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, local_addr=("127.0.0.1", port)
        )
        me = ("127.0.0.1", port)
        seen.append(
            (
                "addresses",
                writer.get_extra_info("sockname") == me,
                writer.get_extra_info("peername") == me,
            )
        )
        writer.write(b"hello me")
        seen.append(("read", await reader.readexactly(8)))
        writer.write_eof()
        seen.append(("eof", await reader.read()))
        seen.append(("close", await close_writer(writer)))
        return seen

    assert run(main) == [
        ("addresses", True, True),
        ("read", b"hello me"),
        ("eof", b""),
        ("close", ("ok", None)),
    ]


# -- API misuse ----------------------------------------------------------------------------


def test_write_after_write_eof(run: Runner) -> None:
    async def main() -> list[Observation]:
        seen: list[Observation] = []
        server_saw: list[bytes] = []

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            server_saw.append(await reader.read())
            await close_writer(writer)

        server, port = await serve(handle)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"body")
        writer.write_eof()
        seen.append(("write", try_call(writer.write, b"late")))
        seen.append(("writelines", try_call(writer.writelines, [b"la", b"te"])))
        seen.append(("write_eof again", try_call(writer.write_eof)))
        seen.append(("drain", await attempt(writer.drain())))
        seen.append(("eof", await reader.read()))
        seen.append(("server read", server_saw[0]))
        seen.append(("close", await close_writer(writer)))
        await stop(server)
        return seen

    late = ("RuntimeError", None, "Cannot call write() after write_eof()")
    # asyncio 3.12+ has its own writelines() with its own message
    late_lines = (
        late
        if sys.version_info < (3, 12)
        else ("RuntimeError", None, "Cannot call writelines() after write_eof()")
    )
    assert run(main) == [
        ("write", late),
        ("writelines", late_lines),
        ("write_eof again", ("ok", None)),
        ("drain", ("ok", None)),
        ("eof", b""),
        ("server read", b"body"),
        ("close", ("ok", None)),
    ]


def test_write_after_close(run: Runner) -> None:
    """asyncio drops writes after close() silently (the transport counts them);
    drain() then reports the lost connection."""

    async def main() -> list[Observation]:
        seen: list[Observation] = []

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read()
            await close_writer(writer)

        server, port = await serve(handle)
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.close()
        seen.append(("write", try_call(writer.write, b"late")))
        seen.append(("write_eof", try_call(writer.write_eof)))
        seen.append(("drain", await attempt(writer.drain())))
        seen.append(("wait_closed", await attempt(writer.wait_closed())))
        await asyncio.sleep(SETTLE)  # the handler sees EOF and closes
        await stop(server)
        return seen

    assert run(main) == [
        ("write", ("ok", None)),
        ("write_eof", ("ok", None)),
        ("drain", CONN_LOST),
        ("wait_closed", ("ok", None)),
    ]


# -- simulation only -----------------------------------------------------------------------


@pytest.mark.parametrize(("syn_retries", "expected"), [(None, 131.0), (3, 19.0)])
def test_syn_timeout_against_a_blackhole(
    run: Runner, syn_retries: int | None, expected: float
) -> None:
    """A SYN that is never answered: ETIMEDOUT at 131 s (Linux >= 6.5 defaults),
    19 s with TCP_SYNCNT=3 (docs TCP-REFERENCE.md, observed on Linux 6.18)."""
    if run.network is None:
        pytest.skip(
            "kernel: needs a peer that never answers; loopback answers every SYN "
            "(RST from a closed port), and a blackhole needs root (iptables DROP or a "
            "network namespace); the 131 s wait is also too long for a test"
        )
    net = run.network
    server = net.add_host("server")
    client = net.add_host("client")
    net.link(client, server).update(loss=1.0)

    async def main() -> list[Observation]:
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            if syn_retries is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_SYNCNT, syn_retries)
            with client.current():
                result = await attempt(loop.sock_connect(sock, (server.ip, 80)))
        finally:
            sock.close()
        return [result[:2], ("at", loop.time())]

    assert run(main) == [("TimeoutError", errno.ETIMEDOUT), ("at", pytest.approx(expected))]


def test_bad_ports(run: Runner) -> None:
    """Ports out of range fail as the socket module fails them; port 0 is a
    port like any other for connect(), and nothing listens there."""

    async def main() -> list[Observation]:
        return [
            await attempt(asyncio.open_connection("127.0.0.1", 70000)),
            await attempt(asyncio.open_connection("127.0.0.1", -1)),
            await attempt(asyncio.open_connection("127.0.0.1", 0)),
            await attempt(asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 70000)),
        ]

    assert run(main) == [
        ("OverflowError", None, "connect(): port must be 0-65535."),
        ("OverflowError", None, "connect(): port must be 0-65535."),
        (
            "ConnectionRefusedError",
            errno.ECONNREFUSED,
            "[Errno 111] Connect call failed ('127.0.0.1', 0)",
        ),
        ("OverflowError", None, "bind(): port must be 0-65535."),
    ]
