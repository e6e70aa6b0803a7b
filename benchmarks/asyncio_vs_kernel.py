"""asyncio benchmark: what a user gets with zero setup, against kernel TCP.

Prints one ``name: value unit`` line per figure: the median of the rounds,
the anchor measured in the same run, and the ratio simulation / anchor.
Rounds alternate the simulation and the anchor, each after a full garbage
collection.  The simulation is ``aiotcpsim.run(main())`` with no ``Network``
arguments (a fresh default network whose host ``localhost`` is 127.0.0.1);
the anchor is the same ``main()`` under ``asyncio.run`` on the stock loop,
kernel TCP on 127.0.0.1.  Application code is asyncio streams
(``asyncio.start_server`` / ``asyncio.open_connection``), the same both sides.

1. Connection lifecycles per second, one connection at a time: connect, a
   16-byte echo, ``write_eof``, EOF both ways, ``close()`` + ``wait_closed()``
   on both ends.
2. 64 MiB client -> server in 64 KiB writes with ``drain()``; the server reads
   until EOF.
3. 16-byte round trips per second on one connection (request, response,
   request, ...).
4. The same (1) and (2) on a tuned network (trace off, MSS 65483, 6 MiB /
   4 MiB buffers), labelled ``tuned``.
5. A connect to a blackholed destination: Linux's SYN ladder gives up with
   ``ETIMEDOUT`` after 131 s of virtual time; the figure is its wall-clock
   cost (the kernel would spend the 131 s).

    python benchmarks/asyncio_vs_kernel.py [--rounds 7] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import time
from collections.abc import Awaitable, Callable

import aiotcpsim
from aiotcpsim import Network, TcpConfig

MESSAGE = b"0123456789abcdef"  # 16 bytes
WRITE_SIZE = 64 * 1024
READ_SIZE = 1 << 20
SYN_TIMEOUT = 131.0  # Linux: tcp_syn_retries=6, tcp_syn_linear_timeouts=4

# Linux loopback: MTU 65536 -> MSS 65483 with timestamps; autotuned buffers.
TUNED_TCP = TcpConfig(mss=65483, rcvbuf=6 * 1024 * 1024, sndbuf=4 * 1024 * 1024)

Main = Callable[[], Awaitable[float]]


def run_kernel(main: Main) -> float:
    """The anchor: the stock asyncio loop, kernel sockets."""

    async def wrapper() -> float:
        return await main()

    return asyncio.run(wrapper())


def run_sim(main: Main) -> float:
    """Zero setup: ``aiotcpsim.run`` with no network arguments."""

    async def wrapper() -> float:
        return await main()

    return aiotcpsim.run(wrapper())


def run_tuned(main: Main) -> float:
    """A network tuned for speed: trace off, loopback-sized MSS and buffers."""

    async def wrapper() -> float:
        return await main()

    return aiotcpsim.run(wrapper(), network=Network(seed=1, tcp=TUNED_TCP, trace=False))


# -- (1) lifecycles ----------------------------------------------------------------------


def lifecycles(n: int) -> Main:
    """Lifecycles per second, wall clock, over ``n`` sequential connections."""

    async def main() -> float:
        done = 0
        all_done = asyncio.get_running_loop().create_future()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal done
            data = await reader.readexactly(len(MESSAGE))
            writer.write(data)
            assert await reader.read() == b""  # the client's EOF
            writer.write_eof()
            writer.close()
            await writer.wait_closed()
            done += 1
            if done == n:
                all_done.set_result(None)

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        start = time.perf_counter()
        for _ in range(n):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(MESSAGE)
            assert await reader.readexactly(len(MESSAGE)) == MESSAGE
            writer.write_eof()
            assert await reader.read() == b""  # the server's EOF
            writer.close()
            await writer.wait_closed()
        await all_done
        elapsed = time.perf_counter() - start
        server.close()
        await server.wait_closed()
        return n / elapsed

    return main


# -- (2) bulk ----------------------------------------------------------------------------


def bulk(total: int) -> Main:
    """MB/s of payload moved client -> server, wall clock."""

    async def main() -> float:
        received = asyncio.get_running_loop().create_future()

        async def sink(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            got = 0
            while data := await reader.read(READ_SIZE):
                got += len(data)
            writer.close()
            await writer.wait_closed()
            received.set_result(got)

        server = await asyncio.start_server(sink, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        chunk = b"b" * WRITE_SIZE
        start = time.perf_counter()
        for _ in range(total // WRITE_SIZE):
            writer.write(chunk)
            await writer.drain()
        writer.write_eof()
        got = await received
        elapsed = time.perf_counter() - start
        assert got == total, (got, total)
        assert await reader.read() == b""
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()
        return total / elapsed / 1e6

    return main


# -- (3) round trips -----------------------------------------------------------------------


def round_trips(n: int) -> Main:
    """16-byte request/response round trips per second on one connection."""

    async def main() -> float:
        async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while data := await reader.read(READ_SIZE):
                writer.write(data)
            writer.close()
            await writer.wait_closed()

        server = await asyncio.start_server(echo, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        start = time.perf_counter()
        for _ in range(n):
            writer.write(MESSAGE)
            await reader.readexactly(len(MESSAGE))
        elapsed = time.perf_counter() - start
        writer.write_eof()
        assert await reader.read() == b""
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()
        return n / elapsed

    return main


# -- (5) SYN timeout -----------------------------------------------------------------------


def sim_syn_timeout() -> float:
    """Wall milliseconds of one connect that times out after 131 s of virtual time."""
    net = Network(seed=3, trace=False)
    client = net.add_host("client")
    server = net.add_host("server")
    net.link(client, server).update(loss=1.0)  # a blackhole: every SYN is lost

    async def main() -> float:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        start = time.perf_counter()
        try:
            with client.current():
                await asyncio.open_connection("server", 80)
        except TimeoutError:
            pass
        else:
            raise AssertionError("connect to a blackholed host succeeded")
        elapsed = time.perf_counter() - start
        virtual = loop.time() - t0
        assert abs(virtual - SYN_TIMEOUT) < 1e-6, virtual
        return elapsed * 1e3

    return aiotcpsim.run(main(), network=net)


# -- measuring -----------------------------------------------------------------------------


def alternate(
    rounds: int, sim: Callable[[], float], anchor: Callable[[], float]
) -> tuple[float, float, float]:
    """Medians of the simulation and its anchor, and the median per-round ratio
    sim / anchor.  The two alternate (the anchor first in even rounds, the
    simulation first in odd ones), each after a full garbage collection, so
    neither pays for the other's garbage and a noisy neighbour hits both."""
    ss: list[float] = []
    aa: list[float] = []
    for i in range(rounds):
        order: list[tuple[Callable[[], float], list[float]]] = [(anchor, aa), (sim, ss)]
        for fn, out in order if i % 2 == 0 else reversed(order):
            gc.collect()
            out.append(fn())
    ratios = [s / a for s, a in zip(ss, aa, strict=True)]
    return statistics.median(ss), statistics.median(aa), statistics.median(ratios)


def report(name: str, unit: str, fmt: str, result: tuple[float, float, float]) -> None:
    sim, anchor, ratio = result
    print(f"{name}: {sim:{fmt}} {unit}")
    print(f"{name}_anchor_kernel_asyncio: {anchor:{fmt}} {unit}")
    print(f"{name}_vs_anchor: {ratio:.3g} ratio", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=7, help="rounds per figure (median)")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    args = parser.parse_args()
    r = args.rounds
    n_life = 200 if args.quick else 1000
    total = (16 << 20) if args.quick else (64 << 20)
    n_rtt = 1000 if args.quick else 5000
    mib = total >> 20

    for label, run in (("asyncio", run_sim), ("asyncio_tuned", run_tuned)):
        report(
            f"{label}_lifecycles",
            "lifecycles/s",
            ".0f",
            alternate(
                r, lambda run=run: run(lifecycles(n_life)), lambda: run_kernel(lifecycles(n_life))
            ),
        )
        report(
            f"{label}_bulk_{mib}MiB",
            "MB/s",
            ".0f",
            alternate(r, lambda run=run: run(bulk(total)), lambda: run_kernel(bulk(total))),
        )
        if run is run_sim:
            report(
                "asyncio_round_trips_16B",
                "round trips/s",
                ".0f",
                alternate(
                    r, lambda: run_sim(round_trips(n_rtt)), lambda: run_kernel(round_trips(n_rtt))
                ),
            )

    syn = statistics.median(sim_syn_timeout() for _ in range(max(r, 5)))
    print(f"asyncio_syn_timeout_131s: {syn:.2f} ms")
    print(f"asyncio_syn_timeout_131s_anchor_kernel: {SYN_TIMEOUT * 1e3:.0f} ms")
    print(f"asyncio_syn_timeout_131s_vs_anchor: {syn / (SYN_TIMEOUT * 1e3):.2e} ratio")


if __name__ == "__main__":
    main()
