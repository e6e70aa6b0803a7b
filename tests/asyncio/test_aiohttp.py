"""A third-party library, unmodified, over the simulated network with loss.

An aiohttp server (``web.AppRunner`` + ``web.TCPSite``) and an aiohttp client
(``ClientSession``) talk across a lossy link on the virtual-time loop: a few
requests, a 2 MB body each way, keep-alive reuse of one connection, and a
fresh connection after the server closes an idle one.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from loop_support import run

import aiotcpsim
from aiotcpsim.segment import SYN

aiohttp = pytest.importorskip("aiohttp")
from aiohttp import web  # noqa: E402

BIG = 2 * 1024 * 1024


def pattern(n: int) -> bytes:
    block = bytes(range(251))
    return (block * (n // len(block) + 1))[:n]


async def chunks(data: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


def lossy_network(seed: int) -> tuple[aiotcpsim.Network, aiotcpsim.Host, aiotcpsim.Host]:
    net = aiotcpsim.Network(seed=seed, loss=0.05, delay=0.005, trace="full")
    server = net.add_host("server")
    client = net.add_host("client")
    return net, server, client


def make_app(peers: list[object]) -> web.Application:
    big = pattern(BIG)

    async def hello(request: web.Request) -> web.Response:
        assert request.transport is not None
        peers.append(request.transport.get_extra_info("peername"))
        return web.Response(text=f"hello {request.match_info['name']}")

    async def download(request: web.Request) -> web.Response:
        assert request.transport is not None
        peers.append(request.transport.get_extra_info("peername"))
        return web.Response(body=big, content_type="application/octet-stream")

    async def upload(request: web.Request) -> web.Response:
        assert request.transport is not None
        peers.append(request.transport.get_extra_info("peername"))
        body = await request.read()
        return web.json_response({"size": len(body), "sha256": hashlib.sha256(body).hexdigest()})

    app = web.Application(client_max_size=4 * BIG)
    app.router.add_get("/hello/{name}", hello)
    app.router.add_get("/big", download)
    app.router.add_post("/upload", upload)
    return app


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_requests_large_bodies_and_keep_alive_over_loss(seed: int) -> None:
    net, server_host, client_host = lossy_network(seed)
    peers: list[object] = []
    big = pattern(BIG)

    async def main() -> list[object]:
        seen: list[object] = []
        runner = web.AppRunner(make_app(peers))
        await runner.setup()
        with server_host.current():
            site = web.TCPSite(runner, "0.0.0.0", 8080)
            await site.start()
        try:
            with client_host.current():
                async with aiohttp.ClientSession() as session:
                    for name in ("alice", "bob"):
                        async with session.get(f"http://server:8080/hello/{name}") as resp:
                            seen.append((resp.status, await resp.text()))
                    async with session.get("http://server:8080/big") as resp:
                        body = await resp.read()
                        seen.append((resp.status, len(body), body == big))
                    # an async iterable, not bytes: aiohttp warns about bodies over 1 MB
                    # given as bytes, and a file object would be read in an executor
                    # thread (which makes the virtual clock wait in real time)
                    async with session.post("http://server:8080/upload", data=chunks(big)) as resp:
                        seen.append((resp.status, await resp.json()))
                    async with session.get("http://server:8080/hello/carol") as resp:
                        seen.append((resp.status, await resp.text()))
        finally:
            await runner.cleanup()
        return seen

    assert run(net, main) == [
        (200, "hello alice"),
        (200, "hello bob"),
        (200, BIG, True),
        (200, {"size": BIG, "sha256": hashlib.sha256(big).hexdigest()}),
        (200, "hello carol"),
    ]
    # keep-alive: all five requests came over one connection from the client host
    assert len(peers) == 5
    assert len(set(peers)) == 1
    (peer,) = set(peers)
    assert isinstance(peer, tuple)
    assert peer[0] == client_host.ip
    # the trace agrees: the client sent one SYN (and retransmissions of it, if lost)
    first_syns = [
        r
        for r in net.trace
        if r.kind == "send"
        and r.host == "client"
        and r.segment is not None
        and r.segment.flags & SYN
        and "retransmission" not in r.text
    ]
    assert len(first_syns) == 1
    stats = net.statistics()
    assert stats["segments_dropped"] > 0
    assert stats["retransmissions"] > 0


def test_same_seed_same_run() -> None:
    """Two runs with the same seed: same virtual duration, same trace length."""

    def once() -> tuple[float, int]:
        net, server_host, client_host = lossy_network(7)

        async def main() -> float:
            runner = web.AppRunner(make_app([]))
            await runner.setup()
            with server_host.current():
                await web.TCPSite(runner, "0.0.0.0", 8080).start()
            try:
                with client_host.current():
                    async with (
                        aiohttp.ClientSession() as session,
                        session.get("http://server:8080/big") as resp,
                    ):
                        assert len(await resp.read()) == BIG
            finally:
                await runner.cleanup()
            return asyncio.get_running_loop().time()

        return run(net, main), len(net.trace)

    assert once() == once()


def test_idle_connection_closed_by_server_is_replaced() -> None:
    """aiohttp's server closes a connection idle for keepalive_timeout (75 s here);
    the client's pool notices the FIN and opens a new connection for the next
    request -- no ServerDisconnectedError, and the wait costs no real time."""
    net, server_host, client_host = lossy_network(4)
    peers: list[object] = []

    async def main() -> list[object]:
        seen: list[object] = []
        loop = asyncio.get_running_loop()
        runner = web.AppRunner(make_app(peers), keepalive_timeout=75.0)
        await runner.setup()
        with server_host.current():
            await web.TCPSite(runner, "0.0.0.0", 8080).start()
        try:
            with client_host.current():
                connector = aiohttp.TCPConnector(keepalive_timeout=600)
                async with aiohttp.ClientSession(connector=connector) as session:
                    for name, idle in (("a", 10.0), ("b", 100.0), ("c", 0.0)):
                        async with session.get(f"http://server:8080/hello/{name}") as resp:
                            seen.append((resp.status, await resp.text()))
                        await asyncio.sleep(idle)
        finally:
            await runner.cleanup()
        seen.append(loop.time() > 110.0)
        return seen

    assert run(net, main) == [(200, "hello a"), (200, "hello b"), (200, "hello c"), True]
    # "a" and "b" shared a connection (10 s idle); "c" needed a new one
    assert peers[0] == peers[1] != peers[2]


def test_client_timeout_on_virtual_time() -> None:
    """A handler that takes 30 s against a client timeout of 5 s: the client
    gives up on virtual time (aiohttp rounds timeouts of 5 s and more up to a
    whole second), and the next request on the session still works."""
    net, server_host, client_host = lossy_network(5)

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(30)
        return web.Response(text="late")

    async def main() -> list[object]:
        seen: list[object] = []
        loop = asyncio.get_running_loop()
        app = make_app([])
        app.router.add_get("/slow", slow)
        runner = web.AppRunner(app)
        await runner.setup()
        with server_host.current():
            await web.TCPSite(runner, "0.0.0.0", 8080).start()
        try:
            with client_host.current():
                async with aiohttp.ClientSession() as session:
                    started = loop.time()
                    try:
                        async with session.get(
                            "http://server:8080/slow", timeout=aiohttp.ClientTimeout(total=5)
                        ) as resp:
                            seen.append(await resp.text())
                    except TimeoutError as exc:
                        seen.append(type(exc).__name__)
                    seen.append(5 <= loop.time() - started <= 6.01)
                    async with session.get("http://server:8080/hello/again") as resp:
                        seen.append((resp.status, await resp.text()))
        finally:
            await runner.cleanup()
        return seen

    assert run(net, main) == ["TimeoutError", True, (200, "hello again")]


def test_file_response(tmp_path: Path) -> None:
    """web.FileResponse sends with loop.sendfile(); on a transport without
    os.sendfile asyncio falls back to reading and writing, which it allows only
    for transports that are asyncio.transports._FlowControlMixin instances.
    (The file is opened and read in executor threads, so the virtual clock
    waits for them in real time: the bytes are deterministic, the times not.)"""
    net, server_host, client_host = lossy_network(6)
    data = pattern(300_000)
    (tmp_path / "blob").write_bytes(data)

    async def main() -> list[object]:
        seen: list[object] = []

        async def blob(request: web.Request) -> web.FileResponse:
            return web.FileResponse(tmp_path / "blob")

        app = web.Application()
        app.router.add_get("/blob", blob)
        runner = web.AppRunner(app)
        await runner.setup()
        with server_host.current():
            await web.TCPSite(runner, "0.0.0.0", 8080).start()
        try:
            with client_host.current():
                async with (
                    aiohttp.ClientSession() as session,
                    session.get("http://server:8080/blob") as resp,
                ):
                    body = await resp.read()
                    seen.append((resp.status, len(body), body == data))
        finally:
            await runner.cleanup()
        return seen

    assert run(net, main) == [(200, len(data), True)]


def test_tcp_nodelay_reaches_the_connection() -> None:
    """aiohttp turns Nagle's algorithm off on both ends (helpers.tcp_nodelay ->
    setsockopt(TCP_NODELAY, 1)); the simulated connection must honour it, or
    small writes wait for an ACK (up to the 40 ms delayed-ACK timer)."""
    net, server_host, client_host = lossy_network(8)
    server_side: list[bool] = []

    async def where(request: web.Request) -> web.Response:
        assert request.transport is not None
        server_side.append(request.transport.get_extra_info("tcp_connection").nodelay)
        return web.Response(text="here")

    async def main() -> list[object]:
        seen: list[object] = []
        app = web.Application()
        app.router.add_get("/", where)
        runner = web.AppRunner(app)
        await runner.setup()
        with server_host.current():
            await web.TCPSite(runner, "0.0.0.0", 8080).start()
        try:
            with client_host.current():
                async with aiohttp.ClientSession() as session:
                    async with session.get("http://server:8080/") as resp:
                        seen.append(await resp.text())
                    # the connection waits in the pool: look at the client's end
                    (conn,) = [c for c in net.connections() if c.local[0] == client_host.ip]
                    seen.append(conn.nodelay)
        finally:
            await runner.cleanup()
        return seen

    assert run(net, main) == ["here", True]
    assert server_side == [True]
