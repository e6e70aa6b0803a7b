"""Unmodified third-party asyncio libraries over the simulated network."""

from __future__ import annotations

import asyncio

import pytest

import aiotcpsim
from aiotcpsim.asyncio_loop import loop_factory


@pytest.mark.parametrize("loss", [0.0, 0.05])
def test_aiohttp_client_and_server(loss: float) -> None:
    """aiohttp's client builds its own sockets (aiohappyeyeballs: socket.socket(),
    loop.sock_connect, create_connection(sock=)) and resolves through
    loop.getaddrinfo; its server uses loop.create_server."""
    aiohttp = pytest.importorskip("aiohttp")
    from aiohttp import web

    net = aiotcpsim.Network(seed=2, loss=loss, delay=0.01)
    api = net.add_host("api")
    app_host = net.add_host("app")

    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="hello " + request.query.get("n", ""))

    async def main() -> list[str]:
        app = web.Application()
        app.router.add_get("/", hello)
        runner = web.AppRunner(app)
        await runner.setup()
        with api.current():
            site = web.TCPSite(runner, port=8080)
            await site.start()
        replies = []
        with app_host.current():
            async with aiohttp.ClientSession() as session:
                for i in range(3):
                    async with session.get(f"http://api:8080/?n={i}") as response:
                        assert response.status == 200
                        replies.append(await response.text())
        await runner.cleanup()
        return replies

    with asyncio.Runner(loop_factory=loop_factory(net)) as runner:
        assert runner.run(main()) == ["hello 0", "hello 1", "hello 2"]
