"""trio's socket factory and hostname resolver, answered by a simulated network.

Rule owned here: which sockets trio may make inside ``open_network`` (TCP
over IPv4 or IPv6; other families and types fail with the errno a kernel
without them gives) and how trio's name lookups are answered from the network's names.
A ``socket.socket`` bound or listened on by a task of that run is simulated
too (:func:`library_sockets`, see ``aiotcpsim._library_sockets``), and
``trio.socket.from_stdlib_socket`` hands back its :class:`SimSocket`.
"""

from __future__ import annotations

import errno
import socket as _stdlib_socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

import trio

from .._library_sockets import activate, lookup
from .._names import nameinfo, resolve
from .._sockets import os_error
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
    """``getaddrinfo``/``getnameinfo`` over the network's host names, answered
    by :mod:`aiotcpsim._names` as for the asyncio loop.

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
        network = self._driver.network
        # trio asks for the stream kind; UDP entries would only fail later
        kind = type or _stdlib_socket.SOCK_STREAM
        return resolve(network, host, port, family=family, type=kind, proto=proto, flags=flags)  # type: ignore[return-value]

    async def getnameinfo(
        self, sockaddr: tuple[str, int] | tuple[str, int, int, int], flags: int
    ) -> tuple[str, str]:
        await trio.lowlevel.checkpoint()
        return nameinfo(self._driver.network, sockaddr, flags)


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
