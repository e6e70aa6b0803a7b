"""Only a thread doing submitted work holds the virtual clock; idle pool workers do not."""

from __future__ import annotations

import asyncio

import anyio
import anyio.to_thread
import pytest

import aiotcpsim
from aiotcpsim.asyncio_loop import DeadlockError


def test_idle_anyio_worker_lets_virtual_time_jump() -> None:
    async def main() -> tuple[int, float]:
        result = await anyio.to_thread.run_sync(sum, range(10))
        loop = asyncio.get_running_loop()
        start = loop.time()
        await asyncio.sleep(3600.0)  # would take an hour of wall time if the worker held the clock
        return result, loop.time() - start

    assert aiotcpsim.run(main()) == (45, 3600.0)


def test_idle_anyio_worker_does_not_hide_a_deadlock() -> None:
    async def main() -> None:
        await anyio.to_thread.run_sync(sum, range(10))
        await asyncio.Event().wait()

    with pytest.raises(DeadlockError, match="deadlock at virtual time"):
        aiotcpsim.run(main())


def test_idle_executor_worker_lets_virtual_time_jump() -> None:
    async def main() -> float:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sum, range(10))
        await asyncio.sleep(3600.0)
        return loop.time()

    assert aiotcpsim.run(main()) == 3600.0


def test_same_seed_same_trace_after_a_worker_job() -> None:
    def once() -> str:
        net = aiotcpsim.Network(seed=5, delay=0.01, jitter=0.005, loss=0.2)
        server = net.add_host("server")
        client = net.add_host("client")

        async def main() -> None:
            async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
                writer.write(await reader.read(100))
                await writer.drain()
                writer.close()

            with server.current():
                srv = await asyncio.start_server(echo, port=7)
            await anyio.to_thread.run_sync(sum, range(10))
            await asyncio.sleep(30.0)  # idle worker: a jump, not 30 s of wall time
            with client.current():
                reader, writer = await asyncio.open_connection("server", 7)
            writer.write(b"ping")
            assert await reader.read() == b"ping"
            writer.close()
            srv.close()

        aiotcpsim.run(main(), network=net)
        return net.trace.digest()

    assert once() == once()


def test_busy_polling_task_sees_a_timer_fire() -> None:
    def once() -> tuple[float, int]:
        async def main() -> tuple[float, int]:
            loop = asyncio.get_running_loop()
            fired = asyncio.Event()
            loop.call_later(1.0, fired.set)
            spins = 0
            while not fired.is_set():
                await asyncio.sleep(0)
                spins += 1
            return loop.time(), spins

        return aiotcpsim.run(main())

    first = once()
    assert first[0] == 1.0
    assert once() == first


@pytest.mark.filterwarnings("ignore::ResourceWarning")  # left open on purpose
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_closed_loop_closes_what_it_owns() -> None:
    net = aiotcpsim.Network(seed=1)
    server = net.add_host("server")
    client = net.add_host("client")

    async def first() -> None:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read()

        with server.current():
            await asyncio.start_server(handle, port=80)  # left open
        with client.current():
            _, writer = await asyncio.open_connection("server", 80)
        writer.write(b"x")
        await writer.drain()

    aiotcpsim.run(first(), network=net)

    async def second() -> str:
        with server.current():
            srv = await asyncio.start_server(lambda r, w: None, port=80)
        srv.close()
        await asyncio.sleep(120.0)  # the old connections finish closing
        return "bound"

    assert aiotcpsim.run(second(), network=net) == "bound"
