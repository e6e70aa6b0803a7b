"""``loop.sock_recv``, ``sock_recv_into``, ``sock_sendall`` on simulated connections.

Rule owned here: a ``sock_*`` data call on a socket that stands for a
simulated connection (a SimSocket, or a real socket registered by
``sock_connect``/``sock_accept``) reads from or writes to the connection at
the network's present, and waits for the connection's next callback when it
would block, as the stock loop waits for the descriptor's readiness.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from ._socket import SimSocket, connected_socket

if TYPE_CHECKING:
    from .. import Connection

__all__ = ["sock_recv", "sock_recv_into", "sock_sendall"]


class _FutureHandler:
    """Wakes a ``sock_*`` call when the connection becomes readable/writable."""

    def __init__(self, fut: asyncio.Future[None]) -> None:
        self.fut = fut

    def _wake(self, conn: Connection) -> None:
        if not self.fut.done():
            self.fut.set_result(None)

    tcp_connected = tcp_readable = tcp_writable = tcp_closed = _wake


async def _wait(loop: asyncio.AbstractEventLoop, sim: SimSocket) -> None:
    fut: asyncio.Future[None] = loop.create_future()
    sim.set_handler(_FutureHandler(fut))
    try:
        await fut
    finally:
        sim.set_handler(None)


async def sock_recv(loop: asyncio.AbstractEventLoop, sock: Any, nbytes: int) -> bytes:
    """``loop.sock_recv`` on a simulated connection: b"" at end of stream."""
    sim = connected_socket(sock)
    assert sim.conn is not None
    while True:
        data = sim.conn.recv(nbytes, sim.clock.present())
        sim.refresh()
        if data is not None:
            return data
        await _wait(loop, sim)


async def sock_recv_into(loop: asyncio.AbstractEventLoop, sock: Any, buf: Any) -> int:
    """``loop.sock_recv_into`` on a simulated connection."""
    view = memoryview(buf).cast("B")
    data = await sock_recv(loop, sock, len(view))
    view[: len(data)] = data
    return len(data)


async def sock_sendall(loop: asyncio.AbstractEventLoop, sock: Any, data: Any) -> None:
    """``loop.sock_sendall`` on a simulated connection: returns once the simulated
    send buffer has taken every byte."""
    sim = connected_socket(sock)
    assert sim.conn is not None
    view = memoryview(data).cast("B")
    while view:
        n = sim.conn.send(bytes(view), sim.clock.present())
        view = view[n:]
        if view:
            await _wait(loop, sim)
