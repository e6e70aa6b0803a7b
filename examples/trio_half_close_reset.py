"""trio: half-close over a lossy link, then a connection reset in the middle.

Ordinary trio code (``trio.serve_tcp``, ``trio.open_tcp_stream``) inside
``open_network(net)``, on trio's ``MockClock``: trio's clock is the network's
virtual clock.

First connection, half-close: the client sends a request and shuts down its
sending side (``SocketStream.send_eof()``: a FIN, reading goes on); the
server reads to the end of stream, sends a 100 kB reply and closes; the client
reads every byte of it, then the end of stream.  5 % of segments are lost on
the way and retransmitted.

Second connection, a reset: while the server holds the connection open, a
middlebox RST reaches the client (``net.faults.inject_reset(conn)`` on the
client's ``Connection``, ``stream.socket.connection``).  The client's
``receive_some()`` raises ``trio.BrokenResourceError`` whose ``__cause__`` is
``ConnectionResetError``.  The server heard nothing: its next write reaches
a client stack that no longer knows the connection, which answers with a RST,
and the server's ``receive_some()`` raises in turn.

Run: ``python examples/trio_half_close_reset.py``
"""

from __future__ import annotations

import hashlib
from types import SimpleNamespace

import trio
import trio.testing

import aiotcpsim
from aiotcpsim.trio_net import open_network

PORT = 8080
REQUEST = b"GET /big HTTP/1.0\r\n\r\n"
REPLY = hashlib.shake_128(b"reply").digest(100_000)


async def reply_server(stream: trio.SocketStream) -> None:
    """Read the request to its end, answer, close."""
    request = b""
    async for chunk in stream:
        request += chunk
    assert request == REQUEST
    await stream.send_all(REPLY)
    await stream.aclose()


async def half_close(result: SimpleNamespace) -> None:
    stream = await trio.open_tcp_stream("server", PORT)
    await stream.send_all(REQUEST)
    await stream.send_eof()  # FIN: the client can no longer send, but it reads on
    reply = b""
    async for chunk in stream:
        reply += chunk
    result.reply = reply
    result.reply_done_at = trio.current_time()
    await stream.aclose()


async def reset(net: aiotcpsim.Network, result: SimpleNamespace) -> None:
    server_saw = trio.Event()
    client_reset = trio.Event()

    async def holding_server(stream: trio.SocketStream) -> None:
        await client_reset.wait()
        await stream.send_all(b"still there?")  # the client's stack answers with RST
        try:
            await stream.receive_some()
        except trio.BrokenResourceError as e:
            result.server_error = e.__cause__
        server_saw.set()

    async with trio.open_nursery() as nursery:
        with net.host("server").current():
            await nursery.start(trio.serve_tcp, holding_server, PORT + 1)
        stream = await trio.open_tcp_stream("server", PORT + 1)
        conn = stream.socket.connection  # the simulated Connection (the TCB)
        net.faults.inject_reset(conn)  # a middlebox RST towards the client
        try:
            await stream.receive_some()
        except trio.BrokenResourceError as e:
            result.client_error = e.__cause__
        result.client_state = conn.state
        client_reset.set()
        await server_saw.wait()
        await stream.aclose()
        nursery.cancel_scope.cancel()


def scenario(seed: int = 2) -> SimpleNamespace:
    net = aiotcpsim.Network(seed=seed, loss=0.05, delay=0.01)
    net.add_host("server")
    client = net.add_host("client")
    result = SimpleNamespace(net=net)

    async def main() -> None:
        async with open_network(net, host=client), trio.open_nursery() as nursery:
            with net.host("server").current():
                await nursery.start(trio.serve_tcp, reply_server, PORT)
            await half_close(result)
            await reset(net, result)
            nursery.cancel_scope.cancel()

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    return result


def main() -> None:
    run = scenario()
    print(f"half-close: {len(run.reply)} bytes of reply, then end of stream,")
    print(f"  at t={run.reply_done_at:.2f}s of virtual time")
    print(f"reset: the client got {run.client_error!r} (its connection: {run.client_state})")
    print(f"       the server, on its next write: {run.server_error!r}")
    stats = run.net.statistics()
    print(f"{stats['segments_dropped']} segments dropped, {stats['retransmissions']} retransmitted")
    print(run.net.trace.ladder(last=10))


if __name__ == "__main__":
    main()
