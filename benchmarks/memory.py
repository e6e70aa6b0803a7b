"""Memory benchmark: Python heap per open asyncio connection, simulated vs kernel.

Prints one ``name: value unit`` line per figure: the median of the rounds,
the anchor measured in the same run, and the ratio simulation / anchor.
Rounds alternate the simulation and the anchor, each after a full garbage
collection.

The figure is what ``tracemalloc`` counts (the Python heap) for N established,
idle connections opened with ``asyncio.open_connection`` to an
``asyncio.start_server`` on 127.0.0.1, both ends kept (client reader/writer,
server reader/writer), divided by N.  Simulation: ``aiotcpsim.run(main())``
with no network arguments (zero setup; its trace records count too).  Anchor:
the same ``main()`` under ``asyncio.run``, kernel TCP (kernel socket buffers
are not Python heap and are not counted).

    python benchmarks/memory.py [--rounds 3] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import statistics
import tracemalloc
from collections.abc import Awaitable, Callable

import aiotcpsim

Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


def open_connections(n: int) -> Callable[[], Awaitable[float]]:
    """Bytes of Python heap per connection (both ends) for ``n`` connections."""

    async def main() -> float:
        accepted: list[Streams] = []
        target = 1
        all_accepted = asyncio.Event()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            accepted.append((reader, writer))
            if len(accepted) == target:
                all_accepted.set()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        # One connection first, so one-time costs (lazy imports, caches) are paid.
        warm = await asyncio.open_connection("127.0.0.1", port)
        await all_accepted.wait()
        all_accepted.clear()
        target = n + 1
        opened: list[Streams] = [warm]
        gc.collect()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        for _ in range(n):
            opened.append(await asyncio.open_connection("127.0.0.1", port))
        await all_accepted.wait()
        for _ in range(3):
            await asyncio.sleep(0)
        gc.collect()
        used = tracemalloc.get_traced_memory()[0] - base
        tracemalloc.stop()
        for _, writer in opened + accepted:
            writer.close()
        for _, writer in opened + accepted:
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        server.close()
        await server.wait_closed()
        return used / n

    return main


def run_kernel(main: Callable[[], Awaitable[float]]) -> float:
    async def wrapper() -> float:
        return await main()

    return asyncio.run(wrapper())


def run_sim(main: Callable[[], Awaitable[float]]) -> float:
    async def wrapper() -> float:
        return await main()

    return aiotcpsim.run(wrapper())


def alternate(
    rounds: int, sim: Callable[[], float], anchor: Callable[[], float]
) -> tuple[float, float, float]:
    """Medians of the simulation and its anchor, and the median per-round ratio
    sim / anchor; the two alternate, each after a full garbage collection."""
    ss: list[float] = []
    aa: list[float] = []
    for i in range(rounds):
        order: list[tuple[Callable[[], float], list[float]]] = [(anchor, aa), (sim, ss)]
        for fn, out in order if i % 2 == 0 else reversed(order):
            gc.collect()
            out.append(fn())
    ratios = [s / a for s, a in zip(ss, aa, strict=True)]
    return statistics.median(ss), statistics.median(aa), statistics.median(ratios)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds per figure (median)")
    parser.add_argument("--quick", action="store_true", help="fewer connections, for a smoke run")
    args = parser.parse_args()
    n = 50 if args.quick else 300  # kernel: 2 descriptors per connection
    sim, kernel, ratio = alternate(
        args.rounds,
        lambda: run_sim(open_connections(n)),
        lambda: run_kernel(open_connections(n)),
    )
    name = "asyncio_heap_per_connection"
    print(f"{name}: {sim / 1024:.1f} KiB")
    print(f"{name}_anchor_kernel_asyncio: {kernel / 1024:.1f} KiB")
    print(f"{name}_vs_anchor: {ratio:.3g} ratio")


if __name__ == "__main__":
    main()
