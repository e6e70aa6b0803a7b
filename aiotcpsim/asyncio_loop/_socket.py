"""Socket-like views of simulated TCP endpoints, and the map from real sockets.

:class:`SimSocket` is what ``transport.get_extra_info("socket")`` and
``server.sockets`` return.  It answers what asyncio's ``TransportSocket``
answers (``family``, ``type``, ``proto``, ``getsockname``, ``getpeername``,
``getsockopt``/``setsockopt``, ``fileno``...), from the simulated connection.

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
    a server handing a bound socket to ``create_server(sock=)``) pass a real
    ``socket.socket`` to the loop.  The loop keeps a registry from that socket
    object (weakly, by identity, checked against its current ``fileno()``) to the
    SimSocket standing for it.  The kernel socket itself stays unconnected; only
    its bound port is read, for listening sockets, so that the port a library
    reads back from its own socket is the one clients reach in the simulation.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import struct
import weakref
from typing import TYPE_CHECKING, Any, Protocol

from .._readiness import ReadinessFd
from ..connection import CLOSED, SYN_SENT

if TYPE_CHECKING:
    from ..connection import Connection
    from ..net import Network
    from ..stack.host import Host, Listener

__all__ = ["SimSocket", "lookup_real_socket", "network_time", "register_real_socket"]


class _Handler(Protocol):
    def tcp_connected(self, conn: Connection) -> None: ...
    def tcp_readable(self, conn: Connection) -> None: ...
    def tcp_writable(self, conn: Connection) -> None: ...
    def tcp_closed(self, conn: Connection) -> None: ...


class _ListenHandler(Protocol):
    def tcp_acceptable(self, listener: Listener) -> None: ...


_INT_OPTIONS_DEFAULTS: dict[tuple[int, int], int] = {
    (socket.SOL_SOCKET, socket.SO_KEEPALIVE): 0,
    (socket.SOL_SOCKET, socket.SO_REUSEADDR): 0,
    (socket.SOL_SOCKET, socket.SO_TYPE): socket.SOCK_STREAM,
    (socket.IPPROTO_TCP, socket.TCP_NODELAY): 0,
}


_LINGER = (socket.SOL_SOCKET, socket.SO_LINGER)
_COPIED_OPTIONS = [
    (socket.SOL_SOCKET, socket.SO_KEEPALIVE),
    _LINGER,
    *(
        (socket.IPPROTO_TCP, getattr(socket, name))
        for name in (
            "TCP_NODELAY",
            "TCP_KEEPIDLE",
            "TCP_KEEPINTVL",
            "TCP_KEEPCNT",
            "TCP_USER_TIMEOUT",
            "TCP_SYNCNT",
        )
        if hasattr(socket, name)
    ),
]
_fresh_options: dict[tuple[int, int], Any] = {}

# The options SimSocket._apply_options hands to the connection.
_NODELAY = (socket.IPPROTO_TCP, socket.TCP_NODELAY)
_KEEPALIVE = (socket.SOL_SOCKET, socket.SO_KEEPALIVE)
_KEEPALIVE_PARAMS = [
    ((socket.IPPROTO_TCP, getattr(socket, name)), key)
    for name, key in (
        ("TCP_KEEPIDLE", "idle"),
        ("TCP_KEEPINTVL", "interval"),
        ("TCP_KEEPCNT", "count"),
    )
    if hasattr(socket, name)
]
_USER_TIMEOUT = (
    (socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) if hasattr(socket, "TCP_USER_TIMEOUT") else None
)
_SYNCNT = (socket.IPPROTO_TCP, socket.TCP_SYNCNT) if hasattr(socket, "TCP_SYNCNT") else None


def _fresh_socket_options() -> dict[tuple[int, int], Any]:
    """The options of a fresh kernel TCP socket (read once)."""
    if not _fresh_options:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            for key in _COPIED_OPTIONS:
                try:
                    value = probe.getsockopt(*key, 8) if key == _LINGER else probe.getsockopt(*key)
                except OSError:
                    continue
                _fresh_options[key] = value
    return _fresh_options


class SimSocket:
    """A socket-like object for one simulated TCP endpoint (connected or listening).

    It is not a ``socket.socket``: there is no ``send``/``recv`` on it (asyncio's
    ``TransportSocket`` refuses those too); use the transport, or
    ``loop.sock_recv``/``loop.sock_sendall``.
    """

    family = socket.AF_INET
    type = socket.SOCK_STREAM
    proto = socket.IPPROTO_TCP

    def __init__(
        self,
        network: Network,
        host: Host,
        *,
        conn: Connection | None = None,
        listener: Listener | None = None,
        sockname: tuple[str, int] | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.network = network
        self.loop = loop
        self.host = host
        self.conn: Connection | None = None
        self.listener = listener
        self._sockname = sockname
        self._closed = False
        self._fd: ReadinessFd | None = None
        self._handler: _Handler | None = None
        self._listen_handler: _ListenHandler | None = None
        self._options: dict[tuple[int, int], int] = {}
        self._linger = (0, 0)  # SO_LINGER (l_onoff, l_linger)
        self._keepalive: dict[str, int | None] = {"idle": None, "interval": None, "count": None}
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
        fresh = _fresh_socket_options()
        for key, default in fresh.items():
            try:
                value = real.getsockopt(*key, 8) if key == _LINGER else real.getsockopt(*key)
            except OSError:
                continue
            if value != default:
                self.setsockopt(key[0], key[1], value)

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
        if self._fd is not None:  # self.refresh(), inline: once per segment with data
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
        conn = self.conn
        if conn is None:
            return False
        return bool(
            conn.readable_bytes > 0
            or conn.eof_received
            or conn.error is not None
            or conn.state is CLOSED
        )

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

    def getsockname(self) -> tuple[str, int]:
        if self._sockname is not None:
            return self._sockname
        if self.conn is not None:
            return (self.conn.local[0], self.conn.local[1])
        if self.listener is not None:
            return self.listener.sockname
        return ("0.0.0.0", 0)

    def getpeername(self) -> tuple[str, int]:
        conn = self.conn
        if conn is None or self._closed or conn.state is SYN_SENT or conn.state is CLOSED:
            raise OSError(errno.ENOTCONN, os.strerror(errno.ENOTCONN))
        return (conn.remote[0], conn.remote[1])

    def setsockopt(self, level: int, optname: int, value: Any, optlen: int | None = None) -> None:
        if self._closed:
            raise OSError(errno.EBADF, os.strerror(errno.EBADF))
        if (level, optname) == (socket.SOL_SOCKET, socket.SO_LINGER):
            if not isinstance(value, (bytes, bytearray)) or len(value) < 8:
                raise OSError(errno.EINVAL, "SO_LINGER takes pack('ii', onoff, seconds)")
            onoff, secs = struct.unpack("ii", bytes(value[:8]))
            self._linger = (onoff, secs)
            return
        if isinstance(value, (bytes, bytearray)):
            value = int.from_bytes(bytes(value[:4]) or b"\0", "little")
        if value is None:
            value = 0
        self._options[(level, optname)] = int(value)
        self._apply_options()

    def set_nodelay(self) -> None:
        """``setsockopt(IPPROTO_TCP, TCP_NODELAY, 1)``, what every transport does
        when it is made, without the general code's tests."""
        if self._closed:
            raise OSError(errno.EBADF, os.strerror(errno.EBADF))
        self._options[_NODELAY] = 1
        self._apply_options()

    def getsockopt(self, level: int, optname: int, buflen: int | None = None) -> Any:
        if self._closed:
            raise OSError(errno.EBADF, os.strerror(errno.EBADF))
        if (level, optname) == (socket.SOL_SOCKET, socket.SO_ERROR):
            err = self.conn.take_error() if self.conn is not None else None
            value: int = err or 0
        elif (level, optname) == (socket.SOL_SOCKET, socket.SO_LINGER):
            if buflen is not None:
                return struct.pack("ii", *self._linger).ljust(buflen, b"\0")[:buflen]
            return self._linger[0]
        elif (level, optname) == (socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
            value = int(self.listener is not None)
        elif (level, optname) in self._options:
            value = self._options[(level, optname)]
        else:
            value = _INT_OPTIONS_DEFAULTS.get((level, optname), 0)
        if buflen is not None:
            return value.to_bytes(4, "little", signed=True).ljust(buflen, b"\0")[:buflen]
        return value

    def _apply_options(self) -> None:
        conn = self.conn
        opts = self._options
        if conn is None or not opts:
            return  # nothing set (the keep-alive parameters come from opts too)
        if _NODELAY in opts:
            conn.nodelay = bool(opts[_NODELAY])
        if len(opts) == 1 and _NODELAY in opts:
            return  # the common case: asyncio's transports set TCP_NODELAY only
        keepalive = self._keepalive
        for key, name in _KEEPALIVE_PARAMS:
            if key in opts:
                keepalive[name] = opts[key]
        if _KEEPALIVE in opts or any(v is not None for v in keepalive.values()):
            idle, interval = keepalive["idle"], keepalive["interval"]
            conn.set_keepalive(
                bool(opts.get(_KEEPALIVE, 0)),
                idle=float(idle) if idle is not None else None,
                interval=float(interval) if interval is not None else None,
                count=keepalive["count"],
                now=network_time(self.network, self.loop),
            )
        if _USER_TIMEOUT is not None and _USER_TIMEOUT in opts:
            ms = opts[_USER_TIMEOUT]
            conn.user_timeout = ms / 1000 if ms > 0 else None
        if _SYNCNT is not None and _SYNCNT in opts:
            conn.syn_retries = opts[_SYNCNT]

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
            raise OSError(errno.ENOTCONN, os.strerror(errno.ENOTCONN))
        if how in (socket.SHUT_WR, socket.SHUT_RDWR):
            self.conn.shutdown(network_time(self.network, self.loop))

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
            if conn.state is not CLOSED:
                now = network_time(self.network, self.loop)
                if self._linger[0] and self._linger[1] == 0:
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
            _registry.pop(real, None)
            real.close()

    def detach(self) -> int:
        raise OSError(errno.EOPNOTSUPP, "a simulated socket has no kernel descriptor to detach")

    def dup(self) -> SimSocket:
        raise OSError(errno.EOPNOTSUPP, "a simulated socket cannot be duplicated")

    def __repr__(self) -> str:
        parts = [f"<aiotcpsim.SimSocket host={self.host.name}"]
        if self._closed:
            parts.append("[closed]")
        parts.append(f"laddr={self.getsockname()}")
        if self.conn is not None:
            parts.append(f"raddr={self.conn.remote}")
            parts.append(f"state={self.conn.state}")
        elif self.listener is not None:
            parts.append("state=LISTEN")
        return " ".join(parts) + ">"

    def __del__(self) -> None:
        fd = getattr(self, "_fd", None)
        if fd is not None:
            fd.close()


def network_time(network: Network, loop: asyncio.AbstractEventLoop | None = None) -> float:
    """The network's present, for a call the application makes now.

    Between the network's own timers its clock lags the loop's; a segment sent
    now must leave at the loop's time, so the network is first advanced to it
    (running whatever fell due meanwhile).  In real-time mode the driver sets
    ``loop._aiotcpsim_epoch`` to the loop time at which the network's clock read 0.
    """
    if loop is not None:
        # The clocks first: on the virtual-time loop they agree but while its
        # clock jumps, so the other tests are rarely needed.
        t = loop.time() - getattr(loop, "_aiotcpsim_epoch", 0.0)
        if t > network.now and not network.in_advance and not loop.is_closed():
            network.advance(t)
    return network.now


# -- the registry of real sockets --------------------------------------------------

_registry: weakref.WeakKeyDictionary[socket.socket, tuple[int, SimSocket]] = (
    weakref.WeakKeyDictionary()
)


def register_real_socket(real: socket.socket, sim: SimSocket) -> None:
    """Remember that the kernel socket ``real`` stands for ``sim``."""
    _registry[real] = (real.fileno(), sim)


def lookup_real_socket(real: object) -> SimSocket | None:
    """The SimSocket registered for ``real`` (a ``socket.socket`` or a SimSocket).

    A registration is dropped when the real socket was closed or its descriptor
    number changed since.
    """
    if isinstance(real, SimSocket):
        return real
    if not isinstance(real, socket.socket):
        return None
    entry = _registry.get(real)
    if entry is None:
        return None
    fd, sim = entry
    if real.fileno() != fd:
        del _registry[real]
        return None
    return sim
