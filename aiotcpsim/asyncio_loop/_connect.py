"""Active opens on the simulated network: ``create_connection``, ``sock_connect``.

Rule owned here: a connection the application opens through the loop --
``create_connection``/``open_connection`` with host and port (``local_addr``,
``ssl``, ``all_errors``), with ``sock=`` a socket connected by
``sock_connect``, or ``sock_connect`` itself -- goes through :func:`_connect`
from the current simulated host (``with host.current():``, ``localhost`` by
default), and becomes a transport through :func:`create_transport`.  The
argument checks, the error aggregation and the messages are those of the
stock ``BaseEventLoop`` of the running Python, with the kernel replaced by the
simulated host.  A name with several addresses (``localhost``: ``::1`` then
``127.0.0.1``; a host added with ``ipv6=``) is tried address after address,
or -- with ``happy_eyeballs_delay`` -- raced as the stock loop races them
(RFC 8305: ``asyncio.staggered.staggered_race``, families interleaved by
``interleave``), the losers' attempts cancelled (their SYN-SENT sockets
closed without a segment, as ``close(2)`` does).
"""

from __future__ import annotations

import asyncio
import errno
import functools
import itertools
import socket
from asyncio import staggered
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._sockets import check_local_address, os_error
from ._driver import clock_for
from ._resolve import AddrInfo, resolve
from ._server import make_transport
from ._socket import (
    SimSocket,
    connected_socket,
    lookup_real_socket,
    register_real_socket,
    unsupported,
)

if TYPE_CHECKING:
    import ssl as _ssl

    from .. import Connection, Host, Network

__all__ = [
    "ProtocolFactory",
    "check_ssl_args",
    "create_connection",
    "create_transport",
    "sock_connect",
]

ProtocolFactory = Callable[[], asyncio.BaseProtocol]


class _ConnectWaiter:
    """Completes ``fut`` when the handshake does, or fails it with the errno the
    connection reports (as ``selector_events._sock_connect_cb`` reads SO_ERROR)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, address: Any) -> None:
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


async def _connect(
    loop: asyncio.AbstractEventLoop,
    network: Network,
    host: Host,
    address: Any,
    *,
    local_port: int = 0,
    local_ip: str | None = None,
    sim: SimSocket | None = None,
) -> SimSocket:
    """Active open from ``host``; returns the connected SimSocket.

    Raises:
        OSError: ``EADDRNOTAVAIL`` (no ephemeral port), ``EADDRINUSE`` (``local_port``
            taken), ``ENETUNREACH`` at once (no route to ``ip``), or -- as
            ``OSError(errno, "Connect call failed (ip, port)")`` -- ECONNREFUSED,
            ETIMEDOUT, ECONNRESET, EHOSTUNREACH (an on-link address no host owns,
            after 3 s; a reject partition).
    """
    ip, port = address[0], address[1]
    if not 0 <= port <= 65535:
        raise OverflowError("connect(): port must be 0-65535.")  # as the socket module
    if sim is None:
        family = socket.AF_INET6 if len(address) == 4 else socket.AF_INET
        sim = SimSocket(network, host, clock=clock_for(loop, network), family=family)
    waiter = _ConnectWaiter(loop, tuple(address))
    sim.set_handler(waiter)
    sim.clock.present()
    try:
        conn = host.connect(ip, port, local_port=local_port, user=sim, local_ip=local_ip)
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
    finally:
        # As the stock sock_connect (fut = None): the failed future holds the
        # exception whose traceback holds this frame -- a cycle otherwise.
        waiter = None  # type: ignore[assignment]
    sim.set_handler(None)
    return sim


def _local_address(
    host: Host,
    my_exceptions: list[OSError],
    family: int,
    local_addr_infos: list[AddrInfo] | None,
) -> tuple[str | None, int]:
    """The bind half of ``BaseEventLoop._connect_sock``: the local port to connect
    from (0: an ephemeral one).  The error of each local address that fails goes
    to ``my_exceptions``; the last one is raised if none fits."""
    if local_addr_infos is None:
        return None, 0
    for lfamily, _, _, _, laddr in local_addr_infos:
        if lfamily != family:
            continue
        try:
            check_local_address(host, laddr[0])
            if laddr[1]:
                host.check_bind(laddr[1], False, laddr[0])
            return laddr[0], laddr[1]
        except OSError as exc:
            msg = (
                f"error while attempting to bind on address {laddr!r}: "
                f"{(exc.strerror or '').lower()}"
            )
            my_exceptions.append(OSError(exc.errno, msg))
    if my_exceptions:
        raise my_exceptions.pop()
    raise OSError(f"no matching local address with {family=} found")


async def _connect_first(
    loop: asyncio.AbstractEventLoop,
    network: Network,
    infos: list[AddrInfo],
    laddr_infos: list[AddrInfo] | None,
    all_errors: bool,
    happy_eyeballs_delay: float | None = None,
) -> SimSocket:
    """``BaseEventLoop._connect_sock`` for each address in turn -- bind if asked,
    then connect, the errors of each address in a list of their own -- until
    one connects (with ``happy_eyeballs_delay``: the next attempt starts after
    that delay or when the one before fails, the first to connect wins); if
    none does, the stock loop's error (see :func:`_connect_error`)."""
    exceptions: list[list[OSError]] = []

    async def attempt(addrinfo: AddrInfo) -> SimSocket:
        my_exceptions: list[OSError] = []
        exceptions.append(my_exceptions)
        try:
            origin = network.current_host()
            local_ip, local_port = _local_address(origin, my_exceptions, addrinfo[0], laddr_infos)
            return await _connect(
                loop, network, origin, addrinfo[4], local_port=local_port, local_ip=local_ip
            )
        except OSError as exc:
            my_exceptions.append(exc)
            raise
        finally:
            my_exceptions = None  # type: ignore[assignment]  # no cycle through this frame

    sim: SimSocket | None = None
    if happy_eyeballs_delay is None:
        for addrinfo in infos:
            try:
                sim = await attempt(addrinfo)
                break
            except OSError:
                continue
    else:
        sim, _, _ = await staggered.staggered_race(
            (functools.partial(attempt, addrinfo) for addrinfo in infos),
            happy_eyeballs_delay,
            loop=loop,
        )
    if sim is not None:
        return sim
    try:
        raise _connect_error([exc for sub in exceptions for exc in sub], all_errors)
    finally:
        # As the stock create_connection: break the cycle exception -> traceback
        # -> this frame -> the lists -> exception, so a refused connect leaves no
        # garbage for the cycle collector.
        exceptions = []


def interleave_addrinfos(
    infos: list[AddrInfo], first_address_family_count: int = 1
) -> list[AddrInfo]:
    """The stock loop's ``_interleave_addrinfos`` (RFC 8305 section 4): the
    addresses alternate between families, the first family's
    ``first_address_family_count`` first."""
    by_family: dict[int, list[AddrInfo]] = {}
    for info in infos:
        by_family.setdefault(info[0], []).append(info)
    lists = list(by_family.values())
    reordered: list[AddrInfo] = []
    if first_address_family_count > 1:
        reordered.extend(lists[0][: first_address_family_count - 1])
        del lists[0][: first_address_family_count - 1]
    reordered.extend(
        a for a in itertools.chain.from_iterable(itertools.zip_longest(*lists)) if a is not None
    )
    return reordered


def _connect_error(flat: list[OSError], all_errors: bool) -> BaseException:
    """What the stock ``create_connection`` raises when every address failed: one
    error as itself, several with one message as the first, else a plain
    ``OSError('Multiple exceptions: ...')``; an ``ExceptionGroup`` with ``all_errors``."""
    if all_errors:
        return ExceptionGroup("create_connection failed", flat)
    if len(flat) == 1:
        return flat[0]
    model = str(flat[0])
    if all(str(exc) == model for exc in flat):
        return flat[0]
    return OSError("Multiple exceptions: {}".format(", ".join(str(exc) for exc in flat)))


def check_ssl_args(
    ssl: Any,
    ssl_handshake_timeout: float | None,
    ssl_shutdown_timeout: float | None,
) -> None:
    """The stock loop's checks: the TLS timeouts need ``ssl``."""
    if ssl_handshake_timeout is not None and not ssl:
        raise ValueError("ssl_handshake_timeout is only meaningful with ssl")
    if ssl_shutdown_timeout is not None and not ssl:
        raise ValueError("ssl_shutdown_timeout is only meaningful with ssl")


def _server_hostname(host: str | None, ssl: Any, server_hostname: str | None) -> str | None:
    """The stock loop's rule: a server name only with ``ssl``, the host by default."""
    if server_hostname is not None and not ssl:
        raise ValueError("server_hostname is only meaningful with ssl")
    if server_hostname is None and ssl:
        if not host:
            raise ValueError("You must set server_hostname when using ssl without a host")
        return host
    return server_hostname


def _given_socket(sock: Any) -> SimSocket:
    """The connected SimSocket for ``create_connection(sock=...)``, which now owns it."""
    if sock is None:
        raise ValueError("host and port was not specified and no sock specified")
    if getattr(sock, "type", socket.SOCK_STREAM) != socket.SOCK_STREAM:
        raise ValueError(f"A Stream Socket was expected, got {sock!r}")
    sim = connected_socket(sock)
    sim.own_real_socket(sock)
    return sim


async def create_connection(
    loop: asyncio.AbstractEventLoop,
    network: Network,
    protocol_factory: ProtocolFactory,
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
    server_hostname = _server_hostname(host, ssl, server_hostname)
    check_ssl_args(ssl, ssl_handshake_timeout, ssl_shutdown_timeout)
    if host is None and port is None:
        sim = _given_socket(sock)
    elif sock is not None:
        raise ValueError("host/port and sock can not be specified at the same time")
    else:
        stream = socket.SOCK_STREAM
        infos = resolve(network, host, port, family=family, type=stream, proto=proto, flags=flags)
        laddr_infos = None
        if local_addr is not None:
            local_host, local_port = local_addr  # the stock loop's ValueError/TypeError
            laddr_infos = resolve(
                network,
                local_host,
                local_port,
                family=family,
                type=stream,
                proto=proto,
                flags=flags,
            )
        if happy_eyeballs_delay is not None and interleave is None:
            interleave = 1  # as the stock loop: "Interleave by default for RFC 8305"
        if interleave:
            infos = interleave_addrinfos(infos, interleave)
        sim = await _connect_first(
            loop, network, infos, laddr_infos, all_errors, happy_eyeballs_delay
        )
    return await create_transport(
        loop,
        network,
        sim,
        protocol_factory,
        ssl,
        server_hostname,
        ssl_handshake_timeout=ssl_handshake_timeout,
        ssl_shutdown_timeout=ssl_shutdown_timeout,
    )


async def create_transport(
    loop: asyncio.AbstractEventLoop,
    network: Network,
    sim: SimSocket,
    protocol_factory: ProtocolFactory,
    ssl: Any,
    server_hostname: str | None,
    server_side: bool = False,
    ssl_handshake_timeout: float | None = None,
    ssl_shutdown_timeout: float | None = None,
) -> tuple[asyncio.Transport, asyncio.BaseProtocol]:
    """``BaseEventLoop._create_connection_transport``: the protocol, the
    transport (TLS over it with ``ssl``), once the protocol is connected."""
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
    try:
        await waiter
    except BaseException:
        transport.close()
        raise
    return transport, protocol


async def sock_connect(
    loop: asyncio.AbstractEventLoop, network: Network, sock: Any, address: Any
) -> None:
    """``loop.sock_connect``: connect ``sock`` (a real socket or a SimSocket) on the
    simulated network; the real socket is registered as standing for the connection.

    Raises:
        OSError: as :func:`create_connection`'s connect step.
    """
    family = getattr(sock, "family", socket.AF_INET)
    if family not in (socket.AF_INET, socket.AF_INET6):
        raise unsupported(f"a {sock.family!r} socket")
    if getattr(sock, "type", socket.SOCK_STREAM) != socket.SOCK_STREAM:
        raise unsupported("a non-stream socket (UDP)")
    infos = resolve(network, address[0], address[1], family=family, type=socket.SOCK_STREAM)
    target = infos[0][4]
    host = network.current_host()
    sim = lookup_real_socket(sock)
    if sim is not None and sim.conn is not None:
        raise os_error(errno.EISCONN)
    local_ip: str | None = None
    local_port = 0
    if sim is None:
        sim = SimSocket(network, host, clock=clock_for(loop, network), family=family)
        if isinstance(sock, socket.socket):
            sim.copy_options_from(sock)
    else:
        # A socket bound before connect(): its address becomes the local one.
        host = sim.host
        local_ip, local_port = sim.release_bind()
    sim = await _connect(
        loop, network, host, target, sim=sim, local_port=local_port, local_ip=local_ip
    )
    if isinstance(sock, socket.socket):
        register_real_socket(sock, sim)
