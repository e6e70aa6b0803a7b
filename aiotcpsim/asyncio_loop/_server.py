"""``SimServer``: ``asyncio.Server`` over simulated listeners.

Rule owned here: how a listening server accepts (up to ``backlog`` per
readiness, each connection set up by its own task) and when it counts as
closed; :func:`make_transport` is the one place a transport is made, TLS or not.

It behaves as ``asyncio.base_events.Server`` of the running Python:

* ``wait_closed()``: from 3.12.1 it waits until the server is closed *and* every
  connection it accepted is gone; before, it returned at once when the server
  was already closed (see the "Historical note" in CPython's docstring).
* ``close_clients()`` / ``abort_clients()`` exist from 3.13.
* ``sockets`` is a tuple of :class:`SimSocket` (``getsockname()`` gives the port
  for ``port=0``); empty once closed.

Accepting mirrors ``selector_events._accept_connection``: on readiness, up to
``backlog`` connections are taken from the accept queue, each set up by a task
that builds the protocol and transport (TLS included) and awaits
``connection_made``.
"""

from __future__ import annotations

import asyncio
import contextvars
import socket
import ssl as _ssl
import sys
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._socket import SimSocket
from ._transport import SimTransport

if TYPE_CHECKING:
    from ..net import Network
    from ..stack.host import Listener

__all__ = ["SimServer", "make_transport"]

_WAIT_CLOSED_WAITS_FOR_CLIENTS = sys.version_info >= (3, 12, 1)


def make_transport(
    loop: asyncio.AbstractEventLoop,
    network: Network,
    sock: SimSocket,
    protocol: asyncio.BaseProtocol,
    waiter: asyncio.Future[None],
    *,
    sslcontext: _ssl.SSLContext | None = None,
    server_side: bool = False,
    server_hostname: str | None = None,
    ssl_handshake_timeout: float | None = None,
    ssl_shutdown_timeout: float | None = None,
    extra: dict[str, Any] | None = None,
    server: SimServer | None = None,
) -> asyncio.Transport:
    """A plain transport, or TLS over one (``selector_events._make_ssl_transport``)."""
    if sslcontext is None:
        return SimTransport(loop, network, sock, protocol, waiter, extra, server)
    from asyncio import sslproto

    kwargs: dict[str, Any] = {"ssl_handshake_timeout": ssl_handshake_timeout}
    kwargs["ssl_shutdown_timeout"] = ssl_shutdown_timeout
    ssl_protocol = sslproto.SSLProtocol(
        loop,
        protocol,
        sslcontext,
        waiter,
        server_side,
        server_hostname,
        **kwargs,
    )
    SimTransport(loop, network, sock, ssl_protocol, extra=extra, server=server)
    return ssl_protocol._app_transport


class SimServer(asyncio.base_events.Server):
    """A listening server on a simulated host; see the module docstring."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        network: Network,
        sockets: list[SimSocket],
        protocol_factory: Callable[[], asyncio.BaseProtocol],
        ssl_context: _ssl.SSLContext | None,
        backlog: int,
        ssl_handshake_timeout: float | None,
        ssl_shutdown_timeout: float | None = None,
        keep_alive: bool | None = None,
    ) -> None:
        # The stock Server's internals differ between versions: set up ours only.
        self._loop = loop
        own = getattr(loop, "own", None)
        if own is not None:
            own(self)  # closed with the loop, as a process exit closes its listeners
        self._network = network
        self._sim_sockets: list[SimSocket] | None = sockets
        self._clients: weakref.WeakSet[SimTransport] = weakref.WeakSet()
        self._waiters: list[asyncio.Future[None]] | None = []
        self._protocol_factory = protocol_factory
        self._backlog = backlog
        self._ssl_context = ssl_context
        self._ssl_handshake_timeout = ssl_handshake_timeout
        self._ssl_shutdown_timeout = ssl_shutdown_timeout
        self._keep_alive = keep_alive
        self._serving = False
        self._serving_forever_fut: asyncio.Future[None] | None = None
        self._accept_scheduled: set[SimSocket] = set()
        self._accept_context: contextvars.Context | None = None  # set by _start_serving

    def __repr__(self) -> str:
        return f"<{self.__class__.__name__} sockets={self.sockets!r}>"

    # -- clients ---------------------------------------------------------------------

    def attach_client(self, transport: SimTransport) -> None:
        """A transport for a connection this server accepted was made."""
        assert self._sim_sockets is not None
        self._clients.add(transport)

    def detach_client(self, transport: SimTransport) -> None:
        """That transport lost its connection (``wait_closed()`` may return)."""
        self._clients.discard(transport)
        if self._sim_sockets is None and len(self._clients) == 0:
            self._wakeup()

    def _wakeup(self) -> None:
        waiters = self._waiters
        self._waiters = None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    # -- serving ----------------------------------------------------------------------

    def _start_serving(self) -> None:
        if self._serving or self._sim_sockets is None:
            return
        self._serving = True
        # The accept callbacks (and so the tasks that set up each connection,
        # and their protocols) run in a copy of this call's context, as those
        # of the Handle asyncio's loop makes when it starts serving: the
        # context of create_server() (``with host.current():`` included).
        self._accept_context = contextvars.copy_context()
        for sock in self._sim_sockets:
            sock.set_listen_handler(_AcceptHandler(self, sock))
            assert sock.listener is not None
            if not sock.listener.listening:
                sock.listener.listen(self._backlog)
            if sock.listener.pending():
                self._schedule_accept(sock)

    def _schedule_accept(self, sock: SimSocket) -> None:
        if sock not in self._accept_scheduled:
            self._accept_scheduled.add(sock)
            self._loop.call_soon(self._accept_ready, sock, context=self._accept_context)

    def _accept_ready(self, sock: SimSocket) -> None:
        self._accept_scheduled.discard(sock)
        if not self._serving or sock.closed:
            return
        listener = sock.listener
        assert listener is not None
        for _ in range(self._backlog or 1):
            conn = listener.accept()
            if conn is None:
                break
            child = SimSocket(
                self._network, sock.host, clock=sock.clock, conn=conn, family=sock.family
            )
            if self._keep_alive:
                child.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            extra = {"peername": (conn.remote[0], conn.remote[1])}
            self._loop.create_task(self._accept_connection2(child, extra))
        else:
            if listener.pending():
                self._schedule_accept(sock)
        sock.refresh()

    async def _accept_connection2(self, child: SimSocket, extra: dict[str, Any]) -> None:
        transport: asyncio.BaseTransport | None = None
        try:
            protocol = self._protocol_factory()
            waiter: asyncio.Future[None] = self._loop.create_future()
            transport = make_transport(
                self._loop,
                self._network,
                child,
                protocol,
                waiter,
                sslcontext=self._ssl_context,
                server_side=True,
                ssl_handshake_timeout=self._ssl_handshake_timeout,
                ssl_shutdown_timeout=self._ssl_shutdown_timeout,
                extra=extra,
                server=self,
            )
            try:
                await waiter
            except BaseException:
                transport.close()
                raise
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            if transport is None:
                child.close()
            if self._loop.get_debug():
                self._loop.call_exception_handler(
                    {
                        "message": "Error on transport creation for incoming connection",
                        "exception": exc,
                    }
                )

    # -- asyncio.AbstractServer --------------------------------------------------------

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def is_serving(self) -> bool:
        return self._serving

    @property
    def sockets(self) -> tuple[SimSocket, ...]:  # type: ignore[override]
        if self._sim_sockets is None:
            return ()
        return tuple(self._sim_sockets)

    def close(self) -> None:
        sockets = self._sim_sockets
        if sockets is None:
            return
        self._sim_sockets = None
        for sock in sockets:
            sock.close()
        self._serving = False
        if self._serving_forever_fut is not None and not self._serving_forever_fut.done():
            self._serving_forever_fut.cancel()
            self._serving_forever_fut = None
        if len(self._clients) == 0:
            self._wakeup()

    if sys.version_info >= (3, 13):

        def close_clients(self) -> None:
            for transport in self._clients.copy():
                transport.close()

        def abort_clients(self) -> None:
            for transport in self._clients.copy():
                transport.abort()

    async def start_serving(self) -> None:
        self._start_serving()
        # Skip one loop iteration, as asyncio's Server does.
        await asyncio.sleep(0)

    async def serve_forever(self) -> None:
        if self._serving_forever_fut is not None:
            raise RuntimeError(f"server {self!r} is already being awaited on serve_forever()")
        if self._sim_sockets is None:
            raise RuntimeError(f"server {self!r} is closed")
        self._start_serving()
        self._serving_forever_fut = self._loop.create_future()
        try:
            await self._serving_forever_fut
        except asyncio.CancelledError:
            try:
                self.close()
                await self.wait_closed()
            finally:
                raise
        finally:
            self._serving_forever_fut = None

    async def wait_closed(self) -> None:
        """Wait until the server is closed (and, from Python 3.12.1, until every
        connection it accepted is closed too)."""
        if not _WAIT_CLOSED_WAITS_FOR_CLIENTS and self._sim_sockets is None:
            return
        if self._waiters is None:
            return
        waiter: asyncio.Future[None] = self._loop.create_future()
        self._waiters.append(waiter)
        await waiter


class _AcceptHandler:
    def __init__(self, server: SimServer, sock: SimSocket) -> None:
        self._server = server
        self._sock = sock

    def tcp_acceptable(self, listener: Listener) -> None:
        self._server._schedule_accept(self._sock)
