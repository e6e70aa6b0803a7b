"""What goes on the wire: the kernel's loopback segments vs the simulation's trace.

tests/compare/test_compare_asyncio.py compares what the application sees;
this module compares the segments themselves.  Each test is plain asyncio
code on 127.0.0.1, run twice by the ``wire`` fixture:

* ``kernel``: the kernel's TCP on loopback, real clock, while ``dumpcap``
  captures ``lo`` for the server's port (tests/compare/segments_support.py);
* ``sim``: the simulated network on the virtual-time loop, whose
  ``net.trace.segments()`` are the segments sent.

Both become rows ``(direction, flags, seq, ack, len)`` -- ``c>s`` or
``s>c``, flags as tcpdump and packetdrill print them (``S``, ``S.``, ``.``,
``P.``, ``F.``, ``R``, ``R.``), sequence and acknowledgment numbers relative
to each side's ISN, payload length.  Windows, options and timing are not
compared.  The expected rows are the kernel's (docs DESIGN.md, "Tests":
where the two disagree, the kernel is right), and both backends must produce
them.

The only allowed skip is a kernel run where dumpcap cannot capture (not
installed, no permission on ``lo``).

Every scenario ends with ``settle()``: a quarter of a second (real on the
kernel, virtual on the simulation) for anything still due -- a delayed ACK
is sent within 200 ms (``TCP_DELACK_MAX``) -- so both traces are complete.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

import aiotcpsim
from segments_support import (
    CaptureUnavailable,
    LoopbackCapture,
    Row,
    causal_order,
    coalesce,
    free_port,
    rows,
)

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
        net = aiotcpsim.Network(seed=SEED, tcp=tcp)

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
    try:
        return ("ok", await aw)
    except (OSError, asyncio.IncompleteReadError) as exc:
        return (type(exc).__name__, getattr(exc, "errno", None))


def show(table: list[Row]) -> str:
    return "\n".join(repr(r) for r in table)


REQUEST = bytes(range(65, 81))  # 16 bytes


# -- (1), (2) echo, then close --------------------------------------------------------------


@pytest.mark.parametrize("server_delay", [0.0, 0.2])
def test_echo_then_close(wire: Wire, server_delay: float) -> None:
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
    print(show(table))
    assert seen == [("echo", True), ("server eof", b""), ("client eof", b"")]
    assert table == []


# -- (3) connect to a closed port -----------------------------------------------------------


def test_connect_to_closed_port(wire: Wire) -> None:
    async def scenario(port: int) -> list[Any]:
        seen = [await attempt(asyncio.open_connection("127.0.0.1", port))]
        await settle()
        return seen

    seen, table = wire(scenario)
    print(show(table))
    assert seen == [("ConnectionRefusedError", 111)]
    assert table == []


# -- (4) close with unread data -------------------------------------------------------------


def test_close_with_unread_data(wire: Wire) -> None:
    async def scenario(port: int) -> list[Any]:
        seen: list[Any] = []
        client_sent = asyncio.Event()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readexactly(5)
            writer.write(b"reply")
            writer.transport.pause_reading()  # the client's next bytes stay unread
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
    print(show(table))
    assert seen == []
    assert table == []


# -- (5) transport.abort() ------------------------------------------------------------------


@pytest.mark.parametrize("linger_zero", [False, True], ids=["plain", "linger0"])
def test_abort(wire: Wire, linger_zero: bool) -> None:
    async def scenario(port: int) -> list[Any]:
        seen: list[Any] = []

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readexactly(4)
            if linger_zero:
                sock = writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            else:
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
    print(show(table))
    assert seen == []
    assert table == []


# -- (6) half-close, then a long reply ------------------------------------------------------

REPLY = bytes((i * 31 + 7) % 251 for i in range(100_000))


def test_half_close_then_long_reply(wire: Wire) -> None:
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

    seen, table = wire(scenario, tcp=aiotcpsim.TcpConfig(mss=LOOPBACK_MSS))
    print(show(table))
    print("coalesced")
    print(show(causal_order(coalesce(table))))
    assert seen == [("server got", 16), ("reply", True)]
    assert table == []
