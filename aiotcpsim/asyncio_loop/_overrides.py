"""Network methods of the asyncio loop: create_connection, create_server, getaddrinfo...

Each body is a module function taking ``(loop, network, ...)``, so that the
virtual-time loop (through :class:`NetworkLoopMixin`) and a stock loop driven in
real time (through :func:`install`) share them.  They reproduce the stock
``BaseEventLoop`` code paths -- argument checks, error aggregation, messages --
of the running Python, with the kernel replaced by the simulated host that
``network.current_host()`` names (``with host.current():``; ``localhost``,
127.0.0.1, by default).

Which calls reach the simulation:

* ``create_connection`` / ``open_connection`` (host and port, ``local_addr``,
  ``ssl``, ``sock=`` a socket from :func:`sock_connect`/:func:`sock_accept`);
  ``happy_eyeballs_delay`` and ``interleave`` are accepted: a simulated name has
  a single IPv4 address, so there is nothing to race.
* ``create_server`` / ``start_server`` (host, list of hosts, port 0, backlog,
  ``ssl``, ``start_serving``, ``sock=``); ``reuse_port`` is accepted and ignored.
  As with asyncio's own servers, the socket is bound by ``create_server`` and
  listens from ``start_serving``: before that, a connection is refused.
* ``getaddrinfo`` / ``getnameinfo`` answer from the network's names, at once,
  without a thread.  The network is IPv4 only.
* ``sock_connect``, ``sock_accept``, ``connect_accepted_socket``, ``sock_recv``,
  ``sock_recv_into``, ``sock_sendall`` for libraries that build sockets
  themselves: a real ``socket.socket`` passed in is mapped to a
  :class:`SimSocket` through a registry (see ``_socket.py``); the kernel socket
  stays unconnected.  For a listening socket its bound port is the simulated
  listener's port, and the simulated listener opens at the first
  ``sock_accept``/``create_server(sock=)``.  A real socket that was never
  registered passes through to the stock loop (``create_connection(sock=)``,
  ``connect_accepted_socket``).
* UDP and Unix sockets raise :class:`NotImplementedError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import os
import socket
import ssl as _ssl
import sys
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, cast

from ._server import SimServer, make_transport
from ._socket import SimSocket, lookup_real_socket, network_time, register_real_socket

if TYPE_CHECKING:
    from ..connection import Connection
    from ..net import Network
    from ..stack.host import Host

__all__ = [
    "NetworkLoopMixin",
    "connect_accepted_socket",
    "create_connection",
    "create_server",
    "getaddrinfo",
    "getnameinfo",
    "install",
    "resolve",
    "sock_accept",
    "sock_connect",
    "sock_recv",
    "sock_recv_into",
    "sock_sendall",
]

_AddrInfo = tuple[socket.AddressFamily, socket.SocketKind, int, str, tuple[str, int]]
_ProtocolFactory = Callable[[], asyncio.BaseProtocol]

_PY313 = sys.version_info >= (3, 13)

_UNSUPPORTED = (
    "aiotcpsim simulates TCP over IPv4 only: {what} is not supported on a simulated "
    "network (run it on a stock event loop)"
)


def _gaierror(code: int, text: str) -> socket.gaierror:
    return socket.gaierror(code, text)


def _is_ipv4(text: str) -> bool:
    parts = text.split(".")
    return len(parts) == 4 and all(p.isdigit() and int(p) < 256 and len(p) <= 3 for p in parts)


@functools.lru_cache(maxsize=1024)
def _dotted_quad(text: str) -> str | None:
    """``text`` in canonical form if it is a dotted-quad IPv4 address
    (``"127.000.0.1"`` -> ``"127.0.0.1"``), else None.  Cached: a client
    connects to the same few addresses over and over."""
    if not _is_ipv4(text):
        return None
    return ".".join(str(int(p)) for p in text.split("."))


# -- names ----------------------------------------------------------------------------


def resolve(
    network: Network,
    host: str | bytes | None,
    port: str | bytes | int | None,
    *,
    family: int = 0,
    type: int = 0,
    proto: int = 0,
    flags: int = 0,
) -> list[_AddrInfo]:
    """``socket.getaddrinfo`` answered from the network's names.

    Raises:
        socket.gaierror: an unknown name (``EAI_NONAME``), an unknown service
            (``EAI_SERVICE``), or an IPv6 request (the network is IPv4 only).
    """
    if (
        # Fast path, what create_connection(host, port) to an address asks:
        # the general code below answers the same.
        type == socket.SOCK_STREAM
        and not (family or proto or flags)
        and isinstance(host, str)
        and isinstance(port, int)
    ):
        ip = _dotted_quad(host)
        if ip is not None:
            return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (ip, port))]
    if isinstance(host, bytes):
        host = host.decode("idna")
    if isinstance(port, bytes):
        port = port.decode("ascii")
    if host is None and port is None:
        raise _gaierror(socket.EAI_NONAME, "Name or service not known")
    if family not in (0, socket.AF_INET):
        if family == socket.AF_INET6:
            raise _gaierror(
                socket.EAI_ADDRFAMILY,
                "Address family for hostname not supported (the simulated network is IPv4 only)",
            )
        raise _gaierror(socket.EAI_FAMILY, "ai_family not supported")
    # the service
    if port is None:
        number = 0
    elif isinstance(port, int):
        number = port
    elif port.isdigit():
        number = int(port)
    elif flags & socket.AI_NUMERICSERV:
        raise _gaierror(socket.EAI_NONAME, "Name or service not known")
    else:
        try:
            number = socket.getservbyname(port, "tcp")
        except OSError:
            raise _gaierror(socket.EAI_SERVICE, "Servname not supported for ai_socktype") from None
    # the address
    if host is None:
        ip = "0.0.0.0" if flags & socket.AI_PASSIVE else "127.0.0.1"
    elif (quad := _dotted_quad(host)) is not None:
        ip = quad
    elif ":" in host:
        raise _gaierror(
            socket.EAI_ADDRFAMILY,
            f"Address family for hostname not supported: {host!r} is IPv6 "
            "and the simulated network is IPv4 only",
        )
    elif flags & socket.AI_NUMERICHOST or not host:
        raise _gaierror(socket.EAI_NONAME, "Name or service not known")
    else:
        name = host[:-1] if host.endswith(".") else host
        try:
            ip = network.resolve(name)
        except socket.gaierror:
            ip = network.resolve(name.lower())
    canonname = host if (flags & socket.AI_CANONNAME and host) else ""
    kinds: list[tuple[socket.SocketKind, int]]
    if type == 0:
        kinds = [
            (socket.SOCK_STREAM, socket.IPPROTO_TCP),
            (socket.SOCK_DGRAM, socket.IPPROTO_UDP),
            (socket.SOCK_RAW, 0),
        ]
    elif type == socket.SOCK_STREAM:
        kinds = [(socket.SOCK_STREAM, socket.IPPROTO_TCP)]
    elif type == socket.SOCK_DGRAM:
        kinds = [(socket.SOCK_DGRAM, socket.IPPROTO_UDP)]
    else:
        kinds = [(socket.SocketKind(type), proto)]
    if proto:
        kinds = [k for k in kinds if k[1] == proto] or [(kinds[0][0], proto)]
    return [(socket.AF_INET, kind, p, canonname, (ip, number)) for kind, p in kinds]


async def getaddrinfo(
    network: Network,
    host: str | bytes | None,
    port: str | bytes | int | None,
    *,
    family: int = 0,
    type: int = 0,
    proto: int = 0,
    flags: int = 0,
) -> list[_AddrInfo]:
    """``loop.getaddrinfo`` on the simulated network (no executor thread)."""
    return resolve(network, host, port, family=family, type=type, proto=proto, flags=flags)


async def getnameinfo(
    network: Network, sockaddr: tuple[str, int] | tuple[str, int, int, int], flags: int = 0
) -> tuple[str, str]:
    """``loop.getnameinfo``: the host's name for an address, the service for a port."""
    ip, port = sockaddr[0], sockaddr[1]
    if flags & socket.NI_NUMERICHOST:
        name = ip
    else:
        owner = network.host_for_address(ip)
        if owner is None and ip.startswith("127."):
            owner = network.localhost
        if owner is not None:
            name = owner.name
        elif flags & socket.NI_NAMEREQD:
            raise _gaierror(socket.EAI_NONAME, "Name or service not known")
        else:
            name = ip
    service = str(port)
    if not flags & socket.NI_NUMERICSERV:
        with contextlib.suppress(OSError):
            service = socket.getservbyport(port, "udp" if flags & socket.NI_DGRAM else "tcp")
    return (name, service)


# -- connecting ---------------------------------------------------------------------------


class _ConnectWaiter:
    """Completes ``fut`` when the handshake does, or fails it with the errno the
    connection reports (as ``selector_events._sock_connect_cb`` reads SO_ERROR)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, address: tuple[str, int]) -> None:
        self.fut: asyncio.Future[None] = loop.create_future()
        self.address = address

    def tcp_connected(self, conn: Connection) -> None:
        if not self.fut.done():
            self.fut.set_result(None)

    def tcp_readable(self, conn: Connection) -> None:
        self._check(conn, closed=False)

    def tcp_writable(self, conn: Connection) -> None:
        self._check(conn, closed=False)

    def tcp_closed(self, conn: Connection) -> None:
        self._check(conn, closed=True)

    def _check(self, conn: Connection, *, closed: bool) -> None:
        if self.fut.done():
            return
        err = conn.take_error()
        if err is None and closed:
            err = conn.error or errno.ECONNREFUSED
        if err:
            self.fut.set_exception(OSError(err, f"Connect call failed {self.address}"))


def _check_local_ip(host: Host, ip: str) -> None:
    """A bind address must belong to the host (its address, loopback, or any)."""
    if ip in ("0.0.0.0", "", host.ip) or ip.startswith("127."):
        return
    raise OSError(errno.EADDRNOTAVAIL, os.strerror(errno.EADDRNOTAVAIL))


async def _connect(
    loop: asyncio.AbstractEventLoop,
    network: Network,
    host: Host,
    address: tuple[str, int],
    *,
    local_port: int = 0,
    sim: SimSocket | None = None,
) -> SimSocket:
    """Active open from ``host``; returns the connected SimSocket.

    Raises:
        OSError: ``EADDRNOTAVAIL`` (no ephemeral port), ``EADDRINUSE`` (``local_port``
            taken), or -- as ``OSError(errno, "Connect call failed (ip, port)")`` --
            ECONNREFUSED, ETIMEDOUT, ECONNRESET, EHOSTUNREACH.
    """
    ip, port = address[0], address[1]
    if not 0 <= port <= 65535:
        raise OverflowError("connect(): port must be 0-65535.")  # as the socket module
    if sim is None:
        sim = SimSocket(network, host, loop=loop)
    waiter = _ConnectWaiter(loop, (ip, port))
    sim.set_handler(waiter)
    network_time(network, loop)
    try:
        conn = host.connect(ip, port, local_port=local_port, user=sim)
    except BaseException:
        sim.set_handler(None)
        raise
    sim.attach(conn)
    try:
        await waiter.fut
    except BaseException:
        sim.set_handler(None)
        sim.close()
        raise
    sim.set_handler(None)
    return sim


def _local_port(
    host: Host,
    my_exceptions: list[OSError],
    family: int,
    local_addr_infos: list[_AddrInfo] | None,
) -> int:
    """The bind half of ``BaseEventLoop._connect_sock``: the local port to connect
    from (0: an ephemeral one).  The error of each local address that fails goes
    to ``my_exceptions``; the last one is raised if none fits."""
    if local_addr_infos is None:
        return 0
    for lfamily, _, _, _, laddr in local_addr_infos:
        if lfamily != family:
            continue
        try:
            _check_local_ip(host, laddr[0])
            if laddr[1]:
                host.check_bind(laddr[1], False)
            return laddr[1]
        except OSError as exc:
            msg = (
                f"error while attempting to bind on address {laddr!r}: "
                f"{(exc.strerror or '').lower()}"
            )
            my_exceptions.append(OSError(exc.errno, msg))
    if my_exceptions:
        raise my_exceptions.pop()
    raise OSError(f"no matching local address with {family=} found")


async def _create_connection_transport(
    loop: asyncio.AbstractEventLoop,
    network: Network,
    sim: SimSocket,
    protocol_factory: _ProtocolFactory,
    ssl: Any,
    server_hostname: str | None,
    server_side: bool = False,
    ssl_handshake_timeout: float | None = None,
    ssl_shutdown_timeout: float | None = None,
) -> tuple[asyncio.Transport, asyncio.BaseProtocol]:
    transport, protocol, waiter = _start_transport(
        loop,
        network,
        sim,
        protocol_factory,
        ssl,
        server_hostname,
        server_side,
        ssl_handshake_timeout,
        ssl_shutdown_timeout,
    )
    try:
        await waiter
    except BaseException:
        transport.close()
        raise
    return transport, protocol


def _start_transport(
    loop: asyncio.AbstractEventLoop,
    network: Network,
    sim: SimSocket,
    protocol_factory: _ProtocolFactory,
    ssl: Any,
    server_hostname: str | None,
    server_side: bool = False,
    ssl_handshake_timeout: float | None = None,
    ssl_shutdown_timeout: float | None = None,
) -> tuple[asyncio.Transport, asyncio.BaseProtocol, asyncio.Future[None]]:
    """``BaseEventLoop._create_connection_transport`` up to its wait: the
    protocol, the transport, and the future done once the protocol is connected."""
    protocol = protocol_factory()
    waiter: asyncio.Future[None] = loop.create_future()
    sslcontext: _ssl.SSLContext | None = None
    if ssl:
        sslcontext = None if isinstance(ssl, bool) else ssl
        if sslcontext is None:
            from asyncio import sslproto

            sslcontext = sslproto._create_transport_context(server_side, server_hostname)
    transport = make_transport(
        loop,
        network,
        sim,
        protocol,
        waiter,
        sslcontext=sslcontext,
        server_side=server_side,
        server_hostname=server_hostname,
        ssl_handshake_timeout=ssl_handshake_timeout,
        ssl_shutdown_timeout=ssl_shutdown_timeout,
    )
    return transport, protocol, waiter


def _check_ssl_args(
    ssl: Any,
    ssl_handshake_timeout: float | None,
    ssl_shutdown_timeout: float | None,
) -> None:
    if ssl_handshake_timeout is not None and not ssl:
        raise ValueError("ssl_handshake_timeout is only meaningful with ssl")
    if ssl_shutdown_timeout is not None and not ssl:
        raise ValueError("ssl_shutdown_timeout is only meaningful with ssl")


def _connected_sim(sock: object) -> SimSocket:
    sim = lookup_real_socket(sock)
    if sim is None:
        raise ValueError(
            f"{sock!r} is not connected on the simulated network: connect it with "
            "loop.sock_connect() first, or pass host and port"
        )
    if sim.conn is None or sim.closed:
        raise OSError(errno.ENOTCONN, os.strerror(errno.ENOTCONN))
    return sim


async def create_connection(
    loop: asyncio.AbstractEventLoop,
    network: Network,
    protocol_factory: _ProtocolFactory,
    host: str | None = None,
    port: int | str | None = None,
    *,
    ssl: Any = None,
    family: int = 0,
    proto: int = 0,
    flags: int = 0,
    sock: Any = None,
    local_addr: tuple[str, int] | None = None,
    server_hostname: str | None = None,
    ssl_handshake_timeout: float | None = None,
    ssl_shutdown_timeout: float | None = None,
    happy_eyeballs_delay: float | None = None,
    interleave: int | None = None,
    all_errors: bool = False,
) -> tuple[asyncio.Transport, asyncio.BaseProtocol]:
    """``loop.create_connection`` to a simulated host (see the module docstring)."""
    if server_hostname is not None and not ssl:
        raise ValueError("server_hostname is only meaningful with ssl")
    if server_hostname is None and ssl:
        if not host:
            raise ValueError("You must set server_hostname when using ssl without a host")
        server_hostname = host
    _check_ssl_args(ssl, ssl_handshake_timeout, ssl_shutdown_timeout)
    if host is not None or port is not None:
        if sock is not None:
            raise ValueError("host/port and sock can not be specified at the same time")
        infos = resolve(
            network, host, port, family=family, type=socket.SOCK_STREAM, proto=proto, flags=flags
        )
        laddr_infos = None
        if local_addr is not None:
            laddr_infos = resolve(
                network,
                local_addr[0],
                local_addr[1],
                family=family,
                type=socket.SOCK_STREAM,
                proto=proto,
                flags=flags,
            )
        exceptions: list[list[OSError]] = []
        sim: SimSocket | None = None
        for addrinfo in infos:
            # BaseEventLoop._connect_sock, inline (one coroutine less per
            # connection): bind if asked, then connect; the errors of each
            # address in a list of their own.
            my_exceptions: list[OSError] = []
            exceptions.append(my_exceptions)
            try:
                origin = network.current_host()
                local_port = _local_port(origin, my_exceptions, addrinfo[0], laddr_infos)
                sim = await _connect(loop, network, origin, addrinfo[4], local_port=local_port)
                break
            except OSError as exc:
                my_exceptions.append(exc)
        if sim is None:
            flat = [exc for sub in exceptions for exc in sub]
            try:
                if all_errors:
                    raise ExceptionGroup("create_connection failed", flat)
                if len(flat) == 1:
                    raise flat[0]
                model = str(flat[0])
                if all(str(exc) == model for exc in flat):
                    raise flat[0]
                raise OSError("Multiple exceptions: {}".format(", ".join(str(exc) for exc in flat)))
            finally:
                flat = []
    else:
        if sock is None:
            raise ValueError("host and port was not specified and no sock specified")
        if getattr(sock, "type", socket.SOCK_STREAM) != socket.SOCK_STREAM:
            raise ValueError(f"A Stream Socket was expected, got {sock!r}")
        sim = _connected_sim(sock)
        sim.own_real_socket(sock)
    # _create_connection_transport, inline (one coroutine less per connection).
    transport, protocol, waiter = _start_transport(
        loop,
        network,
        sim,
        protocol_factory,
        ssl,
        server_hostname,
        ssl_handshake_timeout=ssl_handshake_timeout,
        ssl_shutdown_timeout=ssl_shutdown_timeout,
    )
    try:
        await waiter
    except BaseException:
        transport.close()
        raise
    return transport, protocol


# -- serving --------------------------------------------------------------------------------


def _listen_on_real_socket(
    loop: asyncio.AbstractEventLoop, network: Network, real: Any, backlog: int = 100
) -> SimSocket:
    """The simulated listener standing for a real, bound socket (opened on first use)."""
    sim = lookup_real_socket(real)
    if sim is not None:
        if sim.listener is None:
            raise OSError(errno.EINVAL, "the socket is connected, not listening")
        return sim
    ip, port = real.getsockname()[:2]
    host = network.current_host()
    listener = host.listen(port, backlog=backlog, reuse_address=True, ip=ip)
    sim = SimSocket(network, host, listener=listener, loop=loop)
    register_real_socket(real, sim)
    return sim


async def create_server(
    loop: asyncio.AbstractEventLoop,
    network: Network,
    protocol_factory: _ProtocolFactory,
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
    _check_ssl_args(ssl, ssl_handshake_timeout, ssl_shutdown_timeout)
    sockets: list[SimSocket] = []
    if host is not None or port is not None:
        if sock is not None:
            raise ValueError("host/port and sock can not be specified at the same time")
        if reuse_address is None:
            reuse_address = os.name == "posix" and sys.platform != "cygwin"
        hosts: list[str | None]
        if host == "":
            hosts = [None]
        elif isinstance(host, str) or not isinstance(host, Iterable):
            hosts = [host]
        else:
            hosts = list(host)
        infos: list[_AddrInfo] = []
        for h in hosts:
            for info in resolve(
                network, h, port, family=family, type=socket.SOCK_STREAM, flags=flags
            ):
                if info not in infos:
                    infos.append(info)
        me = network.current_host()
        by_port: dict[int, SimSocket] = {}
        completed = False
        try:
            for _, _, _, _, sa in infos:
                if not 0 <= sa[1] <= 65535:
                    raise OverflowError("bind(): port must be 0-65535.")  # as the socket module
                try:
                    _check_local_ip(me, sa[0])
                    shared = by_port.get(sa[1]) if sa[1] else None
                    if shared is not None:
                        assert shared.listener is not None
                        sim = SimSocket(
                            network, me, listener=None, sockname=(sa[0], sa[1]), loop=loop
                        )
                        sim.listener = shared.listener  # a second address, same listener
                    else:
                        network_time(network, loop)
                        # Bound now, listening from _start_serving, as asyncio's
                        # Server calls listen() there.
                        listener = me.bind(sa[1], reuse_address=bool(reuse_address), ip=sa[0])
                        sim = SimSocket(network, me, listener=listener, loop=loop)
                        by_port[listener.port] = sim
                except OSError as err:
                    if _PY313:
                        msg = (
                            f"error while attempting to bind on address {sa!r}: {str(err).lower()}"
                        )
                        if err.errno == errno.EADDRNOTAVAIL:
                            continue  # bpo-30945: assume the family is not enabled
                    else:
                        msg = (
                            f"error while attempting to bind on address {sa!r}: "
                            f"{(err.strerror or '').lower()}"
                        )
                    raise OSError(err.errno, msg) from None
                sockets.append(sim)
            if not sockets:
                raise OSError(f"could not bind on any address out of {[i[4] for i in infos]!r}")
            completed = True
        finally:
            if not completed:
                for s in sockets:
                    s.close()
    else:
        if sock is None:
            raise ValueError("Neither host/port nor sock were specified")
        if getattr(sock, "type", socket.SOCK_STREAM) != socket.SOCK_STREAM:
            raise ValueError(f"A Stream Socket was expected, got {sock!r}")
        sockets = [_listen_on_real_socket(loop, network, sock, backlog)]
        sockets[0].own_real_socket(sock)  # Server.close() closes it, as asyncio's does
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
        server._start_serving()
        # Skip one loop iteration, as asyncio's create_server does.
        await asyncio.sleep(0)
    return server


# -- sockets built by libraries ----------------------------------------------------------


async def sock_connect(
    loop: asyncio.AbstractEventLoop, network: Network, sock: Any, address: Any
) -> None:
    """``loop.sock_connect``: connect ``sock`` (a real socket or a SimSocket) on the
    simulated network; the real socket is registered as standing for the connection.

    Raises:
        OSError: as :func:`create_connection`'s connect step.
    """
    if getattr(sock, "family", socket.AF_INET) != socket.AF_INET:
        raise NotImplementedError(_UNSUPPORTED.format(what=f"a {sock.family!r} socket"))
    if getattr(sock, "type", socket.SOCK_STREAM) != socket.SOCK_STREAM:
        raise NotImplementedError(_UNSUPPORTED.format(what="a non-stream socket (UDP)"))
    infos = resolve(network, address[0], address[1], type=socket.SOCK_STREAM)
    target = infos[0][4]
    host = network.current_host()
    sim = lookup_real_socket(sock)
    if sim is not None and sim.conn is not None:
        raise OSError(errno.EISCONN, os.strerror(errno.EISCONN))
    if sim is None:
        sim = SimSocket(network, host, loop=loop)
        if isinstance(sock, socket.socket):
            sim.copy_options_from(sock)
    sim = await _connect(loop, network, host, target, sim=sim)
    if isinstance(sock, socket.socket):
        register_real_socket(sock, sim)


async def sock_accept(
    loop: asyncio.AbstractEventLoop, network: Network, sock: Any
) -> tuple[SimSocket, tuple[str, int]]:
    """``loop.sock_accept``: the next connection of the simulated listener that
    stands for ``sock`` (opened on the socket's bound port at the first call)."""
    sim = _listen_on_real_socket(loop, network, sock)
    listener = sim.listener
    assert listener is not None
    while True:
        network_time(network, loop)
        conn = listener.accept()
        if conn is not None:
            child = SimSocket(network, sim.host, conn=conn, loop=loop)
            return child, (conn.remote[0], conn.remote[1])
        fut: asyncio.Future[None] = loop.create_future()
        sim.set_listen_handler(_FutureListenHandler(fut))
        try:
            await fut
        finally:
            sim.set_listen_handler(None)


class _FutureListenHandler:
    def __init__(self, fut: asyncio.Future[None]) -> None:
        self.fut = fut

    def tcp_acceptable(self, listener: Any) -> None:
        if not self.fut.done():
            self.fut.set_result(None)


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


async def sock_recv(
    loop: asyncio.AbstractEventLoop, network: Network, sock: Any, nbytes: int
) -> bytes:
    """``loop.sock_recv`` on a simulated connection: b"" at end of stream."""
    sim = _connected_sim(sock)
    assert sim.conn is not None
    while True:
        data = sim.conn.recv(nbytes, network_time(network, loop))
        sim.refresh()
        if data is not None:
            return data
        await _wait(loop, sim)


async def sock_recv_into(
    loop: asyncio.AbstractEventLoop, network: Network, sock: Any, buf: Any
) -> int:
    """``loop.sock_recv_into`` on a simulated connection."""
    view = memoryview(buf).cast("B")
    data = await sock_recv(loop, network, sock, len(view))
    view[: len(data)] = data
    return len(data)


async def sock_sendall(
    loop: asyncio.AbstractEventLoop, network: Network, sock: Any, data: Any
) -> None:
    """``loop.sock_sendall`` on a simulated connection: returns once the simulated
    send buffer has taken every byte."""
    sim = _connected_sim(sock)
    assert sim.conn is not None
    view = memoryview(data).cast("B")
    while view:
        n = sim.conn.send(bytes(view), network_time(network, loop))
        view = view[n:]
        if view:
            await _wait(loop, sim)


async def connect_accepted_socket(
    loop: asyncio.AbstractEventLoop,
    network: Network,
    protocol_factory: _ProtocolFactory,
    sock: Any,
    *,
    ssl: Any = None,
    ssl_handshake_timeout: float | None = None,
    ssl_shutdown_timeout: float | None = None,
) -> tuple[asyncio.Transport, asyncio.BaseProtocol]:
    """``loop.connect_accepted_socket`` for a socket from :func:`sock_accept`."""
    _check_ssl_args(ssl, ssl_handshake_timeout, ssl_shutdown_timeout)
    sim = _connected_sim(sock)
    sim.own_real_socket(sock)
    return await _create_connection_transport(
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


# -- the loop side ----------------------------------------------------------------------------
#
# Each dispatcher takes (loop, network, stock) -- ``stock`` being the loop's own
# method, for the calls that pass real sockets through -- then the method's arguments.


def _is_sim(sock: Any) -> bool:
    return lookup_real_socket(sock) is not None


def _is_unregistered_real(sock: Any) -> bool:
    return isinstance(sock, socket.socket) and not _is_sim(sock)


_Loop = asyncio.AbstractEventLoop


async def _d_create_connection(
    loop: _Loop, network: Network, stock: Any, protocol_factory: Any, *args: Any, **kw: Any
) -> Any:
    if _is_unregistered_real(kw.get("sock")):
        return await stock(protocol_factory, *args, **kw)
    return await create_connection(loop, network, protocol_factory, *args, **kw)


async def _d_create_server(
    loop: _Loop, network: Network, stock: Any, protocol_factory: Any, *args: Any, **kw: Any
) -> Any:
    return await create_server(loop, network, protocol_factory, *args, **kw)


async def _d_getaddrinfo(
    loop: _Loop, network: Network, stock: Any, host: Any, port: Any, **kw: Any
) -> Any:
    return await getaddrinfo(network, host, port, **kw)


async def _d_getnameinfo(
    loop: _Loop, network: Network, stock: Any, sockaddr: Any, flags: int = 0
) -> Any:
    return await getnameinfo(network, sockaddr, flags)


async def _d_sock_connect(
    loop: _Loop, network: Network, stock: Any, sock: Any, address: Any
) -> Any:
    return await sock_connect(loop, network, sock, address)


async def _d_sock_accept(loop: _Loop, network: Network, stock: Any, sock: Any) -> Any:
    return await sock_accept(loop, network, sock)


async def _d_sock_recv(loop: _Loop, network: Network, stock: Any, sock: Any, n: int) -> Any:
    if not _is_sim(sock):
        return await stock(sock, n)
    return await sock_recv(loop, network, sock, n)


async def _d_sock_recv_into(loop: _Loop, network: Network, stock: Any, sock: Any, buf: Any) -> Any:
    if not _is_sim(sock):
        return await stock(sock, buf)
    return await sock_recv_into(loop, network, sock, buf)


async def _d_sock_sendall(loop: _Loop, network: Network, stock: Any, sock: Any, data: Any) -> Any:
    if not _is_sim(sock):
        return await stock(sock, data)
    return await sock_sendall(loop, network, sock, data)


async def _d_connect_accepted_socket(
    loop: _Loop, network: Network, stock: Any, protocol_factory: Any, sock: Any, **kw: Any
) -> Any:
    if not _is_sim(sock):
        return await stock(protocol_factory, sock, **kw)
    return await connect_accepted_socket(loop, network, protocol_factory, sock, **kw)


async def _d_create_datagram_endpoint(
    loop: _Loop, network: Network, stock: Any, *args: Any, **kw: Any
) -> Any:
    raise NotImplementedError(_UNSUPPORTED.format(what="UDP (create_datagram_endpoint)"))


async def _d_create_unix_connection(
    loop: _Loop, network: Network, stock: Any, *args: Any, **kw: Any
) -> Any:
    raise NotImplementedError(_UNSUPPORTED.format(what="a Unix socket (create_unix_connection)"))


async def _d_create_unix_server(
    loop: _Loop, network: Network, stock: Any, *args: Any, **kw: Any
) -> Any:
    raise NotImplementedError(_UNSUPPORTED.format(what="a Unix socket (create_unix_server)"))


_DISPATCH: dict[str, Callable[..., Any]] = {
    "create_connection": _d_create_connection,
    "create_server": _d_create_server,
    "getaddrinfo": _d_getaddrinfo,
    "getnameinfo": _d_getnameinfo,
    "sock_connect": _d_sock_connect,
    "sock_accept": _d_sock_accept,
    "sock_recv": _d_sock_recv,
    "sock_recv_into": _d_sock_recv_into,
    "sock_sendall": _d_sock_sendall,
    "connect_accepted_socket": _d_connect_accepted_socket,
    "create_datagram_endpoint": _d_create_datagram_endpoint,
    "create_unix_connection": _d_create_unix_connection,
    "create_unix_server": _d_create_unix_server,
}


def _mixin_method(name: str) -> Any:
    dispatch = _DISPATCH[name]

    if name == "create_connection":
        # The dispatcher inline, one coroutine frame less on the path of
        # every open_connection (its body runs on each resumption).
        async def method(self: Any, *args: Any, **kw: Any) -> Any:
            sock = kw.get("sock")
            if sock is not None and _is_unregistered_real(sock):
                return await super(NetworkLoopMixin, self).create_connection(*args, **kw)
            return await create_connection(self, self.network, *args, **kw)

    elif name == "create_server":

        async def method(self: Any, *args: Any, **kw: Any) -> Any:
            return await create_server(self, self.network, *args, **kw)

    else:

        async def method(self: Any, *args: Any, **kw: Any) -> Any:
            stock = getattr(super(NetworkLoopMixin, self), name)
            return await dispatch(self, self.network, stock, *args, **kw)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"``{name}`` on the simulated network ``self.network``."
    return method


class NetworkLoopMixin:
    """Loop methods that route TCP through ``self.network`` instead of the kernel.

    Mixed in before ``asyncio.SelectorEventLoop``.  For type checkers the loop
    keeps the stock signatures: the overrides are bound outside their view.
    """

    network: Network

    def _stop_serving(self, sock: Any) -> None:
        # The stock Server calls this; a SimServer closes its own listeners.
        if isinstance(sock, SimSocket):
            sock.close()
        else:
            cast(Any, super())._stop_serving(sock)


for _name in _DISPATCH:
    setattr(NetworkLoopMixin, _name, _mixin_method(_name))
del _name


def install(loop: asyncio.AbstractEventLoop, network: Network) -> Callable[[], None]:
    """Route a stock loop's TCP methods to ``network`` (real-time mode); returns a
    function that restores the loop's own methods.

    The methods are set on the instance, so this needs a loop that accepts
    instance attributes (the stock loops and uvloop do).

    Raises:
        TypeError: the loop does not accept instance attributes.
    """
    saved: dict[str, Any] = {}
    try:
        for name, dispatch in _DISPATCH.items():
            stock = getattr(loop, name)
            saved[name] = loop.__dict__.get(name)
            method = functools.partial(dispatch, loop, network, stock)
            setattr(loop, name, method)
    except AttributeError:
        raise TypeError(
            f"cannot install simulated TCP methods on {loop!r}: it takes no instance attributes"
        ) from None

    def uninstall() -> None:
        for name, old in saved.items():
            if old is None:
                loop.__dict__.pop(name, None)
            else:
                setattr(loop, name, old)

    return uninstall
