"""What goes on the wire: the kernel's loopback segments vs the simulation's trace.

tests/compare/test_compare_asyncio.py compares what the application sees;
this module compares the segments themselves.  Each test is plain asyncio
code on 127.0.0.1, run twice by the ``wire`` fixture:

* ``kernel``: the kernel's TCP on loopback, real clock, while ``dumpcap``
  captures ``lo`` for the server's port (tests/compare/segments_support.py);
* ``sim``: the simulated network on the virtual-time loop, whose
  ``net.trace.segments()`` are the segments sent.

Both become rows ``(direction, flags, seq, ack, len)``: ``c>s`` or ``s>c``,
flags as tcpdump and packetdrill print them (``S``, ``S.``, ``.``, ``P.``,
``F.``, ``R``, ``R.``), sequence and acknowledgment numbers relative to each
side's ISN, payload length.  Windows, options and timing are not compared.
The expected rows are what the kernel sends (docs DESIGN.md, "Tests": where
the two disagree, the kernel is right), and both backends must produce them
row for row.

Differences tolerated, each because of Linux behaviour the simulation does
not model, and only in the test that needs it:

* segmentation of a long reply (test_half_close_then_long_reply): how the
  kernel cuts a write into segments follows its socket buffers and page
  fragments (here 32768 + 32768 + 34464 bytes), not TCP; the rows are
  compared after :func:`~segments_support.coalesce` (contiguous data of one
  side as one row, partial ACKs and window updates dropped);
* the order of neighbouring segments in opposite directions that nothing in
  the segments orders (same test): on loopback the kernel runs the receiver
  inside the sender's system call, so the server's ACK of the request goes
  out before the client's ``write_eof()``; the simulation sends both of the
  client's segments before delivering either
  (:func:`~segments_support.causal_order`).

The only allowed skip is a kernel run where dumpcap cannot capture (not
installed, no permission on ``lo``).

Every scenario ends with :func:`settle`: a quarter of a second (real on the
kernel, virtual on the simulation) for anything still due -- a delayed ACK
leaves within 200 ms (``TCP_DELACK_MAX``) -- so both traces are complete.
"""

from __future__ import annotations

import asyncio
import difflib
import errno
import socket
import struct
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

import pytest
from segments_support import (
    CaptureUnavailable,
    LoopbackCapture,
    Row,
    causal_order,
    coalesce,
    free_port,
    rows,
)

import aiotcpsim

T = TypeVar("T")

SEED = 5
KERNEL_TIMEOUT = 5.0  # real seconds for one scenario on loopback
SIM_TIMEOUT = 600.0  # virtual seconds for one scenario on the simulation
SIM_PORT = 8080  # the simulated server's port (rows do not depend on it)
SETTLE = 0.05  # a segment and its answer cross loopback
LOOPBACK_MSS = 65483  # lo's MTU 65536 - 20 (IP) - 20 (TCP) - 12 (timestamps option)


class Wire:
    """Runs ``scenario(port)`` on one backend; returns its result and the rows."""

    def __init__(self, backend: str) -> None:
        self.backend = backend

    def __call__(
        self,
        scenario: Callable[[int], Awaitable[T]],
        *,
        tcp: aiotcpsim.TcpConfig | None = None,
    ) -> tuple[T, list[Row]]:
        if self.backend == "kernel":
            return self._kernel(scenario)
        return self._sim(scenario, tcp)

    def _kernel(self, scenario: Callable[[int], Awaitable[T]]) -> tuple[T, list[Row]]:
        port = free_port()

        async def bounded() -> T:
            async with asyncio.timeout(KERNEL_TIMEOUT):
                return await scenario(port)

        try:
            with LoopbackCapture(port) as capture:
                with asyncio.Runner() as runner:
                    result = runner.run(bounded())
                segments = capture.stop()
        except CaptureUnavailable as exc:
            pytest.skip(f"cannot capture kernel loopback segments: {exc}")
        return result, rows(segments, port)

    def _sim(
        self, scenario: Callable[[int], Awaitable[T]], tcp: aiotcpsim.TcpConfig | None
    ) -> tuple[T, list[Row]]:
        # The whole trace: segment lengths are compared (a bounded trace keeps
        # only the head of a loopback segment's payload).
        net = aiotcpsim.Network(seed=SEED, tcp=tcp, trace="full")

        async def bounded() -> T:
            async with asyncio.timeout(SIM_TIMEOUT):
                return await scenario(SIM_PORT)

        with asyncio.Runner(loop_factory=aiotcpsim.loop_factory(net)) as runner:
            result = runner.run(bounded())
        return result, rows(net.trace.segments(), SIM_PORT)


@pytest.fixture(params=["kernel", "sim"])
def wire(request: pytest.FixtureRequest) -> Wire:
    return Wire(request.param)


async def settle() -> None:
    await asyncio.sleep(0.25)


async def attempt(aw: Awaitable[Any]) -> tuple[Any, ...]:
    """("ok", result) or (exception type name, errno)."""
    try:
        return ("ok", await aw)
    except OSError as exc:
        return (type(exc).__name__, exc.errno)


def assert_rows(actual: list[Row], expected: list[Row]) -> None:
    """Row for row; when they differ, a diff: ``-`` only the kernel's (the
    expected rows), ``+`` only this backend's."""
    if actual == expected:
        return
    diff = difflib.ndiff([repr(r) for r in expected], [repr(r) for r in actual])
    lines = [line for line in diff if not line.startswith("?")]
    pytest.fail(
        "segments differ (- expected, as the kernel, + actual):\n" + "\n".join(lines), pytrace=False
    )


C, S = "c>s", "s>c"
HANDSHAKE: list[Row] = [(C, "S", 0, 0, 0), (S, "S.", 0, 1, 0), (C, ".", 1, 1, 0)]
REQUEST = bytes(range(65, 81))  # 16 bytes
RESET = ("ConnectionResetError", errno.ECONNRESET)


# -- (1), (2) echo, then close --------------------------------------------------------------

# The ACK of a FIN is delayed (tcp_fin() puts the socket in ping-pong mode), so
# a server that closes at once sends it on its own FIN: a three-segment close.
THREE_SEGMENT_CLOSE: list[Row] = [(S, "F.", 17, 18, 0)]
# A server that waits longer than the delayed-ACK timeout (40 ms) ACKs first.
FOUR_WAY_CLOSE: list[Row] = [(S, ".", 17, 18, 0), (S, "F.", 17, 18, 0)]


@pytest.mark.parametrize(
    ("server_delay", "server_close"),
    [(0.0, THREE_SEGMENT_CLOSE), (0.2, FOUR_WAY_CLOSE)],
    ids=["close-at-once", "close-after-200ms"],
)
def test_echo_then_close(wire: Wire, server_delay: float, server_close: list[Row]) -> None:
    """16-byte request and echo; the client half-closes, the server reads EOF
    and closes (at once, or after 0.2 s), the client reads EOF and closes."""

    async def scenario(port: int) -> list[Any]:
        seen: list[Any] = []

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(await reader.readexactly(16))
            await writer.drain()
            seen.append(("server eof", await reader.read()))
            if server_delay:
                await asyncio.sleep(server_delay)
            writer.close()
            await writer.wait_closed()

        server = await asyncio.start_server(handle, "127.0.0.1", port)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(REQUEST)
        seen.append(("echo", await reader.readexactly(16) == REQUEST))
        writer.write_eof()
        seen.append(("client eof", await reader.read()))
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()
        await settle()
        return seen

    seen, table = wire(scenario)
    assert seen == [("echo", True), ("server eof", b""), ("client eof", b"")]
    assert_rows(
        table,
        [
            *HANDSHAKE,
            (C, "P.", 1, 1, 16),
            # The first data a side receives puts it in quick-ACK mode: ACK at once.
            (S, ".", 1, 17, 0),
            (S, "P.", 1, 17, 16),
            # The client too: it sent its request right after the SYN-ACK, but
            # Linux counts a reply as interactive only within ``ato`` of the last
            # segment received, and ``ato`` is 0 until data has been received.
            (C, ".", 17, 17, 0),
            (C, "F.", 17, 17, 0),
            *server_close,
            (C, ".", 18, 18, 0),
        ],
    )


# -- (3) connect to a closed port -----------------------------------------------------------


def test_connect_to_closed_port(wire: Wire) -> None:
    async def scenario(port: int) -> list[Any]:
        seen = [await attempt(asyncio.open_connection("127.0.0.1", port))]
        await settle()
        return seen

    seen, table = wire(scenario)
    assert seen == [("ConnectionRefusedError", errno.ECONNREFUSED)]
    # The RST of a closed port answers a SYN with seq 0 and ACKs the SYN
    # (RFC 9293 section 3.10.7.1; Linux tcp_v4_send_reset).
    assert_rows(table, [(C, "S", 0, 0, 0), (S, "R.", 0, 1, 0)])


# -- (4) close with unread data -------------------------------------------------------------


def test_close_with_unread_data(wire: Wire) -> None:
    """CONFORMANCE 42: the server closes with 20 bytes it never read -> RST|ACK
    at its SND.NXT instead of a FIN (Linux tcp_close: data discarded)."""

    async def scenario(port: int) -> list[Any]:
        seen: list[Any] = []
        client_sent = asyncio.Event()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readexactly(5)
            writer.write(b"reply")
            cast(
                asyncio.ReadTransport, writer.transport
            ).pause_reading()  # the client's next bytes stay unread
            await client_sent.wait()
            await asyncio.sleep(SETTLE)
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", port)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"hello")
        seen.append(("reply", await reader.readexactly(5)))
        writer.write(b"unread by the server")
        await writer.drain()
        client_sent.set()
        seen.append(("read", await attempt(reader.read(100))))
        writer.close()
        seen.append(("close", await attempt(writer.wait_closed())))
        server.close()
        await server.wait_closed()
        await settle()
        return seen

    seen, table = wire(scenario)
    assert seen == [("reply", b"reply"), ("read", RESET), ("close", RESET)]
    assert_rows(
        table,
        [
            *HANDSHAKE,
            (C, "P.", 1, 1, 5),
            (S, ".", 1, 6, 0),  # quick-ACK of the first data
            (S, "P.", 1, 6, 5),
            (C, ".", 6, 6, 0),  # quick-ACK of the first data (see test_echo_then_close)
            (C, "P.", 6, 6, 20),
            (S, ".", 6, 26, 0),
            (S, "R.", 6, 26, 0),
        ],
    )


# -- (5) transport.abort() ------------------------------------------------------------------


def test_abort_with_nothing_unread_is_a_fin(wire: Wire) -> None:
    """transport.abort() is close(2): nothing unread, so what was written and
    then a FIN; the client reads EOF and closes, its FIN carrying the ACK."""

    async def scenario(port: int) -> list[Any]:
        seen: list[Any] = []

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readexactly(4)
            writer.write(b"pong")
            writer.transport.abort()

        server = await asyncio.start_server(handle, "127.0.0.1", port)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"ping")
        seen.append(("read", await attempt(reader.read())))
        writer.close()
        seen.append(("close", await attempt(writer.wait_closed())))
        server.close()
        await server.wait_closed()
        await settle()
        return seen

    seen, table = wire(scenario)
    assert seen == [("read", ("ok", b"pong")), ("close", ("ok", None))]
    assert_rows(
        table,
        [
            *HANDSHAKE,
            (C, "P.", 1, 1, 4),
            (S, ".", 1, 5, 0),
            (S, "P.", 1, 5, 4),
            (C, ".", 5, 5, 0),  # quick-ACK of the first data (see test_echo_then_close)
            (S, "F.", 5, 5, 0),
            (C, "F.", 5, 6, 0),  # the delayed ACK of the FIN rides on the client's FIN
            (S, ".", 6, 6, 0),
        ],
    )


def test_abort_with_linger_zero_is_a_reset(wire: Wire) -> None:
    """CONFORMANCE 44: SO_LINGER {1, 0} makes close(2) abortive: RST|ACK at
    SND.NXT even with nothing unread (Linux tcp_close -> tcp_disconnect)."""

    async def scenario(port: int) -> list[Any]:
        seen: list[Any] = []

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readexactly(4)
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()

        server = await asyncio.start_server(handle, "127.0.0.1", port)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"ping")
        seen.append(("read", await attempt(reader.read())))
        writer.close()
        seen.append(("close", await attempt(writer.wait_closed())))
        server.close()
        await server.wait_closed()
        await settle()
        return seen

    seen, table = wire(scenario)
    assert seen == [("read", RESET), ("close", RESET)]
    assert_rows(
        table,
        [*HANDSHAKE, (C, "P.", 1, 1, 4), (S, ".", 1, 5, 0), (S, "R.", 1, 5, 0)],
    )


# -- (6) half-close, then a long reply ------------------------------------------------------

REPLY = bytes((i * 31 + 7) % 251 for i in range(100_000))


def test_half_close_then_long_reply(wire: Wire) -> None:
    """The client sends 16 bytes and write_eof(); the server reads to EOF,
    answers 100 kB and closes.

    Loopback connections use loopback's MSS, 65483 (MTU 65536 less IP, TCP
    and timestamp headers), as the kernel's do; the rows are compared modulo
    segmentation and with unordered neighbours in one order (module docstring).
    """

    async def scenario(port: int) -> list[Any]:
        seen: list[Any] = []

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            seen.append(("server got", len(await reader.read())))  # until the client's FIN
            writer.write(REPLY)
            await writer.drain()
            writer.close()
            await writer.wait_closed()

        server = await asyncio.start_server(handle, "127.0.0.1", port)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(REQUEST)
        writer.write_eof()
        data = await reader.read()
        seen.append(("reply", data == REPLY))
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()
        await settle()
        return seen

    # Linux starts a connection's buffers at tcp_rmem[1] / tcp_wmem[1] and
    # autotunes them up as a transfer goes on; a 100 kB reply stays near the
    # start, so the simulation uses those sizes here instead of its loopback
    # default (the autotuned maxima), which it reaches at once.
    start = aiotcpsim.TcpConfig(loopback_rcvbuf=131072, loopback_sndbuf=65536)
    seen, table = wire(scenario, tcp=start)
    assert seen == [("server got", 16), ("reply", True)]
    assert max(row[4] for row in table) <= LOOPBACK_MSS, table
    assert_rows(
        causal_order(coalesce(table)),
        [
            *HANDSHAKE,
            (C, "P.", 1, 1, 16),
            (C, "F.", 17, 1, 0),
            (S, ".", 1, 17, 0),  # quick-ACK of the request (sent before the FIN arrived)
            (S, "P.", 1, 18, 100_000),
            (S, "F.", 100_001, 18, 0),
            (C, ".", 18, 100_002, 0),
        ],
    )


# -- the normalisation itself ---------------------------------------------------------------


def test_rows_are_relative_to_each_side_and_flagged_like_tcpdump() -> None:
    from aiotcpsim.segment import ACK, FIN, PSH, RST, SYN

    def seg(src: int, dst: int, flags: int, seq: int, ack: int, n: int = 0) -> aiotcpsim.Segment:
        return aiotcpsim.Segment(
            "127.0.0.1", src, "127.0.0.1", dst, seq, ack, flags, 65535, b"x" * n
        )

    table = rows(
        [
            seg(40000, 9, SYN, 0xFFFFFFF0, 0),
            seg(9, 40000, SYN | ACK, 500, 0xFFFFFFF1),
            seg(40000, 9, PSH | ACK, 0xFFFFFFF1, 501, 3),
            seg(9, 40000, FIN | ACK, 501, 0xFFFFFFF4),
            seg(40000, 7, SYN, 1, 0),  # another port: not this server's
            seg(9, 40001, RST | ACK, 0, 2),  # no SYN seen from either side
        ],
        9,
    )
    assert table == [
        (C, "S", 0, 0, 0),
        (S, "S.", 0, 1, 0),
        (C, "P.", 1, 1, 3),
        (S, "F.", 1, 4, 0),
        (S, "R.", 0, 2, 0),
    ]


def test_coalesce_and_causal_order_leave_only_segmentation_out() -> None:
    kernel = [
        (C, "P.", 1, 1, 16),
        (S, ".", 1, 17, 0),
        (C, "F.", 17, 1, 0),
        (S, ".", 1, 18, 32768),
        (C, ".", 18, 32769, 0),  # part of the run: dropped
        (S, "P.", 32769, 18, 32768),
        (C, ".", 18, 32769, 0),  # a window update: dropped
        (S, "P.", 65537, 18, 34464),
        (S, "F.", 100001, 18, 0),
        (C, ".", 18, 100002, 0),
    ]
    assert causal_order(coalesce(kernel)) == [
        (C, "P.", 1, 1, 16),
        (C, "F.", 17, 1, 0),  # nothing orders it with the server's ACK of 17
        (S, ".", 1, 17, 0),
        (S, "P.", 1, 18, 100_000),
        (S, "F.", 100_001, 18, 0),
        (C, ".", 18, 100_002, 0),
    ]
    # A missing or extra segment is not normalised away.
    assert coalesce([(S, "P.", 1, 1, 10), (S, ".", 1, 1, 0)]) == [
        (S, "P.", 1, 1, 10),
        (S, ".", 1, 1, 0),
    ]
    assert causal_order([(S, "P.", 1, 1, 10), (C, ".", 1, 11, 0)]) == [
        (S, "P.", 1, 1, 10),
        (C, ".", 1, 11, 0),
    ]
    assert coalesce([(S, "P.", 1, 1, 10), (C, "P.", 1, 1, 5), (S, "P.", 11, 1, 10)]) == [
        (S, "P.", 1, 1, 10),
        (C, "P.", 1, 1, 5),
        (S, "P.", 11, 1, 10),
    ]
