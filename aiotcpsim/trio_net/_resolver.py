"""trio's socket factory and hostname resolver, answered by a simulated network.

Rule owned here: which sockets trio may make inside ``open_network`` (IPv4
TCP only; other families and types fail with the errno a kernel without them
gives) and how trio's name lookups are answered from the network's names.
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
from .._sockets import os_error, parse_ipv4
from ._socket import SimSocket

if TYPE_CHECKING:
    from ._driver import TrioDriver

__all__ = ["SimHostnameResolver", "SimSocketFactory", "library_sockets"]


class SimSocketFactory(trio.abc.SocketFactory):
    """Makes :class:`SimSocket` objects on the network's current host.

    Only IPv4 TCP is simulated: another family raises ``EAFNOSUPPORT`` (which
    ``trio.open_tcp_listeners`` skips, as on a host without IPv6), another
    type ``ESOCKTNOSUPPORT``.
    """

    def __init__(self, driver: TrioDriver) -> None:
        self._driver = driver

    def socket(
        self,
        family: _stdlib_socket.AddressFamily | int = _stdlib_socket.AF_INET,
        type: _stdlib_socket.SocketKind | int = _stdlib_socket.SOCK_STREAM,
        proto: int = 0,
    ) -> trio.socket.SocketType:
        if family != _stdlib_socket.AF_INET:
            raise os_error(errno.EAFNOSUPPORT, "the simulated network is IPv4 only")
        flags = getattr(_stdlib_socket, "SOCK_NONBLOCK", 0) | getattr(
            _stdlib_socket, "SOCK_CLOEXEC", 0
        )
        if type & ~flags != _stdlib_socket.SOCK_STREAM:
            raise os_error(errno.ESOCKTNOSUPPORT, "the simulated network carries TCP only")
        if proto not in (0, _stdlib_socket.IPPROTO_TCP):
            raise os_error(errno.EPROTONOSUPPORT)
        network = self._driver.network
        return SimSocket(self._driver, network.current_host(), proto=proto)


class SimHostnameResolver(trio.abc.HostnameResolver):
    """``getaddrinfo``/``getnameinfo`` over the network's host names.

    trio answers numeric addresses itself without asking the resolver; names
    (``"server"``, ``"localhost"``) come here.  An unknown name raises
    ``socket.gaierror`` (EAI_NONAME) as the system resolver does.
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
        if family not in (0, _stdlib_socket.AF_INET):
            raise _stdlib_socket.gaierror(
                _stdlib_socket.EAI_ADDRFAMILY, "Address family for hostname not supported"
            )
        if type not in (0, _stdlib_socket.SOCK_STREAM) or proto not in (
            0,
            _stdlib_socket.IPPROTO_TCP,
        ):
            raise _stdlib_socket.gaierror(_stdlib_socket.EAI_SOCKTYPE, "ai_socktype not supported")
        if host is None:
            ip = "0.0.0.0" if flags & _stdlib_socket.AI_PASSIVE else "127.0.0.1"
        else:
            name = host.decode("ascii") if isinstance(host, bytes) else str(host)
            ip = self._driver.network.resolve(name)
        return [
            (
                _stdlib_socket.AF_INET,
                _stdlib_socket.SOCK_STREAM,
                _stdlib_socket.IPPROTO_TCP,
                "",
                (ip, _port(port)),
            )
        ]

    async def getnameinfo(
        self, sockaddr: tuple[str, int] | tuple[str, int, int, int], flags: int
    ) -> tuple[str, str]:
        await trio.lowlevel.checkpoint()
        if not isinstance(sockaddr, tuple) or len(sockaddr) < 2 or not isinstance(sockaddr[0], str):
            raise TypeError("getnameinfo(): illegal sockaddr argument")
        ip, port = sockaddr[0], sockaddr[1]
        if not isinstance(port, int):
            raise TypeError(f"{type(port).__name__!r} object cannot be interpreted as an integer")
        if parse_ipv4(ip) is None:  # the kernel resolves numeric hosts only here
            raise _stdlib_socket.gaierror(_stdlib_socket.EAI_NONAME, "Name or service not known")
        name = ip
        if not flags & _stdlib_socket.NI_NUMERICHOST:
            host = self._driver.network.host_for_address(ip)
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
        sim = SimSocket(driver, driver.network.current_host())
        sim.copy_options_from(real)
        return sim

    patch = (trio.socket, "from_stdlib_socket", _simulated_from_stdlib_socket)
    return activate(standin, patches=(patch,))
