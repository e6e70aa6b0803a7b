"""A trio socket object for one simulated TCP endpoint.

Rule owned here: what each trio socket call does to the simulated
connection -- as a request the driver carries out at trio's next idle point,
never directly -- and which errno it raises.

:class:`SimSocket` subclasses :class:`trio.socket.SocketType`, the documented
base for custom socket objects, so trio's own ``SocketStream``,
``SocketListener``, ``open_tcp_stream`` and ``open_tcp_listeners`` accept it.
Every call that changes the network is a request carried out by the
:class:`~aiotcpsim.trio_net._driver.TrioDriver` at trio's next idle point
(see there why); the blocking calls park until it completes.

Errors are the kernel's: ``OSError`` with its errno (``ConnectionRefusedError``,
``TimeoutError``, ``ConnectionResetError``, ``BrokenPipeError``, ``EADDRINUSE``,
``EADDRNOTAVAIL``, ``ENOTCONN``; ``EBADF`` once closed), which ``SocketStream``
translates into ``BrokenResourceError`` / ``ClosedResourceError`` as it does
for kernel sockets.  A task blocked on a socket that another task closes gets
``trio.ClosedResourceError``, as from ``trio.lowlevel.notify_closing``.

An AF_INET6 socket names addresses as the kernel does: 4-tuples ``(ip, port,
flowinfo, scope_id)``, IPv4 peers of a dual-stack (``::``, IPV6_V6ONLY off)
socket IPv4-mapped; it connects to an IPv4 address (literal or mapped) as
trio's AI_V4MAPPED lookup lets it.

``fileno()`` hands out a real descriptor (an eventfd) that ``poll()`` reports
readable exactly when the simulated socket is, and ``-1`` once closed: clients
that poll a pooled connection's descriptor to see whether the peer closed it
stay correct.  The descriptor carries no data.
"""

from __future__ import annotations

import builtins
import errno
import operator
import os
import socket as _stdlib_socket
import zlib
from types import TracebackType
from typing import TYPE_CHECKING, Any, overload

import trio

from .. import State
from .._readiness import ReadinessFd, poll_readable, writable
from .._sockets import SocketOptions, bind_target, check_local_address, os_error
from ..addresses import (
    LOOPBACK4,
    LOOPBACK6,
    WILDCARD4,
    WILDCARD6,
    is_ipv6,
    is_wildcard,
    mapped,
    parse_ip,
)
from ._driver import BLOCK, RANK_RECV, RANK_SEND, SocketRequests

if TYPE_CHECKING:
    from typing import Self

    from typing_extensions import Buffer

    from ..stack.host import Host, Listener
    from ..tcp import Connection
    from ._driver import TrioDriver

__all__ = ["SimSocket"]

_NOT_CONNECTED = frozenset({State.CLOSED, State.LISTEN, State.SYN_SENT})
_CLOSED_MESSAGE = "another task closed this socket"


class SimSocket(trio.socket.SocketType):
    """A TCP socket of the simulated network, as a trio socket object.

    Made by :func:`trio.socket.socket` inside :func:`~aiotcpsim.trio_net.open_network`,
    on the network's current host (``with host.current():``), and by ``accept()``.
    """

    def __init__(
        self,
        driver: TrioDriver,
        host: Host,
        *,
        proto: int = 0,
        key: tuple[int, ...] | None = None,
        conn: Connection | None = None,
        family: _stdlib_socket.AddressFamily = _stdlib_socket.AF_INET,
    ) -> None:
        super().__init__()
        self._family = family
        self._driver = driver
        self._host = host
        self._proto = proto
        # This socket's requests to the driver, ordered by its canonical key.
        self._requests = SocketRequests(
            key if key is not None else driver.socket_key(), owner=self, after=self._refresh
        )
        self._conn: Connection | None = None
        self._listener: Listener | None = None
        self._listening = False
        self._bound: tuple[str, int] | None = None
        self._closed = False
        self._shut_wr = False
        self._accepted = 0
        self._options = SocketOptions()
        if family == _stdlib_socket.AF_INET6:
            self._options.values[(_stdlib_socket.SOL_SOCKET, _stdlib_socket.SO_DOMAIN)] = family
        self._fd: ReadinessFd | None = None
        self._real: _stdlib_socket.socket | None = None
        if conn is not None:
            self._conn = conn
            conn.user = self
        driver.track_socket(host, self)

    # -- connection callbacks (ConnectionUser / ListenerUser) -----------------------

    def _wake(self) -> None:
        if self._requests.parked:
            self._driver.retry(self._requests)
        if self._fd is not None:
            self._refresh()

    def tcp_connected(self, conn: Connection) -> None:
        self._wake()

    def tcp_readable(self, conn: Connection) -> None:
        self._wake()

    def tcp_writable(self, conn: Connection) -> None:
        self._wake()

    def tcp_closed(self, conn: Connection) -> None:
        self._wake()

    def tcp_acceptable(self, listener: Listener) -> None:
        self._wake()

    # -- readiness -----------------------------------------------------------------------

    def is_readable(self) -> bool:
        """What ``poll()`` says of a kernel socket: POLLIN, POLLHUP or POLLERR."""
        if self._closed:
            return False
        if self._listener is not None:
            return self._listening and self._listener.pending() > 0
        return self._conn is not None and poll_readable(self._conn)

    def _refresh(self) -> None:
        if self._fd is not None:
            self._fd.update(self.is_readable())

    def fileno(self) -> int:
        """A real descriptor, readable exactly when this socket is; -1 once closed."""
        if self._closed:
            return -1
        if self._fd is None:
            self._fd = ReadinessFd()
            self._refresh()
        return self._fd.fd

    # -- identity ------------------------------------------------------------------------

    @property
    def family(self) -> _stdlib_socket.AddressFamily:
        return self._family

    @property
    def type(self) -> _stdlib_socket.SocketKind:
        return _stdlib_socket.SOCK_STREAM

    @property
    def proto(self) -> int:
        return self._proto

    @property
    def did_shutdown_SHUT_WR(self) -> bool:
        return self._shut_wr

    @property
    def key(self) -> tuple[int, ...]:
        """The socket's canonical key (see ``TrioDriver.socket_key``)."""
        return self._requests.key

    @property
    def connection(self) -> Connection | None:
        """The simulated TCB, once connected or accepted."""
        return self._conn

    def getsockname(self) -> Any:
        self._check_open()
        if self._conn is not None:
            return self._named(self._conn.local)
        if self._bound is not None:
            return self._named(self._bound)
        return self._named((WILDCARD4, 0))

    def getpeername(self) -> Any:
        self._check_open()
        conn = self._conn
        if conn is None or conn.state in _NOT_CONNECTED:
            raise os_error(errno.ENOTCONN)
        return self._named(conn.remote)

    def _named(self, pair: tuple[str, int]) -> Any:
        """``(ip, port)`` as this socket's family spells it (AF_INET6: a
        4-tuple, IPv4 mapped, the IPv4 wildcard as ``::``)."""
        if self._family != _stdlib_socket.AF_INET6:
            return (pair[0], pair[1])
        ip = WILDCARD6 if pair[0] == WILDCARD4 else mapped(pair[0])
        return (ip, pair[1], 0, 0)

    def __repr__(self) -> str:
        parts = [f"<aiotcpsim.trio_net.SimSocket host={self._host.name}"]
        if self._closed:
            parts.append("[closed]")
        else:
            parts.append(f"laddr={self.getsockname()}")
        if self._conn is not None:
            parts.append(f"raddr={self._conn.remote}")
            parts.append(f"state={self._conn.state}")
        elif self._listening:
            parts.append("state=LISTEN")
        return " ".join(parts) + ">"

    # -- options ---------------------------------------------------------------------------

    @overload
    def getsockopt(self, level: int, optname: int) -> int: ...

    @overload
    def getsockopt(self, level: int, optname: int, buflen: int) -> bytes: ...

    def getsockopt(self, level: int, optname: int, buflen: int | None = None) -> int | bytes:
        self._check_open()
        return self._options.get(level, optname, buflen, conn=self._conn, listening=self._listening)

    @overload
    def setsockopt(self, level: int, optname: int, value: int | Buffer) -> None: ...

    @overload
    def setsockopt(self, level: int, optname: int, value: None, optlen: int) -> None: ...

    def setsockopt(
        self, level: int, optname: int, value: int | Buffer | None, optlen: int | None = None
    ) -> None:
        self._check_open()
        # trio's own checks of the two forms (trio/_socket.py), then the kernel's.
        if optlen is None and value is None:
            raise TypeError(
                "invalid value for argument 'value', must not be None when specifying optlen"
            )
        if optlen is not None and value is not None:
            raise TypeError(
                f"invalid value for argument 'value': {value!r}, "
                "must be None when specifying optlen"
            )
        self._options.set(level, optname, value, optlen)
        if self._conn is not None:
            self._driver.post(self._requests, self._apply_options)

    def _apply_options(self) -> None:
        if self._conn is not None and not self._closed:
            self._options.apply(self._conn, self._driver.now)

    def get_inheritable(self) -> bool:
        return False

    def set_inheritable(self, inheritable: bool) -> None:
        if inheritable:
            raise os_error(errno.EOPNOTSUPP, "a simulated socket cannot be inherited")

    def detach(self) -> int:
        raise os_error(errno.EOPNOTSUPP, "a simulated socket has no kernel descriptor to detach")

    def dup(self) -> SimSocket:
        raise os_error(errno.EOPNOTSUPP, "a simulated socket cannot be duplicated")

    # -- addresses ---------------------------------------------------------------------------

    def _address(self, address: Any) -> tuple[str, int]:
        v6 = self._family == _stdlib_socket.AF_INET6
        if not isinstance(address, tuple) or not (
            2 <= len(address) <= 4 if v6 else len(address) == 2
        ):
            shape = "(host, port[, flowinfo[, scope_id]])" if v6 else "(host, port)"
            raise ValueError(f"address should be a {shape} tuple, got {address!r}")
        host, port = address[0], address[1]
        if isinstance(host, bytes):
            host = host.decode("ascii")
        if not isinstance(host, str):
            raise TypeError(f"host must be str, got {host!r}")
        if not isinstance(port, int) or isinstance(port, bool):
            raise TypeError(f"port must be an int, got {port!r}")
        # As trio on a kernel socket: the name is resolved first (gaierror),
        # then the socket call checks the port.
        ip = self._resolve(host, v6)
        if not 0 <= port <= 65535:
            raise OverflowError("connect(): port must be 0-65535.")
        return (ip, port)

    def _resolve(self, host: str, v6: bool) -> str:
        """The address ``host`` names for this socket's family, as trio's lookup
        answers (AF_INET6: AI_V4MAPPED, so an IPv4 address does too, unless
        IPV6_V6ONLY)."""
        if host == "":
            return WILDCARD6 if v6 else WILDCARD4
        literal = parse_ip(host)
        v4_ok = not v6 or not self._options.v6only
        if literal is not None:
            if is_ipv6(literal) != v6 and not (v6 and v4_ok):
                raise _stdlib_socket.gaierror(
                    _stdlib_socket.EAI_ADDRFAMILY, "Address family for hostname not supported"
                )
            return literal
        found = self._driver.network.resolve_all(host)
        same = [ip for ip in found if is_ipv6(ip) == v6]
        if same:
            return same[0]
        if v6 and v4_ok:
            return found[0]
        raise _stdlib_socket.gaierror(_stdlib_socket.EAI_NONAME, "Name or service not known")

    # -- opening ---------------------------------------------------------------------------------

    async def bind(self, address: Any) -> None:
        await self._check_open_checkpoint()
        ip, port = self._address(address)
        await self._driver.call(self._requests, RANK_SEND, lambda: self._bind(ip, port))

    def bind_address(self, address: Any) -> None:
        """``bind(address)`` of a ``socket.socket`` standing for this one
        (``aiotcpsim._library_sockets``): bound at once, as that call is
        synchronous.  Errors as the socket module's."""
        self._check_open()
        ip, port = bind_target(self._driver.network, address, family=self._family)
        self._bind(ip, port, now=True)

    def _bind(self, ip: str, port: int, *, now: bool = False) -> None:
        self._check_open()
        if self._bound is not None or self._conn is not None:
            raise os_error(errno.EINVAL)
        host = self._host
        check_local_address(host, ip)
        if port == 0 and now:
            port = self._keyed_ephemeral_port(ip)
        listener = host.bind(
            port,
            reuse_address=self._options.reuse_address,
            ip=None if ip == WILDCARD4 else ip,
            v6only=self._options.v6only,
        )
        listener.user = self
        self._listener = listener
        self._bound = (ip, listener.port)

    @property
    def _sock(self) -> Any:
        """What trio's own socket object calls ``_sock`` (the socket it wraps),
        read by anyio for a stream's extra attributes: the ``socket.socket`` this
        one stands for (see ``own_real_socket``), else this socket itself, whose
        ``getsockname``/``getpeername``/``fileno`` are synchronous too."""
        return self._real if self._real is not None else self

    def copy_options_from(self, real: _stdlib_socket.socket) -> None:
        """Take over the options a library set on its own kernel socket."""
        self._options.copy_from(real)

    def _keyed_ephemeral_port(self, ip: str) -> int:
        """The ephemeral port of a bind made at once, outside the driver's
        canonical order (a synchronous ``bind``/``listen`` in a task): drawn
        from this socket's canonical key, not from the network's RNG, whose
        draws follow the order trio happens to run tasks in."""
        low, high = self._host.config.ephemeral_ports
        span = high - low + 1
        start = zlib.crc32(repr(self.key).encode())
        reuse = self._options.reuse_address
        for i in range(span):
            port = low + (start + i) % span
            try:
                self._host.check_bind(port, reuse, ip, self._options.v6only and is_ipv6(ip))
            except OSError:
                continue
            return port
        raise os_error(errno.EADDRINUSE, "Address already in use")

    def own_real_socket(self, real: _stdlib_socket.socket) -> None:
        """Close the ``socket.socket`` ``real`` along with this one, as trio's own
        socket object closes the socket it wraps (``from_stdlib_socket``)."""
        self._real = real

    def listen(self, backlog: int = min(_stdlib_socket.SOMAXCONN, 128)) -> None:
        self._check_open()
        if self._conn is not None:
            raise os_error(errno.EINVAL)
        if self._bound is None:
            # listen() on an unbound socket binds an ephemeral port (as the kernel).
            self._bind(
                WILDCARD6 if self._family == _stdlib_socket.AF_INET6 else WILDCARD4, 0, now=True
            )
        bound = self._listener
        assert bound is not None
        # At once, as listen(2): the port is a listening one from here on (a bind
        # with SO_REUSEADDR conflicts, EADDRINUSE comes from this call).  No
        # segment moves: SYNs arrive at the driver's idle point, in its order.
        bound.listen(max(0, backlog))
        self._listening = True

    async def accept(self) -> tuple[SimSocket, Any]:
        await self._check_open_checkpoint()

        def accept() -> Any:
            self._check_open()
            listener = self._listener
            if listener is None or not self._listening:
                raise os_error(errno.EINVAL)
            conn = listener.accept()
            if conn is None:
                return BLOCK
            self._accepted += 1
            sock = SimSocket(
                self._driver,
                self._host,
                proto=self._proto,
                key=(*self.key, 1, self._accepted),
                conn=conn,
                family=self._family,
            )
            return (sock, self._named(conn.remote))

        result: tuple[SimSocket, Any] = await self._driver.call(self._requests, RANK_RECV, accept)
        return result

    async def connect(self, address: Any) -> None:
        await self._check_open_checkpoint()
        ip, port = self._address(address)
        if is_wildcard(ip):
            # Linux: connecting to INADDR_ANY (in6addr_any) reaches the host itself
            ip = LOOPBACK6 if is_ipv6(ip) else LOOPBACK4

        def connect() -> Any:
            self._check_open()
            conn = self._conn
            if conn is None:
                if self._listening:
                    raise os_error(errno.EINVAL)
                local_port = 0
                local_ip: str | None = None
                reuse = self._options.reuse_address
                if self._listener is not None:
                    # A socket bound before connect(): its port becomes the local port.
                    local_port = self._listener.port
                    local_ip = self._listener.bound_ip
                    self._listener.user = None
                    self._listener.close()
                    self._listener = None
                conn = self._host.connect(
                    ip, port, local_port=local_port, reuse_address=reuse, local_ip=local_ip
                )
                conn.user = self
                self._conn = conn
                self._apply_options()
                return BLOCK
            if conn.state not in _NOT_CONNECTED:
                return None
            if conn.state is State.CLOSED:
                err = conn.take_error() or conn.error or errno.ECONNREFUSED
                raise os_error(err, f"Error connecting to {(ip, port)!r}: {os.strerror(err)}")
            return BLOCK

        await self._driver.call(self._requests, RANK_SEND, connect, self._abandon_connect)

    def _abandon_connect(self) -> None:
        # trio closes a kernel socket whose connect() was cancelled: the attempt
        # cannot be taken back otherwise.
        self.close()

    # -- data ------------------------------------------------------------------------------------

    async def send(self, data: Buffer, flags: int = 0, /) -> int:
        await self._check_open_checkpoint()
        if flags:
            raise os_error(errno.EOPNOTSUPP, "send() flags are not simulated")

        def send() -> Any:
            self._check_open()
            conn = self._conn
            if conn is None:
                raise os_error(errno.EPIPE)
            n = conn.send(memoryview(data), self._driver.now())
            if n == 0 and len(memoryview(data)):
                return BLOCK
            return n

        result: int = await self._driver.call(self._requests, RANK_SEND, send)
        return result

    async def recv(self, buflen: int, flags: int = 0, /) -> bytes:
        await self._check_open_checkpoint()
        if flags:
            raise os_error(errno.EOPNOTSUPP, "recv() flags are not simulated")
        buflen = operator.index(buflen)  # TypeError for 1.5, as socket.recv
        if buflen < 0:
            raise ValueError("negative buffersize in recv")

        def recv() -> Any:
            self._check_open()
            conn = self._conn
            if conn is None:
                raise os_error(errno.ENOTCONN)
            if buflen == 0:
                return b""
            data = conn.recv(buflen, self._driver.now())
            return BLOCK if data is None else data

        result: bytes = await self._driver.call(self._requests, RANK_RECV, recv)
        return result

    async def recv_into(self, buffer: Buffer, nbytes: int = 0, flags: int = 0) -> int:
        view = memoryview(buffer).cast("B")
        data = await self.recv(nbytes or len(view), flags)
        view[: len(data)] = data
        return len(data)

    async def wait_writable(self) -> None:
        await self._check_open_checkpoint()

        def check_writable() -> Any:
            self._check_open()
            conn = self._conn
            if conn is None or writable(conn):
                return None
            return BLOCK

        await self._driver.call(self._requests, RANK_SEND, check_writable)

    # -- closing ---------------------------------------------------------------------------------

    def shutdown(self, flag: int) -> None:
        """``SHUT_WR``/``SHUT_RDWR`` half-close: a FIN follows the queued data."""
        self._check_open()
        conn = self._conn
        if conn is None or (conn.state in _NOT_CONNECTED and not self._shut_wr):
            raise os_error(errno.ENOTCONN)
        if flag in (_stdlib_socket.SHUT_WR, _stdlib_socket.SHUT_RDWR) and not self._shut_wr:
            self._shut_wr = True
            self._driver.post(self._requests, lambda: conn.shutdown(self._driver.now()))

    def close(self) -> None:
        """Close as ``close(2)`` does: FIN after queued data, RST if unread data is
        discarded (or with ``SO_LINGER`` {1, 0}); a listener resets the connections
        waiting in its accept queue.  Tasks blocked on the socket get
        ``trio.ClosedResourceError``."""
        if self._closed:
            return
        self._closed = True
        self._driver.fail_socket(self._requests, trio.ClosedResourceError(_CLOSED_MESSAGE))
        conn, listener = self._conn, self._listener
        if conn is not None:
            conn.user = None
        if listener is not None:
            listener.user = None
        abort = self._options.abortive_close
        if listener is not None and not self._listening:
            # Bound, never listening: close(2) frees the port at once and sends
            # nothing, so nothing waits for the driver's order.
            listener.close()
            listener = None

        def close() -> None:
            now = self._driver.now()
            if conn is not None and conn.state is not State.CLOSED:
                if abort:
                    conn.abort(now)  # SO_LINGER {1, 0}: close() resets
                else:
                    conn.close(now)
            if listener is not None:
                listener.close()

        self._driver.post(self._requests, close)
        if self._fd is not None:
            self._fd.close()
            self._fd = None
        if self._real is not None:
            real, self._real = self._real, None
            real.close()

    def host_crashed(self) -> None:
        """The host crashed: closed without a segment (its TCB is already gone);
        a task blocked on the socket gets ``trio.ClosedResourceError``."""
        if not self._closed:
            crashed = trio.ClosedResourceError(f"host {self._host.name!r} crashed")
            self._driver.fail_socket(self._requests, crashed)
            self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise os_error(errno.EBADF)

    async def _check_open_checkpoint(self) -> None:
        """EBADF on a closed socket -- after a checkpoint, as trio's contract
        says every async socket method is one, whatever it raises."""
        if self._closed:
            await trio.lowlevel.checkpoint()
            raise os_error(errno.EBADF)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: builtins.type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __del__(self) -> None:
        fd = getattr(self, "_fd", None)
        if fd is not None:
            fd.close()
