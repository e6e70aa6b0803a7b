"""Real-time mode: the simulated network on an ordinary loop's own clock,
the stock asyncio loop and uvloop alike."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

import aiotcpsim
from aiotcpsim.asyncio_loop import attach, install

uvloop = pytest.importorskip("uvloop", reason="uvloop is not installed (pip install uvloop)")


async def echo_once(net: aiotcpsim.Network) -> tuple[bytes, str, float]:
    loop = asyncio.get_running_loop()
    with attach(loop, net):
        uninstall = install(loop, net)
        try:

            async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
                writer.write(await reader.read())
                await writer.drain()
                writer.close()

            server = await asyncio.start_server(echo, "127.0.0.1", 8080)
            reader, writer = await asyncio.open_connection("127.0.0.1", 8080)
            writer.write(b"hello")
            writer.write_eof()
            data = await reader.read()
            kind = type(writer.transport).__name__
            writer.close()
            await writer.wait_closed()
            server.close()
            await server.wait_closed()
            return data, kind, net.now
        finally:
            uninstall()


@pytest.mark.parametrize(
    "runner",
    [asyncio.run, uvloop.run],
    ids=["asyncio", "uvloop"],
)
def test_network_runs_on_an_ordinary_loop_in_real_time(runner: Callable[[Any], Any]) -> None:
    net = aiotcpsim.Network(seed=3, delay=0.001)  # 1 ms each way, on the loop's clock
    data, kind, elapsed = runner(echo_once(net))
    assert data == b"hello"
    assert kind == "SimTransport"  # the bytes crossed the simulated network
    assert 0.004 <= elapsed < 5.0  # handshake + data + FINs: at least 4 one-way trips
    assert net.statistics()["segments_sent"] >= 7
