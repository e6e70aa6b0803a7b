"""Passive opens on the simulated network: ``create_server``, ``sock_accept``,
``connect_accepted_socket``.

Rule owned here: a listening socket the application opens through the loop
is bound on the current simulated host by :func:`create_server` (host, list
of hosts, port 0, ``backlog``, ``ssl``, ``start_serving``, ``sock=``;
``reuse_port`` is accepted and ignored) and listens from ``start_serving``:
before that, a connection is refused, as with asyncio's own servers, whose
``Server`` calls ``listen()`` there.  The bind errors and their messages are
those of the stock loop of the running Python.  A ``socket.socket`` handed
to the loop (``create_server(sock=)``, ``sock_accept``) stands for the simulated
socket it was bound or listened on in the simulation; one bound on the
kernel before the simulation ran, for a listener opened on its bound port at
its first use (:func:`listen_on_real_socket`).
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .._sockets import check_local_address, os_error
from ._connect import ProtocolFactory, check_ssl_args, create_transport
from ._driver import NetworkClock, clock_for
from ._resolve import AddrInfo, resolve
from ._server import SimServer
from ._socket import SimSocket, connected_socket, lookup_real_socket, register_real_socket

if TYPE_CHECKING:
    from .. import Host, Listener, Network

__all__ = ["connect_accepted_socket", "create_server", "listen_on_real_socket", "sock_accept"]

_PY313 = sys.version_info >= (3, 13)


def listen_on_real_socket(
    loop: asyncio.AbstractEventLoop, network: Network, real: Any, backlog: int = 100
) -> SimSocket:
    """The simulated listener standing for a real socket: the one it was bound or
    listened on inside the simulation (``aiotcpsim._library_sockets``), else --
    a socket bound on the kernel before the simulation ran -- one opened now
    on its bound port."""
    sim = lookup_real_socket(real)
    if sim is not None:
        if sim.listener is None:
            raise os_error(errno.EINVAL, "the socket is connected, not listening")
        return sim
    ip, port = real.getsockname()[:2]
    family = getattr(real, "family", socket.AF_INET)
    v6only = family == socket.AF_INET6 and bool(
        real.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY)
    )
    host = network.current_host()
    listener = host.listen(port, backlog=backlog, reuse_address=True, ip=ip, v6only=v6only)
    sim = SimSocket(network, host, clock=clock_for(loop, network), listener=listener, family=family)
    register_real_socket(real, sim)
    return sim


def _server_addresses(
    network: Network,
    host: str | Iterable[str] | None,
    port: int | str | None,
    family: int,
    flags: int,
) -> list[AddrInfo]:
    """The addresses to bind, each once (``host`` may be a list of hosts)."""
    hosts: list[str | None]
    if host == "":
        hosts = [None]
    elif isinstance(host, str) or not isinstance(host, Iterable):
        hosts = [host]
    else:
        hosts = list(host)
    infos: list[AddrInfo] = []
    for h in hosts:
        for info in resolve(network, h, port, family=family, type=socket.SOCK_STREAM, flags=flags):
            if info not in infos:
                infos.append(info)
    return infos


def _bind_one(
    network: Network,
    me: Host,
    clock: NetworkClock,
    info: AddrInfo,
    reuse_address: bool,
) -> SimSocket:
    """Bind one address: a listener of its own, keyed by (address, port) as
    Linux; an AF_INET6 one with IPV6_V6ONLY set, as the stock loop sets it
    ("Disable IPv4/IPv6 dual stack support (enabled by default on Linux)
    which makes a single socket listen on both address families")."""
    family, sa = info[0], info[4]
    check_local_address(me, sa[0])
    clock.present()
    v6 = family == socket.AF_INET6
    # Bound now, listening from start_serving, as asyncio's Server calls listen() there.
    listener: Listener = me.bind(sa[1], reuse_address=reuse_address, ip=sa[0], v6only=v6)
    sim = SimSocket(network, me, clock=clock, listener=listener, family=family)
    if v6:
        sim.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    return sim


def _bind_error(sa: Any, err: OSError) -> OSError:
    """The stock loop's wording of a bind error (it changed in 3.13)."""
    if _PY313:
        msg = f"error while attempting to bind on address {sa!r}: {str(err).lower()}"
    else:
        msg = f"error while attempting to bind on address {sa!r}: {(err.strerror or '').lower()}"
    return OSError(err.errno, msg)


def _bind_all(
    loop: asyncio.AbstractEventLoop, network: Network, infos: list[AddrInfo], reuse_address: bool
) -> list[SimSocket]:
    """Bind every address of ``infos`` on the current host, or none."""
    me = network.current_host()
    clock = clock_for(loop, network)
    sockets: list[SimSocket] = []
    completed = False
    try:
        for info in infos:
            sa = info[4]
            if not 0 <= sa[1] <= 65535:
                raise OverflowError("bind(): port must be 0-65535.")  # as the socket module
            try:
                sim = _bind_one(network, me, clock, info, reuse_address)
            except OSError as err:
                if _PY313 and err.errno == errno.EADDRNOTAVAIL:
                    continue  # bpo-30945: assume the family is not enabled
                raise _bind_error(sa, err) from None
            sockets.append(sim)
        if not sockets:
            raise OSError(f"could not bind on any address out of {[i[4] for i in infos]!r}")
        completed = True
    finally:
        if not completed:
            for s in sockets:
                s.close()
    return sockets


def _given_listening_socket(
    loop: asyncio.AbstractEventLoop, network: Network, sock: Any, backlog: int
) -> SimSocket:
    """The listener for ``create_server(sock=...)``; the server's close() closes ``sock``."""
    if sock is None:
        raise ValueError("Neither host/port nor sock were specified")
    if getattr(sock, "type", socket.SOCK_STREAM) != socket.SOCK_STREAM:
        raise ValueError(f"A Stream Socket was expected, got {sock!r}")
    sim = listen_on_real_socket(loop, network, sock, backlog)
    sim.own_real_socket(sock)  # Server.close() closes it, as asyncio's does
    return sim


async def create_server(
    loop: asyncio.AbstractEventLoop,
    network: Network,
    protocol_factory: ProtocolFactory,
    host: str | Iterable[str] | None = None,
    port: int | str | None = None,
    *,
    family: int = socket.AF_UNSPEC,
    flags: int = socket.AI_PASSIVE,
    sock: Any = None,
    backlog: int = 100,
    ssl: Any = None,
    reuse_address: bool | None = None,
    reuse_port: bool | None = None,
    keep_alive: bool | None = None,
    ssl_handshake_timeout: float | None = None,
    ssl_shutdown_timeout: float | None = None,
    start_serving: bool = True,
) -> SimServer:
    """``loop.create_server`` on the current simulated host (see the module docstring)."""
    if isinstance(ssl, bool):
        raise TypeError("ssl argument must be an SSLContext or None")
    check_ssl_args(ssl, ssl_handshake_timeout, ssl_shutdown_timeout)
    if host is None and port is None:
        sockets = [_given_listening_socket(loop, network, sock, backlog)]
    elif sock is not None:
        raise ValueError("host/port and sock can not be specified at the same time")
    else:
        if reuse_address is None:
            reuse_address = os.name == "posix" and sys.platform != "cygwin"
        infos = _server_addresses(network, host, port, family, flags)
        sockets = _bind_all(loop, network, infos, bool(reuse_address))
    server = SimServer(
        loop,
        network,
        sockets,
        protocol_factory,
        ssl,
        backlog,
        ssl_handshake_timeout,
        ssl_shutdown_timeout,
        keep_alive=keep_alive,
    )
    if start_serving:
        # Serving, then one loop iteration skipped, as asyncio's create_server does.
        await server.start_serving()
    return server


class _FutureListenHandler:
    def __init__(self, fut: asyncio.Future[None]) -> None:
        self.fut = fut

    def tcp_acceptable(self, listener: Listener) -> None:
        if not self.fut.done():
            self.fut.set_result(None)


async def sock_accept(
    loop: asyncio.AbstractEventLoop, network: Network, sock: Any
) -> tuple[SimSocket, tuple[str, int]]:
    """``loop.sock_accept``: the next connection of the simulated listener that
    stands for ``sock`` (opened on the socket's bound port at the first call)."""
    sim = listen_on_real_socket(loop, network, sock)
    listener = sim.listener
    assert listener is not None
    if not listener.listening:
        raise os_error(errno.EINVAL)  # accept(2) on a socket bound, not listening
    while True:
        sim.clock.present()
        conn = listener.accept()
        if conn is not None:
            child = SimSocket(network, sim.host, clock=sim.clock, conn=conn, family=sim.family)
            return child, child.getpeername()
        fut: asyncio.Future[None] = loop.create_future()
        sim.set_listen_handler(_FutureListenHandler(fut))
        try:
            await fut
        finally:
            sim.set_listen_handler(None)


async def connect_accepted_socket(
    loop: asyncio.AbstractEventLoop,
    network: Network,
    protocol_factory: ProtocolFactory,
    sock: Any,
    *,
    ssl: Any = None,
    ssl_handshake_timeout: float | None = None,
    ssl_shutdown_timeout: float | None = None,
) -> tuple[asyncio.Transport, asyncio.BaseProtocol]:
    """``loop.connect_accepted_socket`` for a socket from :func:`sock_accept`."""
    check_ssl_args(ssl, ssl_handshake_timeout, ssl_shutdown_timeout)
    sim = connected_socket(sock)
    sim.own_real_socket(sock)
    return await create_transport(
        loop,
        network,
        sim,
        protocol_factory,
        ssl,
        "",
        server_side=True,
        ssl_handshake_timeout=ssl_handshake_timeout,
        ssl_shutdown_timeout=ssl_shutdown_timeout,
    )
