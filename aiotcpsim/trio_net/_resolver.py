"""trio's socket factory and hostname resolver, answered by a simulated network.

Rule owned here: which sockets trio may make inside ``open_network`` (TCP
over IPv4 or IPv6; other families and types fail with the errno a kernel
without them gives) and how trio's name lookups are answered from the network's names.
A ``socket.socket`` bound or listened on by a task of that run is simulated
too (:func:`library_sockets`, see ``aiotcpsim._library_sockets``), and
``trio.socket.from_stdlib_socket`` hands back its :class:`SimSocket`.
"""

from __future__ import annotations

import contextlib
import errno
import socket as _stdlib_socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

import trio

from .._library_sockets import activate, lookup
from .._sockets import os_error
from ..addresses import (
    LOOPBACK4,
    LOOPBACK6,
    WILDCARD4,
    WILDCARD6,
    is_ipv6,
    is_loopback,
    mapped,
    parse_ip,
    unmapped,
)
from ._socket import SimSocket

if TYPE_CHECKING:
    from ._driver import TrioDriver

__all__ = ["SimHostnameResolver", "SimSocketFactory", "library_sockets"]


class SimSocketFactory(trio.abc.SocketFactory):
    """Makes :class:`SimSocket` objects on the network's current host.

    TCP over AF_INET and AF_INET6 is simulated: another family raises
    ``EAFNOSUPPORT``, another type ``ESOCKTNOSUPPORT``.
    """

    def __init__(self, driver: TrioDriver) -> None:
        self._driver = driver

    def socket(
        self,
        family: _stdlib_socket.AddressFamily | int = _stdlib_socket.AF_INET,
        type: _stdlib_socket.SocketKind | int = _stdlib_socket.SOCK_STREAM,
        proto: int = 0,
    ) -> trio.socket.SocketType:
        if family not in (_stdlib_socket.AF_INET, _stdlib_socket.AF_INET6):
            raise os_error(errno.EAFNOSUPPORT, "the simulated network carries IPv4 and IPv6 only")
        flags = getattr(_stdlib_socket, "SOCK_NONBLOCK", 0) | getattr(
            _stdlib_socket, "SOCK_CLOEXEC", 0
        )
        if type & ~flags != _stdlib_socket.SOCK_STREAM:
            raise os_error(errno.ESOCKTNOSUPPORT, "the simulated network carries TCP only")
        if proto not in (0, _stdlib_socket.IPPROTO_TCP):
            raise os_error(errno.EPROTONOSUPPORT)
        network = self._driver.network
        return SimSocket(
            self._driver,
            network.current_host(),
            proto=proto,
            family=_stdlib_socket.AddressFamily(family),
        )


class SimHostnameResolver(trio.abc.HostnameResolver):
    """``getaddrinfo``/``getnameinfo`` over the network's host names.

    trio answers numeric addresses itself without asking the resolver; names
    (``"server"``, ``"localhost"``) come here, answered in glibc's order
    (``localhost``: ``::1`` then ``127.0.0.1``), of ``family`` (AI_V4MAPPED:
    IPv4 ones mapped when there is no IPv6 one).  An unknown name, or one
    without an address of ``family``, raises ``socket.gaierror``
    (EAI_NONAME) as the system resolver does.
    """

    def __init__(self, driver: TrioDriver) -> None:
        self._driver = driver

    async def getaddrinfo(
        self,
        host: bytes | None,
        port: bytes | str | int | None,
        family: int = 0,
        type: int = 0,
        proto: int = 0,
        flags: int = 0,
    ) -> list[
        tuple[
            Literal[_stdlib_socket.AddressFamily.AF_INET],
            _stdlib_socket.SocketKind,
            int,
            str,
            tuple[str, int],
        ]
        | tuple[
            Literal[_stdlib_socket.AddressFamily.AF_INET6],
            _stdlib_socket.SocketKind,
            int,
            str,
            tuple[str, int, int, int] | tuple[int, bytes],
        ]
    ]:
        await trio.lowlevel.checkpoint()
        if family not in (0, _stdlib_socket.AF_INET, _stdlib_socket.AF_INET6):
            raise _stdlib_socket.gaierror(_stdlib_socket.EAI_FAMILY, "ai_family not supported")
        if type not in (0, _stdlib_socket.SOCK_STREAM) or proto not in (
            0,
            _stdlib_socket.IPPROTO_TCP,
        ):
            raise _stdlib_socket.gaierror(_stdlib_socket.EAI_SOCKTYPE, "ai_socktype not supported")
        number = _port(port)
        out: list[Any] = []
        for ip in self._addresses(host, family, flags):
            if is_ipv6(ip):
                sockaddr: Any = (ip, number, 0, 0)
                out.append((_stdlib_socket.AF_INET6, _stdlib_socket.SOCK_STREAM, 6, "", sockaddr))
            else:
                out.append(
                    (_stdlib_socket.AF_INET, _stdlib_socket.SOCK_STREAM, 6, "", (ip, number))
                )
        return out

    def _addresses(self, host: bytes | None, family: int, flags: int) -> list[str]:
        v6 = family == _stdlib_socket.AF_INET6
        if host is None:
            if flags & _stdlib_socket.AI_PASSIVE:
                found = [WILDCARD4, WILDCARD6]
            else:
                found = [LOOPBACK6, LOOPBACK4]
        else:
            name = host.decode("ascii") if isinstance(host, bytes) else str(host)
            literal = parse_ip(name)
            found = [literal] if literal is not None else self._driver.network.resolve_all(name)
        chosen = [ip for ip in found if not family or is_ipv6(ip) == v6]
        if not chosen and v6 and flags & _stdlib_socket.AI_V4MAPPED:
            chosen = [mapped(ip) for ip in found]
        if not chosen:
            raise _stdlib_socket.gaierror(_stdlib_socket.EAI_NONAME, "Name or service not known")
        return chosen

    async def getnameinfo(
        self, sockaddr: tuple[str, int] | tuple[str, int, int, int], flags: int
    ) -> tuple[str, str]:
        await trio.lowlevel.checkpoint()
        if not isinstance(sockaddr, tuple) or len(sockaddr) < 2 or not isinstance(sockaddr[0], str):
            raise TypeError("getnameinfo(): illegal sockaddr argument")
        ip, port = sockaddr[0], sockaddr[1]
        if not isinstance(port, int):
            raise TypeError(f"{type(port).__name__!r} object cannot be interpreted as an integer")
        canonical = parse_ip(ip)
        if canonical is None:  # the kernel resolves numeric hosts only here
            raise _stdlib_socket.gaierror(_stdlib_socket.EAI_NONAME, "Name or service not known")
        name = ip
        if not flags & _stdlib_socket.NI_NUMERICHOST:
            network = self._driver.network
            host = network.host_for_address(unmapped(canonical))
            if host is None and is_loopback(canonical):
                host = network.localhost
            if host is not None:
                name = host.name
            elif flags & _stdlib_socket.NI_NAMEREQD:
                raise _stdlib_socket.gaierror(
                    _stdlib_socket.EAI_NONAME, "Name or service not known"
                )
        service = str(port)
        if not flags & _stdlib_socket.NI_NUMERICSERV:
            # the kernel's lookup without NI_NUMERICSERV: the service's name
            with contextlib.suppress(OSError):
                service = _stdlib_socket.getservbyport(
                    port, "udp" if flags & _stdlib_socket.NI_DGRAM else "tcp"
                )
        return (name, service)


def _port(port: Any) -> int:
    if port is None:
        return 0
    if isinstance(port, bytes):
        port = port.decode("ascii")
    if isinstance(port, int):
        return port
    try:
        return int(port)
    except ValueError:
        try:
            return _stdlib_socket.getservbyname(port, "tcp")
        except OSError:
            raise _stdlib_socket.gaierror(
                _stdlib_socket.EAI_SERVICE, "Servname not supported for ai_socktype"
            ) from None


# -- sockets that libraries create themselves ----------------------------------------------

_from_stdlib_socket = trio.socket.from_stdlib_socket


def _simulated_from_stdlib_socket(sock: _stdlib_socket.socket) -> trio.socket.SocketType:
    """``trio.socket.from_stdlib_socket`` while a network is open: the SimSocket a
    simulated ``socket.socket`` stands for (closing it closes ``sock``), else trio's."""
    sim = lookup(sock)
    if isinstance(sim, SimSocket):
        sim.own_real_socket(sock)
        return sim
    return _from_stdlib_socket(sock)


def library_sockets(driver: TrioDriver) -> Callable[[], None]:
    """Simulate the ``socket.socket`` objects that tasks of the current trio run
    bind or listen on, on ``driver``'s network, until the returned function is
    called; ``trio.socket.from_stdlib_socket`` hands back their SimSocket."""
    token = trio.lowlevel.current_trio_token()

    def standin(real: _stdlib_socket.socket) -> SimSocket | None:
        try:
            here = trio.lowlevel.current_trio_token()
            trio.lowlevel.current_task()  # a task's call, not a callback from a thread
        except RuntimeError:
            return None
        if here is not token or not driver.active:
            return None
        sim = SimSocket(driver, driver.network.current_host(), family=real.family)
        sim.copy_options_from(real)
        return sim

    patch = (trio.socket, "from_stdlib_socket", _simulated_from_stdlib_socket)
    return activate(standin, patches=(patch,))
