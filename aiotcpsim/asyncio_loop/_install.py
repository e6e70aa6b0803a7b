"""Which of a loop's methods reach the simulated network, and how they are routed.

Rule owned here: the table :data:`ROUTES` says, for each TCP method of an
asyncio loop, where a call goes -- the simulated network, or the loop's own
method (``stock``) for a real socket the simulation never saw -- and both
ways of routing a loop use it: the virtual-time loop through
:class:`NetworkLoopMixin`, any stock loop in real time through :func:`install`.

* ``create_connection``/``open_connection``, ``sock_connect``: see ``_connect.py``;
  ``create_connection(sock=)`` with a real socket that was never connected on
  the network goes to the stock loop.
* ``create_server``/``start_server``, ``sock_accept``,
  ``connect_accepted_socket``: see ``_serve.py``.
* ``getaddrinfo``/``getnameinfo``: see ``_resolve.py``.
* ``sock_recv``, ``sock_recv_into``, ``sock_sendall``: see ``_sockcalls.py``;
  a real socket that was never registered goes to the stock loop.
* UDP and Unix sockets raise :class:`NotImplementedError`.
* A ``socket.socket`` that the application or a library binds or listens on
  while such a loop runs in the thread is simulated from then on
  (:func:`standin_for`, see ``aiotcpsim._library_sockets``).

A route is a plain function ``(loop, network, stock, *args, **kwargs)`` that
returns the awaitable doing the call; the loop method awaits it.
"""

from __future__ import annotations

import asyncio
import socket
import weakref
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, cast

from .._library_sockets import activate
from ._connect import create_connection, sock_connect
from ._driver import clock_for
from ._resolve import getaddrinfo, getnameinfo
from ._serve import connect_accepted_socket, create_server, sock_accept
from ._sockcalls import sock_recv, sock_recv_into, sock_sendall
from ._socket import SimSocket, lookup_real_socket, unsupported

if TYPE_CHECKING:
    from .. import Network

__all__ = ["ROUTES", "NetworkLoopMixin", "install", "standin_for"]

_Loop = asyncio.AbstractEventLoop
Route = Callable[..., Awaitable[Any]]


def _is_sim(sock: Any) -> bool:
    return lookup_real_socket(sock) is not None


def _is_unregistered_real(sock: Any) -> bool:
    return isinstance(sock, socket.socket) and not _is_sim(sock)


def _create_connection(
    loop: _Loop, network: Network, stock: Any, protocol_factory: Any, *args: Any, **kw: Any
) -> Awaitable[Any]:
    if _is_unregistered_real(kw.get("sock")):
        return cast(Awaitable[Any], stock(protocol_factory, *args, **kw))
    return create_connection(loop, network, protocol_factory, *args, **kw)


def _create_server(
    loop: _Loop, network: Network, stock: Any, protocol_factory: Any, *args: Any, **kw: Any
) -> Awaitable[Any]:
    return create_server(loop, network, protocol_factory, *args, **kw)


def _getaddrinfo(
    loop: _Loop, network: Network, stock: Any, host: Any, port: Any, **kw: Any
) -> Awaitable[Any]:
    return getaddrinfo(network, host, port, **kw)


def _getnameinfo(
    loop: _Loop, network: Network, stock: Any, sockaddr: Any, flags: int = 0
) -> Awaitable[Any]:
    return getnameinfo(network, sockaddr, flags)


def _sock_connect(
    loop: _Loop, network: Network, stock: Any, sock: Any, address: Any
) -> Awaitable[Any]:
    return sock_connect(loop, network, sock, address)


def _sock_accept(loop: _Loop, network: Network, stock: Any, sock: Any) -> Awaitable[Any]:
    return sock_accept(loop, network, sock)


def _sock_recv(loop: _Loop, network: Network, stock: Any, sock: Any, n: int) -> Awaitable[Any]:
    if not _is_sim(sock):
        return cast(Awaitable[Any], stock(sock, n))
    return sock_recv(loop, sock, n)


def _sock_recv_into(
    loop: _Loop, network: Network, stock: Any, sock: Any, buf: Any
) -> Awaitable[Any]:
    if not _is_sim(sock):
        return cast(Awaitable[Any], stock(sock, buf))
    return sock_recv_into(loop, sock, buf)


def _sock_sendall(
    loop: _Loop, network: Network, stock: Any, sock: Any, data: Any
) -> Awaitable[Any]:
    if not _is_sim(sock):
        return cast(Awaitable[Any], stock(sock, data))
    return sock_sendall(loop, sock, data)


def _connect_accepted_socket(
    loop: _Loop, network: Network, stock: Any, protocol_factory: Any, sock: Any, **kw: Any
) -> Awaitable[Any]:
    if not _is_sim(sock):
        return cast(Awaitable[Any], stock(protocol_factory, sock, **kw))
    return connect_accepted_socket(loop, network, protocol_factory, sock, **kw)


def _refuse(what: str) -> Route:
    def route(loop: _Loop, network: Network, stock: Any, *args: Any, **kw: Any) -> Awaitable[Any]:
        raise unsupported(what)

    return route


ROUTES: dict[str, Route] = {
    "create_connection": _create_connection,
    "create_server": _create_server,
    "getaddrinfo": _getaddrinfo,
    "getnameinfo": _getnameinfo,
    "sock_connect": _sock_connect,
    "sock_accept": _sock_accept,
    "sock_recv": _sock_recv,
    "sock_recv_into": _sock_recv_into,
    "sock_sendall": _sock_sendall,
    "connect_accepted_socket": _connect_accepted_socket,
    "create_datagram_endpoint": _refuse("UDP (create_datagram_endpoint)"),
    "create_unix_connection": _refuse("a Unix socket (create_unix_connection)"),
    "create_unix_server": _refuse("a Unix socket (create_unix_server)"),
}


def _loop_method(name: str) -> Any:
    """The method ``name`` of :class:`NetworkLoopMixin`: routes through ``self.network``."""
    route = ROUTES[name]

    async def method(self: Any, *args: Any, **kw: Any) -> Any:
        stock = getattr(super(NetworkLoopMixin, self), name)
        return await route(self, self.network, stock, *args, **kw)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"``{name}`` on the simulated network ``self.network``."
    return method


class NetworkLoopMixin:
    """Loop methods that route TCP through ``self.network`` instead of the kernel.

    Mixed in before ``asyncio.SelectorEventLoop``.  For type checkers the loop
    keeps the stock signatures: the routed methods are defined outside their view.
    """

    network: Network

    if not TYPE_CHECKING:
        create_connection = _loop_method("create_connection")
        create_server = _loop_method("create_server")
        getaddrinfo = _loop_method("getaddrinfo")
        getnameinfo = _loop_method("getnameinfo")
        sock_connect = _loop_method("sock_connect")
        sock_accept = _loop_method("sock_accept")
        sock_recv = _loop_method("sock_recv")
        sock_recv_into = _loop_method("sock_recv_into")
        sock_sendall = _loop_method("sock_sendall")
        connect_accepted_socket = _loop_method("connect_accepted_socket")
        create_datagram_endpoint = _loop_method("create_datagram_endpoint")
        create_unix_connection = _loop_method("create_unix_connection")
        create_unix_server = _loop_method("create_unix_server")

    def run_forever(self) -> None:
        # While the loop runs, sockets libraries bind in its thread are simulated.
        deactivate = activate(standin_for)
        try:
            super().run_forever()  # type: ignore[misc]
        finally:
            deactivate()

    def _stop_serving(self, sock: Any) -> None:
        # The stock Server calls this; a SimServer closes its own listeners.
        if isinstance(sock, SimSocket):
            sock.close()
        else:
            cast(Any, super())._stop_serving(sock)


def _installed_method(
    route: Route, loop: _Loop, network: Network, stock: Any
) -> Callable[..., Awaitable[Any]]:
    async def method(*args: Any, **kw: Any) -> Any:
        return await route(loop, network, stock, *args, **kw)

    return method


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
        for name, route in ROUTES.items():
            stock = getattr(loop, name)
            saved[name] = loop.__dict__.get(name)
            setattr(loop, name, _installed_method(route, loop, network, stock))
    except AttributeError:
        raise TypeError(
            f"cannot install simulated TCP methods on {loop!r}: it takes no instance attributes"
        ) from None

    _installed[loop] = network
    deactivate = activate(standin_for)

    def uninstall() -> None:
        deactivate()
        if _installed.get(loop) is network:
            del _installed[loop]
        for name, old in saved.items():
            if old is None:
                loop.__dict__.pop(name, None)
            else:
                setattr(loop, name, old)

    return uninstall


# -- sockets that libraries create themselves ----------------------------------------------

_installed: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Network] = (
    weakref.WeakKeyDictionary()
)


def standin_for(real: socket.socket) -> SimSocket | None:
    """The SimSocket a ``socket.socket`` bound now stands for: one on the current
    host of the network of the loop running in this thread, if that loop is
    routed (a virtual-time loop, or a loop given to :func:`install`); else None.
    It takes over the options set on ``real``."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return None
    network = loop.network if isinstance(loop, NetworkLoopMixin) else _installed.get(loop)
    if network is None:
        return None
    sim = SimSocket(
        network, network.current_host(), clock=clock_for(loop, network), family=real.family
    )
    sim.copy_options_from(real)
    return sim
