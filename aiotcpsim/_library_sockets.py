"""Sockets that libraries create themselves: a ``socket.socket`` inside a simulation.

Rule owned here: while a simulation runs in the calling thread -- a
virtual-time loop (or a loop routed by ``install``) is running there, or trio
runs there inside ``open_network`` -- a ``socket.socket`` of family AF_INET
and type SOCK_STREAM that the application or a library creates is a
simulated socket from its first ``bind()`` or ``listen()`` on (or from
``loop.sock_connect``, which registers it too).  It then *stands for* a
socket of that simulation's adapter (a *stand-in*), made on the current
simulated host, and its own methods act on the stand-in:

* ``bind(address)`` binds on the simulated host: a simulated name or address
  (``("server", 8000)``, ``("", 0)``; of an AF_INET6 socket, an IPv6 one
  or ``::``, dual-stack unless ``IPV6_V6ONLY``, its addresses read back as
  the kernel gives them: 4-tuples, IPv4 peers mapped), ``gaierror`` for a
  name no host has,
  ``EADDRINUSE``/``EADDRNOTAVAIL`` as Linux, options set before (``SO_REUSEADDR``,
  ``TCP_NODELAY``...) taken over.  The kernel socket itself is never bound;
* ``listen(backlog)`` opens the simulated listener at once, its backlog as
  Linux's (capped at ``somaxconn``): a client that connects before the first
  accept completes its handshake and waits in the accept queue.  ``listen()``
  on an unbound socket binds an ephemeral port first, as the kernel does;
* ``getsockname``, ``getpeername``, ``shutdown``, ``setsockopt``,
  ``getsockopt`` answer from, and act on, the stand-in;
* ``close()`` (and leaving ``with``) closes the stand-in -- a listener resets
  the connections in its accept queue, and later SYNs are refused -- then the
  kernel socket, whose ``fileno()`` becomes ``-1`` as usual;
* ``detach()`` hands the stand-in over with the descriptor: the
  ``socket.socket(fileno=fd)`` that takes it next stands for it (anyio's
  ``SocketListener.from_socket(fd)``), and the detached object closes nothing.

Handed to an adapter, the socket is its stand-in: ``loop.create_server(sock=)``,
``loop.sock_accept``, ``sock_recv``/``sock_sendall``, ``connect_accepted_socket``,
``create_connection(sock=)``, and ``trio.socket.from_stdlib_socket`` (which
returns the trio stand-in itself).  So anyio's ``create_tcp_listener`` works
on both its backends, and hypercorn serves from the sockets it binds itself.

How: while at least one simulation is active in the process (an adapter
calls :func:`activate` for it), the methods above are replaced on the
``socket.socket`` class -- a plain Python class -- by functions that look the
socket up in the registry (:func:`register`, :func:`lookup`) and otherwise call
the original, and each adapter's extra patches (trio's ``from_stdlib_socket``)
are in place; when the last one ends, the originals come back.  Stay the
kernel's, untouched: a socket made or bound outside a simulation (another
thread, before the run: ``listen()`` on a socket the kernel bound before
listens on the kernel), one of another family or type (AF_UNIX, UDP), one
bound to a link-local IPv6 address (``fe80::...%eth0``), and every other method
(``fileno``, ``setblocking``, ``send``/``recv``).

Not simulated:

* ``connect()``, ``connect_ex()`` and ``accept()`` on a stand-in raise
  ``EOPNOTSUPP`` naming the call to use instead (``loop.sock_connect``/
  ``loop.sock_accept``, or the socket wrapped by trio): a blocking call would
  stop the thread that moves the virtual clock, and a non-blocking one would
  need the kernel descriptor's readiness, which does not follow the simulation;
* a detached descriptor closed with ``os.close()`` leaves its stand-in open
  until the last simulation ends, and a socket.socket that gets the same
  number meanwhile is taken for it;
* a stand-in closed while no simulation runs in its thread (after the loop
  stopped), or never closed and garbage-collected, leaves its simulated socket
  open: close it inside the run, as a kernel socket left open warns anyway;
* ``shutdown()`` on a listening stand-in raises ``ENOTCONN`` (Linux's
  ``SHUT_RD`` stops the listener).

No asyncio and no trio here: the adapters provide the stand-ins (:class:`Provider`).
"""

from __future__ import annotations

import errno
import socket
import threading
import weakref
from collections.abc import Callable
from typing import Any, Protocol

from ._sockets import os_error

__all__ = ["Provider", "Standin", "activate", "forget", "lookup", "register"]


class Standin(Protocol):
    """What an adapter's simulated socket does for a kernel socket standing for it."""

    def bind_address(self, address: Any) -> None:
        """``bind(address)`` on the simulated host, at once."""

    def listen(self, backlog: int) -> None: ...
    def getsockname(self) -> tuple[str, int]: ...
    def getpeername(self) -> tuple[str, int]: ...
    def shutdown(self, how: int) -> None: ...
    # Called with the arguments the socket's own method got (buflen, optlen optional).
    def getsockopt(self, level: int, optname: int, buflen: int) -> Any: ...
    def setsockopt(self, level: int, optname: int, value: Any, optlen: int) -> Any: ...
    def close(self) -> None: ...


Provider = Callable[[socket.socket], Standin | None]
"""Called in the thread and context of a ``bind()``/``listen()``: the stand-in
of this adapter's simulation for the kernel socket, or None when no simulation
of this adapter runs there.  It takes over the options set on the socket."""


# -- the registry: which stand-in a kernel socket stands for -----------------------------

_registry: weakref.WeakKeyDictionary[socket.socket, tuple[int, Any]] = weakref.WeakKeyDictionary()


def register(real: socket.socket, standin: Any) -> None:
    """Remember that the kernel socket ``real`` stands for ``standin``."""
    _registry[real] = (real.fileno(), standin)


def lookup(real: object) -> Any:
    """The stand-in registered for ``real``, or None.  A registration is dropped
    when ``real`` was closed or its descriptor number changed since."""
    if not isinstance(real, socket.socket):
        return None
    entry = _registry.get(real)
    if entry is None:
        return _adopt(real) if _detached else None
    fd, standin = entry
    if real.fileno() != fd:
        del _registry[real]
        return None
    return standin


def forget(real: socket.socket) -> Any:
    """Drop ``real``'s registration; its stand-in, or None."""
    entry = _registry.pop(real, None)
    return None if entry is None else entry[1]


# Descriptor -> the stand-in of a socket.socket detached from it (``detach()``),
# until a socket.socket takes the descriptor again (``socket.socket(fileno=fd)``,
# anyio's ``from_socket(fd)``) or the last simulation ends.
_detached: dict[int, Any] = {}


def _adopt(real: socket.socket) -> Any:
    """The stand-in of the detached descriptor ``real`` now holds, registered
    for ``real``; or None."""
    try:
        fd = real.fileno()
    except OSError:
        return None
    standin = _detached.pop(fd, None)
    if standin is not None:
        register(real, standin)
    return standin


# -- activation -------------------------------------------------------------------------------

_lock = threading.Lock()
_providers: list[Provider] = []
# (id(owner), attribute) -> [activations using it, the value it replaced].
_patched: dict[tuple[int, str], list[Any]] = {}
_ABSENT = object()  # the attribute was inherited, not set on the owner


def activate(
    provider: Provider, *, patches: tuple[tuple[Any, str, Any], ...] = ()
) -> Callable[[], None]:
    """Make ``provider`` answer for sockets bound while it is active, and set
    ``patches`` (``(owner, attribute, value)``) until then; returns the function
    that deactivates it (call it once)."""
    every = _SOCKET_PATCHES + patches
    with _lock:
        _providers.append(provider)
        for owner, name, value in every:
            key = (id(owner), name)
            if key in _patched:
                _patched[key][0] += 1
            else:
                _patched[key] = [1, owner.__dict__.get(name, _ABSENT)]
                setattr(owner, name, value)

    def deactivate() -> None:
        with _lock:
            _providers.remove(provider)
            for owner, name, _ in every:
                key = (id(owner), name)
                entry = _patched[key]
                entry[0] -= 1
                if entry[0] == 0:
                    del _patched[key]
                    if entry[1] is _ABSENT:
                        delattr(owner, name)
                    else:
                        setattr(owner, name, entry[1])
            if not _providers:
                _detached.clear()  # their simulations are over

    return deactivate


def _new_standin(real: socket.socket) -> Any:
    """A stand-in from the provider of the simulation running here, or None.
    A socket the kernel has bound already (before the simulation ran) stays
    the kernel's."""
    if real.type != socket.SOCK_STREAM or real.family not in (socket.AF_INET, socket.AF_INET6):
        return None
    try:
        if _ss.getsockname(real)[1] != 0:
            return None
    except OSError:
        return None  # closed: the kernel's error
    for provider in reversed(tuple(_providers)):  # another thread may (de)activate
        standin = provider(real)
        if standin is not None:
            return standin
    return None


# -- the addresses a stand-in takes ------------------------------------------------------


def _simulated_address(address: Any) -> Any:
    """``address`` when a ``bind(address)`` names something the stand-in can
    bind (a ``(host, port)`` pair, AF_INET6's up to 4-tuple, which the
    stand-in checks as the socket module does), else None: the call goes to
    the kernel (a link-local IPv6 address, which has no simulated
    counterpart, binds there; a malformed address raises the kernel's error)."""
    if not isinstance(address, tuple) or not 2 <= len(address) <= 4:
        return None
    host = address[0]
    if not isinstance(host, (str, bytes, bytearray)):
        return None
    if len(address) == 4 and address[3]:
        return None  # a scope id: a link-local address of the machine's interfaces
    text = host.decode("ascii", "replace") if not isinstance(host, str) else host
    if "%" in text or text.lower().startswith("fe80:"):
        return None  # link-local: the simulation has none, the kernel's socket binds it
    return address


# -- the methods of socket.socket while a simulation is active ----------------------------

_kernel = socket.socket  # the class whose methods are replaced
_ss: Any = socket.socket.__mro__[1]  # _socket.socket: the kernel's own methods


def _bind(self: socket.socket, address: Any) -> None:
    standin = lookup(self)
    target = _simulated_address(address)
    if standin is None:
        standin = None if target is None else _new_standin(self)
        if standin is None:
            return _ss.bind(self, address)  # type: ignore[no-any-return]
        standin.bind_address(target)  # registered only once bound, as a failed bind(2)
        register(self, standin)
        return None
    if target is None:
        raise os_error(errno.EINVAL)  # bound already: bind(2) refuses a second bind
    standin.bind_address(target)
    return None


def _listen(self: socket.socket, *backlog: int) -> None:
    # socket.listen(): no argument means min(SOMAXCONN, 128); a negative one 0.
    n = max(0, backlog[0]) if backlog else min(socket.SOMAXCONN, 128)
    standin = lookup(self)
    if standin is None:
        standin = _new_standin(self)  # an unbound socket binds the wildcard
        if standin is None:
            return _ss.listen(self, *backlog)  # type: ignore[no-any-return]
        standin.listen(n)
        register(self, standin)
        return None
    standin.listen(n)
    return None


def _forwarded(name: str) -> Callable[..., Any]:
    original = getattr(_ss, name)

    def method(self: socket.socket, *args: Any) -> Any:
        standin = lookup(self)
        if standin is None:
            return original(self, *args)
        return getattr(standin, name)(*args)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = original.__doc__
    return method


def _address_of(name: str) -> Callable[..., Any]:
    original = getattr(_ss, name)

    def method(self: socket.socket) -> Any:
        standin = lookup(self)
        if standin is None:
            return original(self)
        return getattr(standin, name)()

    method.__name__ = method.__qualname__ = name
    method.__doc__ = original.__doc__
    return method


def _refused(name: str, instead: str) -> Callable[..., Any]:
    original = getattr(_kernel, name)

    def method(self: socket.socket, *args: Any) -> Any:
        if lookup(self) is None:
            return original(self, *args)
        raise os_error(
            errno.EOPNOTSUPP,
            f"{name}() on a socket.socket of a simulated network is not simulated: use {instead}",
        )

    method.__name__ = method.__qualname__ = name
    method.__doc__ = original.__doc__
    return method


def _real_close(self: socket.socket, _ss: Any = _ss, _forget: Any = forget) -> None:
    # As socket.socket._real_close, this references no globals (it may run at
    # interpreter shutdown): the stand-in closes first, then the kernel socket.
    standin = _forget(self)
    try:
        if standin is not None:
            standin.close()
    finally:
        _ss.close(self)


_kernel_detach = _kernel.detach


def _detach(self: socket.socket) -> int:
    # The stand-in follows the descriptor, not this object: leaving `with`
    # after detach() closes nothing, as on a kernel.
    standin = forget(self)
    fd: int = _kernel_detach(self)
    if standin is not None:
        _detached[fd] = standin
    return fd


_SOCKET_PATCHES: tuple[tuple[Any, str, Any], ...] = (
    (_kernel, "detach", _detach),
    (_kernel, "bind", _bind),
    (_kernel, "listen", _listen),
    (_kernel, "getsockname", _address_of("getsockname")),
    (_kernel, "getpeername", _address_of("getpeername")),
    (_kernel, "shutdown", _forwarded("shutdown")),
    (_kernel, "getsockopt", _forwarded("getsockopt")),
    (_kernel, "setsockopt", _forwarded("setsockopt")),
    (_kernel, "_real_close", _real_close),
    (_kernel, "connect", _refused("connect", "loop.sock_connect() or trio")),
    (_kernel, "connect_ex", _refused("connect_ex", "loop.sock_connect() or trio")),
    (_kernel, "accept", _refused("accept", "loop.sock_accept() or trio")),
)
