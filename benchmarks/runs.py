"""Runs benchmark: what one run of a sweep costs (``aiotcpsim.explore``).

Prints one ``name: value unit`` line per figure, the median of the rounds
(each round after a full garbage collection):

1. ``setup``: build a ``Network`` with two hosts, a virtual-time loop on it
   (``asyncio.Runner(loop_factory=loop_factory(net))``), run an empty
   coroutine, close the loop.  Target: <= 1 ms.  And the same as a sweep
   does it (``run_once`` of an empty body: send tap, timeout, result) -- the
   fixed cost of every run of a sweep.
2. ``scenario``: one clean run of a small request/response exchange over
   ``asyncio.open_connection`` / ``start_server`` (connect, 5 bytes each way,
   close both ends, 10 ms apart), setup included.
3. ``explore``: runs per second of ``explore(body, "drop-each")`` on that
   scenario (the clean run plus one run per segment), serially, and with
   ``--workers N`` also in N processes.

The compiled build: ``PYTHONPATH=build/mypyc python -P benchmarks/runs.py``
(``-P``: do not put this directory's parent first on ``sys.path``).

    python benchmarks/runs.py [--rounds 7] [--quick] [--workers 2] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import cProfile
import gc
import multiprocessing
import pstats
import statistics
import time
from collections.abc import Callable
from typing import Any

import aiotcpsim.segment
from aiotcpsim import Network
from aiotcpsim.asyncio_loop import loop_factory
from aiotcpsim.explore import explore, run_once

NETWORK = {"seed": 1, "delay": 0.01, "hosts": ["client", "server"]}


async def _nothing() -> None:
    return None


def setup_once() -> None:
    net = Network(seed=1)
    net.add_host("client")
    net.add_host("server")
    with asyncio.Runner(loop_factory=loop_factory(net)) as runner:
        runner.run(_nothing())


async def _empty(net: Network) -> None:
    return None


def sweep_setup_once() -> None:
    assert run_once(_empty, network=NETWORK).passed


async def request_response(net: Network) -> None:
    """Connect, 5 bytes each way, close both ends."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await reader.readexactly(5))
        await writer.drain()
        writer.close()

    with net.host("server").current():
        server = await asyncio.start_server(handle, port=80)
    with net.host("client").current():
        reader, writer = await asyncio.open_connection("server", 80)
        writer.write(b"ping!")
        assert await reader.readexactly(5) == b"ping!"
        assert await reader.read() == b""
        writer.close()
        await writer.wait_closed()
    server.close()


def scenario_once() -> None:
    net = Network(seed=1, delay=0.01)
    net.add_host("client")
    net.add_host("server")
    with asyncio.Runner(loop_factory=loop_factory(net)) as runner:
        runner.run(request_response(net))


def per_call(fn: Callable[[], None], n: int) -> float:
    """Milliseconds per call of ``fn``, over ``n`` calls."""
    gc.collect()
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n * 1e3


def explore_rate(mode: str, workers: Any = None) -> tuple[float, int]:
    """Runs per second of a sweep of the scenario, and its number of runs."""
    gc.collect()
    start = time.perf_counter()
    result = explore(request_response, mode, network=NETWORK, workers=workers)
    elapsed = time.perf_counter() - start
    assert result.clean.passed, result.clean.error
    runs = len(result.runs) + 1
    return runs / elapsed, runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="fewer calls per round")
    parser.add_argument("--workers", type=int, default=0, help="also sweep in N processes")
    parser.add_argument("--profile", action="store_true", help="cProfile the setup, top 25")
    args = parser.parse_args()
    calls = 200 if args.quick else 1000
    print(f"package: {aiotcpsim.segment.__file__}")
    if args.profile:
        profile = cProfile.Profile()
        profile.runcall(lambda: [setup_once() for _ in range(calls)])
        pstats.Stats(profile).sort_stats("cumulative").print_stats(25)
    setups, sweep_setups, scenarios, rates, alls, parallel = [], [], [], [], [], []
    pool = None
    if args.workers > 1:
        pool = concurrent.futures.ProcessPoolExecutor(
            args.workers, mp_context=multiprocessing.get_context("spawn")
        )
        explore_rate("all", pool)  # start the workers before measuring
    runs = all_runs = 0
    for _ in range(args.rounds):
        setups.append(per_call(setup_once, calls))
        sweep_setups.append(per_call(sweep_setup_once, calls))
        scenarios.append(per_call(scenario_once, calls // 5))
        rate, runs = explore_rate("drop-each")
        rates.append(rate)
        rate, all_runs = explore_rate("all")
        alls.append(rate)
        if pool is not None:
            parallel.append(explore_rate("all", pool)[0])
    if pool is not None:
        pool.shutdown()
    print(f"setup: {statistics.median(setups):.3f} ms (network + 2 hosts + loop, torn down)")
    print(f"setup: {statistics.median(sweep_setups):.3f} ms (the same in a sweep: run_once)")
    print(f"scenario: {statistics.median(scenarios):.3f} ms (one clean request/response run)")
    print(f"explore: {statistics.median(rates):.0f} runs/s (drop-each, {runs} runs, serial)")
    print(f"explore: {statistics.median(alls):.0f} runs/s (all, {all_runs} runs, serial)")
    if parallel:
        print(
            f"explore: {statistics.median(parallel):.0f} runs/s "
            f"(all, {all_runs} runs, {args.workers} warm worker processes)"
        )


if __name__ == "__main__":
    main()
