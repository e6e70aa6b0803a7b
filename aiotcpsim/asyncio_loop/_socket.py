"""Socket-like views of simulated TCP endpoints, and the map from real sockets.

Rule owned here: which simulated socket a socket object handed to the loop
stands for (the registry: :func:`register_real_socket`,
:func:`lookup_real_socket`, :func:`connected_socket`), and what
``get_extra_info("socket")`` answers.  Options and errno errors come from
``aiotcpsim._sockets``, readability from ``aiotcpsim._readiness``.

:class:`SimSocket` is what ``transport.get_extra_info("socket")`` and
``server.sockets`` return.  It answers what asyncio's ``TransportSocket``
answers (``family``, ``type``, ``proto``, ``getsockname``, ``getpeername``,
``getsockopt``/``setsockopt``, ``fileno``...), from the simulated connection.
An AF_INET6 one names addresses as the kernel does: 4-tuples ``(ip, port,
flowinfo, scope_id)``, IPv4 peers of a dual-stack socket IPv4-mapped
(``::ffff:10.0.0.1``); its connections carry IPv4 on the wire all the same.

``fileno()``
    Some clients poll a pooled connection's descriptor to learn whether the peer
    closed it while idle (httpcore's ``is_socket_readable``, urllib3's
    ``wait_for_read``), and read ``-1`` as "closed".  So a SimSocket hands out a
    real descriptor, created on the first ``fileno()`` call: an eventfd (a
    socketpair where there is none) that ``select``/``poll`` report readable
    exactly when the simulated socket is -- data not yet read by the transport,
    end of stream, a pending error, a connection in the accept queue.  The
    descriptor carries no data: never read from or write to it.  After
    ``close()``, ``fileno()`` is ``-1`` as for a kernel socket.

Real sockets
    Libraries that build sockets themselves (aiohttp through aiohappyeyeballs:
    ``socket.socket()`` + ``loop.sock_connect`` + ``create_connection(sock=)``;
    anyio and hypercorn: ``bind`` + ``listen`` + ``sock_accept`` or
    ``create_server(sock=)``) pass a real ``socket.socket`` to the loop.  The
    registry of ``aiotcpsim._library_sockets`` maps that socket object to the
    SimSocket standing for it: made when the socket is bound or listened on
    while the loop runs (:meth:`SimSocket.bind_address`, :meth:`SimSocket.listen`),
    or when ``sock_connect`` connects it; a socket bound on the kernel before
    the loop ran stands for a listener opened on its port when it is handed
    over (``_serve.listen_on_real_socket``).  The kernel socket itself stays
    unbound and unconnected.
"""

from __future__ import annotations

import errno
import socket
from typing import TYPE_CHECKING, Any, Protocol

from .. import State
from .._library_sockets import forget, lookup, register
from .._readiness import ReadinessFd, poll_readable
from .._sockets import NODELAY, SocketOptions, bind_target, check_local_address, os_error
from ..addresses import WILDCARD4, WILDCARD6, is_wildcard, mapped
from ._driver import NetworkClock

if TYPE_CHECKING:
    from ..net import Network
    from ..stack.host import Host, Listener
    from ..tcp import Connection

__all__ = [
    "SimSocket",
    "connected_socket",
    "lookup_real_socket",
    "register_real_socket",
    "unsupported",
]

_UNSUPPORTED = (
    "aiotcpsim simulates TCP over IPv4 only: {what} is not supported on a simulated "
    "network (run it on a stock event loop)"
)


def unsupported(what: str) -> NotImplementedError:
    """The error for a socket kind the simulated network does not carry (UDP, Unix)."""
    return NotImplementedError(_UNSUPPORTED.format(what=what))


# getpeername() raises ENOTCONN in these states.
_NOT_CONNECTED = frozenset({State.SYN_SENT, State.CLOSED})


class _Handler(Protocol):
    def tcp_connected(self, conn: Connection) -> None: ...
    def tcp_readable(self, conn: Connection) -> None: ...
    def tcp_writable(self, conn: Connection) -> None: ...
    def tcp_closed(self, conn: Connection) -> None: ...


class _ListenHandler(Protocol):
    def tcp_acceptable(self, listener: Listener) -> None: ...


class SimSocket:
    """A socket-like object for one simulated TCP endpoint (connected or listening).

    It is not a ``socket.socket``: there is no ``send``/``recv`` on it (asyncio's
    ``TransportSocket`` refuses those too); use the transport, or
    ``loop.sock_recv``/``loop.sock_sendall``.
    """

    type = socket.SOCK_STREAM
    proto = socket.IPPROTO_TCP

    def __init__(
        self,
        network: Network,
        host: Host,
        *,
        clock: NetworkClock,
        conn: Connection | None = None,
        listener: Listener | None = None,
        sockname: tuple[str, int] | None = None,
        family: socket.AddressFamily = socket.AF_INET,
    ) -> None:
        self.family = family
        """AF_INET, or AF_INET6 (addresses as 4-tuples, IPv4 ones mapped)."""
        self.network = network
        self.clock = clock  # asked for the network's present before each call
        self.host = host
        self.conn: Connection | None = None
        self.listener = listener
        self._sockname = sockname
        self._closed = False
        self._fd: ReadinessFd | None = None
        self._handler: _Handler | None = None
        self._listen_handler: _ListenHandler | None = None
        self._options = SocketOptions()
        if family == socket.AF_INET6:
            self._options.values[(socket.SOL_SOCKET, socket.SO_DOMAIN)] = socket.AF_INET6
        self._real: socket.socket | None = None
        if conn is not None:
            self.attach(conn)
        if listener is not None:
            listener.user = self

    # -- wiring ----------------------------------------------------------------

    def attach(self, conn: Connection) -> None:
        """Become the application side (``conn.user``) of ``conn``."""
        self.conn = conn
        conn.user = self
        self._apply_options()

    def copy_options_from(self, real: socket.socket) -> None:
        """Take over the options a library set on its own kernel socket before
        handing it to the loop (``TCP_SYNCNT``, keep-alive, ``SO_LINGER``...):
        those that differ from a fresh kernel socket's."""
        self._options.copy_from(real)
        self._apply_options()

    def own_real_socket(self, real: object) -> None:
        """Close the kernel socket ``real`` along with this one: a transport made
        with ``sock=`` owns its socket, as asyncio's do."""
        if isinstance(real, socket.socket):
            self._real = real

    def set_handler(self, handler: _Handler | None) -> None:
        """Forward the connection's callbacks to ``handler`` (a transport, a connect waiter)."""
        self._handler = handler

    def set_listen_handler(self, handler: _ListenHandler | None) -> None:
        self._listen_handler = handler

    # ConnectionUser
    def tcp_connected(self, conn: Connection) -> None:
        if self._handler is not None:
            self._handler.tcp_connected(conn)

    def tcp_readable(self, conn: Connection) -> None:
        self.refresh()
        if self._handler is not None:
            self._handler.tcp_readable(conn)

    def tcp_writable(self, conn: Connection) -> None:
        if self._handler is not None:
            self._handler.tcp_writable(conn)

    def tcp_closed(self, conn: Connection) -> None:
        self.refresh()
        if self._handler is not None:
            self._handler.tcp_closed(conn)

    # ListenerUser
    def tcp_acceptable(self, listener: Listener) -> None:
        self.refresh()
        if self._listen_handler is not None:
            self._listen_handler.tcp_acceptable(listener)

    # -- readiness -------------------------------------------------------------

    def readable(self) -> bool:
        """What ``poll()`` would say of a kernel socket: POLLIN (or POLLHUP/POLLERR)."""
        if self._closed:
            return False
        if self.listener is not None:
            return self.listener.pending() > 0
        return self.conn is not None and poll_readable(self.conn)

    def refresh(self) -> None:
        """Bring the descriptor handed out by :meth:`fileno` up to date."""
        if self._fd is not None:
            self._fd.update(self.readable())

    # -- the socket interface ----------------------------------------------------

    def fileno(self) -> int:
        """A real descriptor, readable exactly when this socket is; -1 once closed."""
        if self._closed:
            return -1
        if self._fd is None:
            self._fd = ReadinessFd()
            self.refresh()
        return self._fd.fd

    def getsockname(self) -> Any:
        if self._closed:
            raise os_error(errno.EBADF)
        if self._sockname is not None:
            return self._address(self._sockname)
        if self.conn is not None:
            return self._address(self.conn.local)
        if self.listener is not None:
            return self._address(self.listener.sockname)
        return self._address((WILDCARD4, 0))

    def getpeername(self) -> Any:
        if self._closed:
            raise os_error(errno.EBADF)
        conn = self.conn
        if conn is None or conn.state in _NOT_CONNECTED:
            raise os_error(errno.ENOTCONN)
        return self._address(conn.remote)

    def _address(self, pair: tuple[str, int]) -> Any:
        """``(ip, port)`` as this socket's family spells it (AF_INET6: a
        4-tuple, IPv4 mapped, the IPv4 wildcard as ``::``)."""
        if self.family != socket.AF_INET6:
            return (pair[0], pair[1])
        ip = WILDCARD6 if pair[0] == WILDCARD4 else mapped(pair[0])
        return (ip, pair[1], 0, 0)

    def bind_address(self, address: Any) -> None:
        """``bind(address)`` of the kernel socket standing for this one: bound on
        the simulated host at once, not listening yet.

        Raises:
            OSError: ``EINVAL`` (already bound or connected), ``EADDRINUSE``,
                ``EADDRNOTAVAIL``; see also ``aiotcpsim._sockets.bind_target``.
        """
        if self._closed:
            raise os_error(errno.EBADF)
        ip, port = bind_target(self.network, address, family=self.family)
        if self.conn is not None or self.listener is not None:
            raise os_error(errno.EINVAL)
        check_local_address(self.host, ip)
        self.clock.present()
        self._take_listener(self._bind(port, ip))

    def _bind(self, port: int, ip: str) -> Listener:
        options = self._options
        return self.host.bind(
            port, reuse_address=options.reuse_address, ip=ip, v6only=options.v6only
        )

    def listen(self, backlog: int) -> None:
        """``listen(backlog)``: the simulated listener accepts handshakes from now
        on (an unbound socket first binds an ephemeral port, as the kernel does)."""
        if self._closed:
            raise os_error(errno.EBADF)
        if self.conn is not None:
            raise os_error(errno.EINVAL)
        self.clock.present()
        if self.listener is None:
            wildcard = WILDCARD6 if self.family == socket.AF_INET6 else WILDCARD4
            self._take_listener(self._bind(0, wildcard))
        assert self.listener is not None
        self.listener.listen(max(0, backlog))

    def _take_listener(self, listener: Listener) -> None:
        self.listener = listener
        listener.user = self

    def release_bind(self) -> tuple[str | None, int]:
        """Give up a bound, not listening socket's port for a connect from it:
        ``(local ip or None for any, local port)``; ``(None, 0)`` when unbound.

        Raises:
            OSError: ``EINVAL``, the socket listens.
        """
        listener = self.listener
        if listener is None:
            return None, 0
        if listener.listening:
            raise os_error(errno.EINVAL)
        self.listener = None
        listener.user = None
        listener.close()
        ip = None if is_wildcard(listener.bound_ip) else listener.bound_ip
        return ip, listener.port

    def setsockopt(self, level: int, optname: int, value: Any, optlen: int | None = None) -> None:
        if self._closed:
            raise os_error(errno.EBADF)
        self._options.set(level, optname, value, optlen)
        self._apply_options()

    def set_nodelay(self) -> None:
        """``setsockopt(IPPROTO_TCP, TCP_NODELAY, 1)``, what every transport does
        when it is made."""
        self.setsockopt(*NODELAY, 1)

    def getsockopt(self, level: int, optname: int, buflen: int | None = None) -> Any:
        if self._closed:
            raise os_error(errno.EBADF)
        return self._options.get(
            level, optname, buflen, conn=self.conn, listening=self._listening()
        )

    def _listening(self) -> bool:
        return self.listener is not None and self.listener.listening

    def _apply_options(self) -> None:
        if self.conn is not None:
            self._options.apply(self.conn, self.clock.present)

    def setblocking(self, flag: bool) -> None:
        if flag:
            raise ValueError("a simulated socket is always non-blocking")

    def settimeout(self, value: float | None) -> None:
        if value != 0:
            raise ValueError("settimeout(): only 0 (non-blocking) is supported")

    def gettimeout(self) -> float:
        return 0.0

    def getblocking(self) -> bool:
        return False

    def get_inheritable(self) -> bool:
        return False

    def shutdown(self, how: int) -> None:
        """``SHUT_WR``/``SHUT_RDWR`` half-close the connection (a FIN after queued data)."""
        if self._closed or self.conn is None:
            raise os_error(errno.ENOTCONN)
        if how in (socket.SHUT_WR, socket.SHUT_RDWR):
            self.conn.shutdown(self.clock.present())

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Close as ``close(2)`` does: FIN after queued data, RST if unread data is
        discarded; a listener resets the connections waiting in its accept queue."""
        if self._closed:
            return
        self._closed = True
        self._handler = None
        self._listen_handler = None
        if self.conn is not None:
            conn = self.conn
            conn.user = None
            if conn.state is not State.CLOSED:
                now = self.clock.present()
                if self._options.abortive_close:
                    conn.abort(now)  # SO_LINGER {1, 0}: close() resets
                else:
                    conn.close(now)
        if self.listener is not None:
            self.listener.user = None
            self.listener.close()
        if self._fd is not None:
            self._fd.close()
            self._fd = None
        if self._real is not None:
            real, self._real = self._real, None
            forget(real)
            real.close()

    def __enter__(self) -> SimSocket:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def detach(self) -> int:
        raise os_error(errno.EOPNOTSUPP, "a simulated socket has no kernel descriptor to detach")

    def dup(self) -> SimSocket:
        raise os_error(errno.EOPNOTSUPP, "a simulated socket cannot be duplicated")

    def __repr__(self) -> str:
        parts = [f"<aiotcpsim.SimSocket host={self.host.name}"]
        if self._closed:
            parts.append("[closed]")
        else:
            parts.append(f"laddr={self.getsockname()}")
        if self.conn is not None:
            parts.append(f"raddr={self.conn.remote}")
            parts.append(f"state={self.conn.state}")
        elif self._listening():
            parts.append("state=LISTEN")
        return " ".join(parts) + ">"

    def __del__(self) -> None:
        fd = getattr(self, "_fd", None)
        if fd is not None:
            fd.close()


# -- the registry of real sockets (kept by aiotcpsim._library_sockets) ---------------------


def register_real_socket(real: socket.socket, sim: SimSocket) -> None:
    """Remember that the kernel socket ``real`` stands for ``sim``."""
    register(real, sim)


def lookup_real_socket(real: object) -> SimSocket | None:
    """The SimSocket registered for ``real`` (a ``socket.socket`` or a SimSocket).

    A registration is dropped when the real socket was closed or its descriptor
    number changed since.
    """
    if isinstance(real, SimSocket):
        return real
    sim = lookup(real)
    return sim if isinstance(sim, SimSocket) else None


def connected_socket(sock: object) -> SimSocket:
    """The connected SimSocket ``sock`` stands for (``sock=`` arguments, ``sock_*`` calls).

    Raises:
        ValueError: ``sock`` was never connected on the simulated network.
        OSError: ``ENOTCONN``, the simulated socket is not connected (or closed).
    """
    sim = lookup_real_socket(sock)
    if sim is None:
        raise ValueError(
            f"{sock!r} is not connected on the simulated network: connect it with "
            "loop.sock_connect() first, or pass host and port"
        )
    if sim.conn is None or sim.closed:
        raise os_error(errno.ENOTCONN)
    return sim
