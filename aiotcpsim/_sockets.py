"""What the adapters' socket objects share: options, errno errors, addresses.

Rule owned here: a simulated socket answers ``setsockopt``/``getsockopt``, and
raises errno errors, the same way under asyncio and under trio.  The asyncio
``SimSocket`` and the trio ``SimSocket`` keep their options in a
:class:`SocketOptions` and hand them to their connection with
:meth:`SocketOptions.apply`; an errno becomes an exception through
:func:`os_error` only; an address literal is recognised by :mod:`aiotcpsim.addresses` only.
No asyncio and no trio here.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import struct
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .addresses import WILDCARD4, WILDCARD6, is_ipv6, is_loopback, parse_ip, unmapped
from .config import CONGESTION_CONTROLS

if TYPE_CHECKING:
    from . import Connection, Host, Network

__all__ = [
    "KEEPALIVE",
    "LINGER",
    "NODELAY",
    "REUSEADDR",
    "V6ONLY",
    "SocketOptions",
    "bind_target",
    "check_local_address",
    "fresh_kernel_options",
    "os_error",
]


def os_error(code: int, text: str | None = None) -> OSError:
    """``OSError(code, strerror)``: Python picks the subclass by errno
    (``ConnectionRefusedError``, ``ConnectionResetError``, ``TimeoutError``...)."""
    return OSError(code, text or os.strerror(code))


# -- addresses ---------------------------------------------------------------------------


def check_local_address(host: Host, ip: str) -> None:
    """A bind address must belong to the host: one of its addresses, loopback
    (127.0.0.0/8, ``::1``), or a wildcard (IPv4-mapped forms too).

    Raises:
        OSError: ``EADDRNOTAVAIL``, as ``bind(2)`` for a foreign address.
    """
    ip = unmapped(ip)
    if ip in (WILDCARD4, WILDCARD6, "", host.ip, host.ipv6) or is_loopback(ip):
        return
    raise os_error(errno.EADDRNOTAVAIL)


def bind_target(
    network: Network, address: Any, call: str = "bind", family: int = socket.AF_INET
) -> tuple[str, int]:
    """The ``(ip, port)`` an AF_INET or AF_INET6 ``address`` names on
    ``network``, checked as the socket module does: the tuple's shape, the
    name resolved in ``family`` (``""`` is the wildcard ``0.0.0.0`` or ``::``),
    then the port range.  An AF_INET6 socket's IPv4-mapped address stays
    mapped (the host unmaps it).

    Raises:
        TypeError: not a ``(host, port)`` pair (AF_INET6: ``(host, port[,
            flowinfo[, scope_id]])``), a host that is not a string, a port
            that is not an int.
        socket.gaierror: a name no host of ``network`` has in ``family``
            (``EAI_NONAME``), a literal of the other family (``EAI_ADDRFAMILY``).
        OverflowError: a port outside 0..65535.
    """
    v6 = family == socket.AF_INET6
    name = "AF_INET6" if v6 else "AF_INET"
    if not isinstance(address, tuple):
        raise TypeError(f"{name} address must be tuple, not {type(address).__name__}")
    if v6 and not 2 <= len(address) <= 4:
        raise TypeError("AF_INET6 address must be a tuple (host, port[, flowinfo[, scopeid]])")
    if not v6 and len(address) != 2:
        raise TypeError("AF_INET address must be a pair (host, port)")
    host, port = address[0], address[1]
    if isinstance(host, (bytes, bytearray)):
        host = bytes(host).decode("ascii")
    if not isinstance(host, str):
        raise TypeError(f"str, bytes or bytearray expected, not {type(host).__name__}")
    if not isinstance(port, int):
        raise TypeError(f"'{type(port).__name__}' object cannot be interpreted as an integer")
    ip = (WILDCARD6 if v6 else WILDCARD4) if host == "" else _bind_address(network, host, v6)
    if not 0 <= port <= 65535:
        raise OverflowError(f"{call}(): port must be 0-65535.")
    return ip, port


def _bind_address(network: Network, host: str, v6: bool) -> str:
    literal = parse_ip(host)
    if literal is not None:
        if is_ipv6(literal) != v6:
            raise socket.gaierror(
                socket.EAI_ADDRFAMILY, "Address family for hostname not supported"
            )
        return literal
    found = [ip for ip in network.resolve_all(host) if is_ipv6(ip) == v6]
    if not found:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    return found[0]


# -- options -------------------------------------------------------------------------------

LINGER = (socket.SOL_SOCKET, socket.SO_LINGER)
NODELAY = (socket.IPPROTO_TCP, socket.TCP_NODELAY)
KEEPALIVE = (socket.SOL_SOCKET, socket.SO_KEEPALIVE)
REUSEADDR = (socket.SOL_SOCKET, socket.SO_REUSEADDR)
V6ONLY = (socket.IPPROTO_IPV6, socket.IPV6_V6ONLY)
_ERROR = (socket.SOL_SOCKET, socket.SO_ERROR)
_ACCEPTCONN = (socket.SOL_SOCKET, socket.SO_ACCEPTCONN)


def _tcp_option(name: str) -> tuple[int, int] | None:
    value = getattr(socket, name, None)
    return None if value is None else (socket.IPPROTO_TCP, value)


# What getsockopt() answers for an option nobody set (anything else: 0).
_DEFAULTS: dict[tuple[int, int], int] = {
    (socket.SOL_SOCKET, socket.SO_TYPE): socket.SOCK_STREAM,
    (socket.SOL_SOCKET, socket.SO_DOMAIN): socket.AF_INET,
    (socket.SOL_SOCKET, socket.SO_PROTOCOL): socket.IPPROTO_TCP,
}
# The keep-alive parameters, by the name Connection.set_keepalive gives them.
_KEEPALIVE_PARAMS = [
    (key, name)
    for key, name in (
        (_tcp_option("TCP_KEEPIDLE"), "idle"),
        (_tcp_option("TCP_KEEPINTVL"), "interval"),
        (_tcp_option("TCP_KEEPCNT"), "count"),
    )
    if key is not None
]
_USER_TIMEOUT = _tcp_option("TCP_USER_TIMEOUT")
_SYNCNT = _tcp_option("TCP_SYNCNT")
CONGESTION = (socket.IPPROTO_TCP, getattr(socket, "TCP_CONGESTION", 13))
_CA_NAME_MAX = 16  # Linux TCP_CA_NAME_MAX
_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1
# The values Linux's do_tcp_setsockopt accepts (others: EINVAL): MAX_TCP_KEEPIDLE,
# MAX_TCP_KEEPINTVL = 32767 s, MAX_TCP_KEEPCNT = MAX_TCP_SYNCNT = 127.
_RANGES: dict[tuple[int, int], tuple[int, int]] = {
    key: bounds
    for key, bounds in (
        (_tcp_option("TCP_KEEPIDLE"), (1, 32767)),
        (_tcp_option("TCP_KEEPINTVL"), (1, 32767)),
        (_tcp_option("TCP_KEEPCNT"), (1, 127)),
        (_SYNCNT, (1, 127)),
        (_USER_TIMEOUT, (0, _INT_MAX)),
    )
    if key is not None
}
# The options a library may set on its own kernel socket before handing it
# to the loop, which the simulated socket then takes over.
_COPIED = [
    KEEPALIVE,
    LINGER,
    REUSEADDR,  # anyio's and hypercorn's listeners set it before bind()
    *(
        key
        for key in (
            NODELAY,
            _tcp_option("TCP_KEEPIDLE"),
            _tcp_option("TCP_KEEPINTVL"),
            _tcp_option("TCP_KEEPCNT"),
            _USER_TIMEOUT,
            _SYNCNT,
        )
        if key is not None
    ),
]
_fresh: dict[tuple[int, int], Any] = {}


def _read_option(sock: socket.socket, key: tuple[int, int]) -> Any:
    return sock.getsockopt(*key, 8) if key == LINGER else sock.getsockopt(*key)


def fresh_kernel_options() -> dict[tuple[int, int], Any]:
    """The copied options of a fresh kernel TCP socket (read once)."""
    if not _fresh:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            for key in _COPIED:
                try:
                    _fresh[key] = _read_option(probe, key)
                except OSError:
                    continue
    return _fresh


def _buffer(value: object) -> bytes:
    """``value``'s bytes, or the TypeError ``socket.setsockopt`` raises for
    something that is not a buffer (a ``str`` included)."""
    try:
        return bytes(memoryview(value))  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"a bytes-like object is required, not {type(value).__name__!r}") from None


def _congestion_name(value: Any) -> str:
    """The algorithm a ``TCP_CONGESTION`` value names, as Linux reads it
    (the bytes up to the first NUL, at most ``TCP_CA_NAME_MAX``).

    Raises:
        OSError: ``ENOENT`` for a name no algorithm has (Linux's
            ``tcp_set_congestion_control``); ``"newreno"`` is accepted too.
        TypeError: a value that is not a buffer.
    """
    if isinstance(value, int):
        raw = value.to_bytes(4, sys.byteorder, signed=True)
    else:
        raw = _buffer(value)
    name = raw[:_CA_NAME_MAX].split(b"\0", 1)[0].decode("latin-1")
    if name not in CONGESTION_CONTROLS:
        raise os_error(errno.ENOENT, "No such file or directory")
    return name


class SocketOptions:
    """What ``setsockopt`` left on one simulated socket.

    Integer options are kept by ``(level, optname)``; ``SO_LINGER`` as its
    ``(l_onoff, l_linger)`` pair.  :meth:`apply` hands those the TCB knows
    (``TCP_NODELAY``, keep-alive, ``TCP_USER_TIMEOUT``, ``TCP_SYNCNT``) to a
    connection.
    """

    __slots__ = ("congestion", "linger", "values")

    def __init__(self) -> None:
        self.values: dict[tuple[int, int], int] = {}
        self.linger = (0, 0)
        self.congestion: str | None = None
        """The ``TCP_CONGESTION`` name set, if any."""

    @property
    def abortive_close(self) -> bool:
        """``SO_LINGER`` {1, 0}: ``close()`` resets instead of sending a FIN."""
        return self.linger[0] != 0 and self.linger[1] == 0

    @property
    def reuse_address(self) -> bool:
        return bool(self.values.get(REUSEADDR, 0))

    @property
    def v6only(self) -> bool:
        """``IPV6_V6ONLY`` (Linux's default 0: ``net.ipv6.bindv6only``)."""
        return bool(self.values.get(V6ONLY, 0))

    def set(self, level: int, optname: int, value: Any, optlen: int | None = None) -> None:
        """``setsockopt``: an int, a buffer (its first 4 bytes, native order), or
        None with ``optlen`` (the kernel then reads from a null pointer: EFAULT);
        ``SO_LINGER`` takes ``struct.pack('ii', onoff, seconds)``.  The value is
        checked before anything is stored, as by the kernel: a refused value
        leaves the options as they were.

        Raises:
            TypeError: a value that is neither an int (C int range) nor a buffer.
            OSError: ``EINVAL`` for a buffer shorter than an int, an ``SO_LINGER``
                value that is not 8 bytes, or a TCP option out of Linux's range;
                ``EFAULT`` for None.
        """
        key = (level, optname)
        if value is None and optlen is not None:
            raise os_error(errno.EFAULT, "Bad address")
        if key == CONGESTION:
            self.congestion = _congestion_name(value)
            return
        if isinstance(value, int) and _INT_MIN <= value <= _INT_MAX:
            raw = b""
            number = int(value)
        else:
            raw = _buffer(value)
            if len(raw) < 4:
                raise os_error(errno.EINVAL, "Invalid argument")
            number = int.from_bytes(raw[:4], sys.byteorder, signed=True)
        if key == LINGER:
            if len(raw) < 8:
                raise os_error(errno.EINVAL, "SO_LINGER takes struct.pack('ii', onoff, seconds)")
            onoff, seconds = struct.unpack("ii", raw[:8])
            self.linger = (onoff, seconds)
            return
        low, high = _RANGES.get(key, (_INT_MIN, _INT_MAX))
        if not low <= number <= high:
            raise os_error(errno.EINVAL, "Invalid argument")
        self.values[key] = number

    def get(
        self,
        level: int,
        optname: int,
        buflen: int | None,
        *,
        conn: Connection | None,
        listening: bool,
    ) -> int | bytes:
        """``getsockopt``: ``SO_ERROR`` takes the connection's pending error,
        ``SO_ACCEPTCONN`` says ``listening``; with ``buflen``, the bytes."""
        key = (level, optname)
        if key == _ERROR:
            err = conn.take_error() if conn is not None else None
            value = err or 0
        elif key == LINGER:
            if buflen is not None:
                return struct.pack("ii", *self.linger).ljust(buflen, b"\0")[:buflen]
            return self.linger[0]
        elif key == _ACCEPTCONN:
            value = int(listening)
        elif key == CONGESTION:
            name = conn.congestion_control if conn is not None else self.congestion or "cubic"
            raw = name.encode().ljust(_CA_NAME_MAX, b"\0")
            if buflen is not None:
                return raw[: min(buflen, _CA_NAME_MAX)]
            return int.from_bytes(raw[:4], sys.byteorder, signed=True)
        elif key in self.values:
            value = self.values[key]
        else:
            value = _DEFAULTS.get(key, 0)
        if buflen is not None:
            return value.to_bytes(4, sys.byteorder, signed=True).ljust(buflen, b"\0")[:buflen]
        return value

    def copy_from(self, real: socket.socket) -> None:
        """Take over the options a library set on its own kernel socket: those
        that differ from a fresh kernel socket's (and an AF_INET6 socket's
        IPV6_V6ONLY)."""
        if real.family == socket.AF_INET6:
            self.values[(socket.SOL_SOCKET, socket.SO_DOMAIN)] = socket.AF_INET6
            with contextlib.suppress(OSError):
                if real.getsockopt(*V6ONLY):
                    self.values[V6ONLY] = 1
        for key, default in fresh_kernel_options().items():
            try:
                value = _read_option(real, key)
            except OSError:
                continue
            if value != default:
                self.set(key[0], key[1], value)

    def apply(self, conn: Connection, now: Callable[[], float]) -> None:
        """Hand the options the TCB knows to ``conn``; ``now()`` is asked only
        when keep-alive is set (its first probe counts from then)."""
        if self.congestion is not None:
            conn.set_congestion_control(self.congestion, now())
        opts = self.values
        if not opts:
            return  # nothing set: a socket attached to its connection
        if NODELAY in opts:
            conn.nodelay = bool(opts[NODELAY])
            if len(opts) == 1:
                return  # asyncio's transports set TCP_NODELAY and nothing else
        params = {name: opts[key] for key, name in _KEEPALIVE_PARAMS if key in opts}
        if KEEPALIVE in opts or params:
            idle, interval = params.get("idle"), params.get("interval")
            conn.set_keepalive(
                bool(opts.get(KEEPALIVE, 0)),
                idle=float(idle) if idle is not None else None,
                interval=float(interval) if interval is not None else None,
                count=params.get("count"),
                now=now(),
            )
        if _USER_TIMEOUT is not None and _USER_TIMEOUT in opts:
            ms = opts[_USER_TIMEOUT]
            conn.user_timeout = ms / 1000 if ms > 0 else None
        if _SYNCNT is not None and _SYNCNT in opts:
            conn.syn_retries = opts[_SYNCNT]
