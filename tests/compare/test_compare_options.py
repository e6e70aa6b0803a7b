"""The options on the wire: the kernel's loopback segments vs the simulation's.

Both backends run the same asyncio exchange on 127.0.0.1 (a 200 kB upload,
then both ends close); the kernel's segments are captured on ``lo`` with
``dumpcap`` (tests/compare/segments_support.py), the simulation's come from
its trace.  Compared: what the SYN offers and the SYN-ACK answers (MSS,
SACK-permitted, window scale, timestamps with TSecr 0 then echoed), their
unscaled windows, the timestamps option on every later segment with TSecr
echoing the peer, and the largest data segment (the MSS less the 12 bytes
of the timestamps option).  The simulation is configured as this kernel:
its window scale follows the larger of ``tcp_rmem``'s maximum and
``rmem_max`` (Linux ``tcp_select_initial_window``), which the simulation
reads from ``loopback_rcvbuf``.
"""

from __future__ import annotations

import asyncio
import pathlib

import pytest
from segments_support import CaptureUnavailable, LoopbackCapture, free_port

import aiotcpsim
from aiotcpsim.segment import SYN, Segment

PAYLOAD = bytes(range(256)) * 800  # 200 kB
SIM_PORT = 8080


def _sysctl(name: str) -> list[int]:
    path = pathlib.Path("/proc/sys/net") / name
    try:
        return [int(v) for v in path.read_text().split()]
    except OSError:
        pytest.skip(f"cannot read {path}")


async def _upload(port: int) -> None:
    got = asyncio.get_running_loop().create_future()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        got.set_result(await reader.read())
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(handle, "127.0.0.1", port)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(PAYLOAD)
    writer.write_eof()
    assert await got == PAYLOAD
    assert await reader.read() == b""
    writer.close()
    await writer.wait_closed()
    server.close()
    await server.wait_closed()
    await asyncio.sleep(0.25)


def _scaled_space() -> int:
    """What Linux scales its window for: max(tcp_rmem[2], rmem_max)."""
    return max(_sysctl("ipv4/tcp_rmem")[2], _sysctl("core/rmem_max")[0])


def _kernel() -> list[Segment]:
    port = free_port()
    try:
        with LoopbackCapture(port) as capture:
            with asyncio.Runner() as runner:
                runner.run(asyncio.wait_for(_upload(port), 5.0))
            return capture.stop()
    except CaptureUnavailable as exc:
        pytest.skip(f"cannot capture kernel loopback segments: {exc}")


def _sim() -> list[Segment]:
    tcp = aiotcpsim.TcpConfig(loopback_rcvbuf=_scaled_space())
    net = aiotcpsim.Network(seed=5, tcp=tcp, trace="full")
    with asyncio.Runner(loop_factory=aiotcpsim.loop_factory(net)) as runner:
        runner.run(_upload(SIM_PORT))
    return net.trace.segments()


def _summary(segments: list[Segment]) -> dict[str, object]:
    syn, synack = segments[0], segments[1]
    assert syn.flags == SYN and synack.flags & SYN
    assert syn.options.timestamps is not None and synack.options.timestamps is not None
    rest = segments[2:]
    tsvals = {(s.src_port, s.options.timestamps[0]) for s in segments if s.options.timestamps}
    return {
        "syn": (syn.window, syn.options.mss, syn.options.sack_permitted, syn.options.wscale),
        "syn ecr": syn.options.timestamps[1],
        "synack": (
            synack.window,
            synack.options.mss,
            synack.options.sack_permitted,
            synack.options.wscale,
        ),
        "synack echoes the syn": synack.options.timestamps[1] == syn.options.timestamps[0],
        "ts on every segment": all(s.options.timestamps is not None for s in rest),
        "no other option after the handshake": all(
            s.options.mss is None and s.options.wscale is None and not s.options.sack_permitted
            for s in rest
        ),
        # Every TSecr is a TSval the other side sent.
        "tsecr echoes the peer": all(
            s.options.timestamps is not None and (s.dst_port, s.options.timestamps[1]) in tsvals
            for s in rest
        ),
        # The kernel cuts writes by its socket buffers: only the bound compares.
        "segments within the MSS less the option": max(len(s.payload) for s in segments) <= 65483,
    }


@pytest.fixture(scope="module")
def kernel() -> dict[str, object]:
    for name in ("ipv4/tcp_timestamps", "ipv4/tcp_sack", "ipv4/tcp_window_scaling"):
        if _sysctl(name) != [1]:
            pytest.skip(f"this kernel runs with net.{name.replace('/', '.')} != 1")
    return _summary(_kernel())


def test_options_on_the_wire_as_the_kernel(kernel: dict[str, object]) -> None:
    assert _summary(_sim()) == kernel


def test_kernel_summary_is_linux(kernel: dict[str, object]) -> None:
    # What the simulation's defaults encode, seen on this kernel: "mss 65495"
    # (lo's MTU 65536 less 40), a SYN window of 65495 and a SYN-ACK window of
    # 65483 (its MSS less the timestamps option: tcp_select_initial_window).
    syn = kernel["syn"]
    synack = kernel["synack"]
    assert isinstance(syn, tuple) and isinstance(synack, tuple)
    assert syn[:3] == (65495, 65495, True)
    assert synack[:3] == (65483, 65495, True)
    assert syn[3] == synack[3] == min(max(_scaled_space().bit_length() - 16, 0), 14)


def test_simulated_data_segments_are_65483() -> None:
    assert max(len(s.payload) for s in _sim()) == 65483
