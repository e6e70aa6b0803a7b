"""Which host a call comes from follows contextvars as asyncio propagates them:
a server's handlers run in the context of the create_server call, so a
handler that connects onward does so from the server's host."""

from __future__ import annotations

import asyncio

from loop_support import close_writer, run

import aiotcpsim


def test_server_handlers_run_on_the_servers_host() -> None:
    net = aiotcpsim.Network(seed=9, delay=0.005)
    front = net.add_host("front")
    back = net.add_host("back")
    client = net.add_host("client")
    seen: list[str] = []

    async def backend(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(f"backend on {net.current_host().name}")
        peer = writer.get_extra_info("peername")
        writer.write(f"hello {peer[0]}".encode())
        await close_writer(writer)

    async def frontend(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(f"frontend on {net.current_host().name}")
        r, w = await asyncio.open_connection("back", 9000)  # from `front`, not `client`
        writer.write(await r.read())
        await close_writer(w)
        await close_writer(writer)

    async def main() -> bytes:
        with back.current():
            s1 = await asyncio.start_server(backend, port=9000)
        with front.current():
            s2 = await asyncio.start_server(frontend, port=8000)
        with client.current():
            reader, writer = await asyncio.open_connection("front", 8000)
        data = await reader.read()
        await close_writer(writer)
        for server in (s1, s2):
            server.close()
            await server.wait_closed()
        return data

    assert run(net, main) == f"hello {front.ip}".encode()
    assert seen == ["frontend on front", "backend on back"]
