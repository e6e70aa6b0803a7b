"""anyio on its asyncio backend, unmodified, over the simulated network:
``anyio.create_tcp_listener``, ``anyio.connect_tcp``, half-close, timeouts."""

from __future__ import annotations

import anyio
import anyio.abc
import pytest

import aiotcpsim
from aiotcpsim.asyncio_loop import loop_factory


@pytest.mark.parametrize("loss", [0.0, 0.1])
def test_anyio_listener_and_connect_with_half_close(loss: float) -> None:
    net = aiotcpsim.Network(seed=6, loss=loss, delay=0.01)
    reply = b"r" * 50_000

    async def main() -> tuple[bytes, float]:
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=9000)

        async def handle(stream: anyio.abc.SocketStream) -> None:
            async with stream:
                request = b""
                async for chunk in stream:  # until the client's send_eof()
                    request += chunk
                await stream.send(reply + request)

        async with listener, anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, handle)
            got = b""
            async with await anyio.connect_tcp("127.0.0.1", 9000) as stream:
                await stream.send(b"ping")
                await stream.send_eof()  # half-close: the reply still arrives
                async for chunk in stream:
                    got += chunk
            tg.cancel_scope.cancel()
        return got, anyio.current_time()

    got, elapsed = anyio.run(
        main, backend="asyncio", backend_options={"loop_factory": loop_factory(net)}
    )
    assert got == reply + b"ping"
    assert elapsed < 60  # virtual seconds


def test_anyio_connect_timeout_on_virtual_time() -> None:
    net = aiotcpsim.Network(seed=1)
    server = net.add_host("server")
    net.link(net.localhost, server).update(loss=1.0)  # SYNs vanish

    async def main() -> float:
        with anyio.move_on_after(30):
            await anyio.connect_tcp("server", 80)
        return anyio.current_time()

    elapsed = anyio.run(
        main, backend="asyncio", backend_options={"loop_factory": loop_factory(net)}
    )
    assert elapsed == pytest.approx(30.0)
