"""``aiotcpsim.run(..., host=...)``: the body runs as if inside ``host.current()``."""

from __future__ import annotations

import asyncio

import pytest

import aiotcpsim
from aiotcpsim.stack.host import current_host


def test_run_host_makes_the_body_run_on_that_host() -> None:
    net = aiotcpsim.Network(seed=1)
    client = net.add_host("client")
    net.add_host("server")

    async def main() -> str | None:
        inner = asyncio.get_running_loop().create_task(asyncio.sleep(0, current_host()))
        assert await inner is client  # tasks started by the body inherit it
        found = current_host()
        return None if found is None else found.name

    assert aiotcpsim.run(main(), network=net, host=client) == "client"
    assert aiotcpsim.run(main(), network=net, host="client") == "client"


def test_run_host_partition_applies() -> None:
    net = aiotcpsim.Network(seed=1)
    client = net.add_host("client")
    server = net.add_host("server")

    async def main() -> None:
        async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            w.close()

        with server.current():
            srv = await asyncio.start_server(handle, port=80)
        net.faults.partition("client", "server")
        with pytest.raises(TimeoutError):
            await asyncio.open_connection("server", 80)
        srv.close()
        await srv.wait_closed()

    aiotcpsim.run(main(), network=net, host=client)


def test_run_host_unknown_name() -> None:
    net = aiotcpsim.Network(seed=1)

    async def main() -> None:
        pass

    coro = main()
    with pytest.raises(ValueError, match="host"):
        aiotcpsim.run(coro, network=net, host="nowhere")
    coro.close()


def test_loop_factory_host() -> None:
    net = aiotcpsim.Network(seed=1)
    net.add_host("client")

    async def main() -> str | None:
        found = current_host()
        return None if found is None else found.name

    with asyncio.Runner(loop_factory=aiotcpsim.loop_factory(net, host="client")) as runner:
        assert runner.run(main()) == "client"
    with asyncio.Runner(loop_factory=aiotcpsim.loop_factory(net)) as runner:
        assert runner.run(main()) is None


def test_run_host_keeps_an_explicit_host() -> None:
    net = aiotcpsim.Network(seed=1)
    net.add_host("client")
    server = net.add_host("server")

    async def main() -> str:
        async def where() -> str:
            found = current_host()
            assert found is not None
            return found.name

        with server.current():
            task = asyncio.get_running_loop().create_task(where())
        return await task

    assert aiotcpsim.run(main(), network=net, host="client") == "server"
