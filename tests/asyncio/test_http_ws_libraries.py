"""httpx (through anyio and httpcore) and websockets, unmodified, over a lossy
simulated network between two named hosts."""

from __future__ import annotations

import pytest

import aiotcpsim

httpx = pytest.importorskip("httpx", reason="httpx is not installed")
websockets = pytest.importorskip("websockets", reason="websockets is not installed")
web = pytest.importorskip("aiohttp.web", reason="aiohttp is not installed")


@pytest.mark.parametrize("seed", [1, 4])
def test_httpx_and_websockets_over_loss(seed: int) -> None:
    net = aiotcpsim.Network(seed=seed, loss=0.05, delay=0.01)
    api = net.add_host("api")
    client = net.add_host("client")
    body = bytes(range(256)) * 800  # 200 kB

    async def main() -> list[object]:
        seen: list[object] = []
        app = web.Application()

        async def payload(request: web.Request) -> web.Response:
            return web.Response(body=body)

        app.router.add_get("/", payload)
        runner = web.AppRunner(app)
        await runner.setup()

        async def reverse(ws: object) -> None:
            async for message in ws:  # type: ignore[attr-defined]
                await ws.send(message[::-1])  # type: ignore[attr-defined]

        with api.current():
            await web.TCPSite(runner, port=8080).start()
            ws_server = await websockets.serve(reverse, port=8765)
        try:
            with client.current():
                async with httpx.AsyncClient() as http:
                    for _ in range(3):  # keep-alive: one connection
                        response = await http.get("http://api:8080/")
                        seen.append((response.status_code, response.content == body))
                async with websockets.connect("ws://api:8765") as ws:
                    await ws.send("hello")
                    seen.append(await ws.recv())
        finally:
            ws_server.close()
            await ws_server.wait_closed()
            await runner.cleanup()
        return seen

    seen = aiotcpsim.run(main(), network=net)
    assert seen == [(200, True)] * 3 + ["olleh"]
    stats = net.statistics()
    assert stats["segments_dropped"] > 0 and stats["retransmissions"] > 0
    first_syns = {
        (s.src_ip, s.src_port, s.dst_port)
        for s in net.trace.segments()
        if s.flags == aiotcpsim.Flags.SYN and s.dst_port == 8080
    }
    assert len(first_syns) == 1  # httpx reused its connection
