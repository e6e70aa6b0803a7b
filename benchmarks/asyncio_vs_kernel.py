"""asyncio benchmark: the simulated network under asyncio against kernel TCP.

Prints one ``name: value unit`` line per figure.  The anchor is kernel TCP on
127.0.0.1 under the default asyncio loop, measured in the same run with the
same application code; ratios are simulation / kernel.  Each figure is the
median of several rounds (the machines are shared and noisy).

1. Connection lifecycles per second through ``open_connection`` /
   ``start_server``: connect, 16-byte echo, ``write_eof``, EOF both ways,
   ``close()`` + ``wait_closed()`` on both ends; one connection at a time.
2. Bulk transfer client -> server in 64 KiB writes with ``drain()``; the
   server reads until EOF.
3. A connect to a blackholed destination (the link drops every segment):
   Linux's SYN ladder gives up with ``ETIMEDOUT`` after 131 s of virtual time;
   the figure is what that costs in wall-clock time.  The kernel would spend
   the 131 s for real, so the ratio is against that nominal figure.

The simulated network for (1) and (2) is clean (no loss, no delay), traces
off, and sized like Linux loopback: MSS 65483 (loopback MTU 65536), receive
buffer 6 MiB and send buffer 4 MiB (the maxima Linux autotunes to by
default, ``tcp_rmem`` / ``tcp_wmem``).  Client and server both use 127.0.0.1,
the simulated ``localhost`` host.

    python benchmarks/asyncio_vs_kernel.py [--rounds 5] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import time
from collections.abc import Awaitable, Callable

from aiotcpsim import TcpConfig
from aiotcpsim.asyncio_loop import run as sim_run
from aiotcpsim.net import Network

MESSAGE = b"0123456789abcdef"  # 16 bytes
WRITE_SIZE = 64 * 1024
READ_SIZE = 1 << 20
SYN_TIMEOUT = 131.0  # Linux: tcp_syn_retries=6, tcp_syn_linear_timeouts=4

# Linux loopback: MTU 65536 -> MSS 65483 with timestamps; autotuned buffers.
LOOPBACK_TCP = TcpConfig(mss=65483, rcvbuf=6 * 1024 * 1024, sndbuf=4 * 1024 * 1024)


def sim_network(seed: int) -> Network:
    return Network(seed=seed, tcp=LOOPBACK_TCP, trace=False)


def run_kernel(main: Callable[[], Awaitable[float]]) -> float:
    """Run on the default asyncio loop, kernel sockets."""

    async def wrapper() -> float:
        return await main()

    return asyncio.run(wrapper())


def run_sim(main: Callable[[], Awaitable[float]], network: Network) -> float:
    """Run on the virtual-time loop, simulated sockets."""

    async def wrapper() -> float:
        return await main()

    return sim_run(wrapper(), network=network)


# -- (1) lifecycles ----------------------------------------------------------------


def lifecycles(n: int) -> Callable[[], Awaitable[float]]:
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


# -- (2) bulk ----------------------------------------------------------------------


def bulk(total: int) -> Callable[[], Awaitable[float]]:
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


# -- (3) SYN timeout ---------------------------------------------------------------


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

    return run_sim(main, net)


# -- main ----------------------------------------------------------------------------


def median(rounds: int, fn: Callable[[], float]) -> float:
    return statistics.median(fn() for _ in range(rounds))


def interleaved(
    rounds: int, kernel: Callable[[], float], sim: Callable[[], float]
) -> tuple[float, float, float]:
    """Medians of kernel and simulation, and the median of per-round ratios.

    The two alternate within each round, so a noisy neighbour hits both sides.
    Each run starts after a full garbage collection, so that neither pays for
    the garbage of the run before it (as pyperf does).
    """
    ks, ss = [], []
    for _ in range(rounds):
        gc.collect()
        ks.append(kernel())
        gc.collect()
        ss.append(sim())
    ratios = [s / k for k, s in zip(ks, ss, strict=True)]
    return statistics.median(ks), statistics.median(ss), statistics.median(ratios)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5, help="rounds per figure (median)")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    args = parser.parse_args()
    r = args.rounds
    n_life = 200 if args.quick else 2000
    total = (16 << 20) if args.quick else (256 << 20)

    k, s, ratio = interleaved(
        r,
        lambda: run_kernel(lifecycles(n_life)),
        lambda: run_sim(lifecycles(n_life), sim_network(1)),
    )
    print(f"kernel_asyncio_lifecycles: {k:.0f} lifecycles/s")
    print(f"sim_asyncio_lifecycles: {s:.0f} lifecycles/s")
    print(f"sim_asyncio_lifecycles_vs_kernel: {ratio:.2f} ratio")

    k, s, ratio = interleaved(
        r,
        lambda: run_kernel(bulk(total)),
        lambda: run_sim(bulk(total), sim_network(2)),
    )
    mib = total >> 20
    print(f"kernel_asyncio_bulk_{mib}MiB: {k:.0f} MB/s")
    print(f"sim_asyncio_bulk_{mib}MiB: {s:.0f} MB/s")
    print(f"sim_asyncio_bulk_{mib}MiB_vs_kernel: {ratio:.3f} ratio")

    syn = median(max(r, 5), sim_syn_timeout)
    print(f"sim_asyncio_syn_timeout_131s: {syn:.2f} ms")
    print(f"sim_asyncio_syn_timeout_vs_kernel_131s: {syn / (SYN_TIMEOUT * 1e3):.2e} ratio")


if __name__ == "__main__":
    main()
