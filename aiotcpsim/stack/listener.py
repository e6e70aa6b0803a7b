"""A listening socket: its SYN queue and accept queue.

Rule owned here: the order in which half-open requests and established
connections wait for ``accept()``, Linux's limits on both queues, and what a
SYN finds when they are full (:meth:`Listener.on_syn`, Linux's
``tcp_conn_request``): a request, a SYN cookie, or a drop.  The host decides
which listener a SYN reaches and when a child's state moves it between the
queues; the listener reaches its host only through :class:`ListenerHost`.

The limits, as Linux >= 6.13 (and the stable kernels since January 2025):

* the accept queue holds ``backlog + 1`` connections (``sk_acceptq_is_full``:
  ``sk_ack_backlog > sk_max_ack_backlog``); a SYN arriving while it is full
  is dropped (``ListenOverflows``), cookies or not;
* the SYN queue is full when it holds more than ``backlog`` half-open
  requests (``inet_csk_reqsk_queue_is_full``, ``backlog`` the ``listen()``
  backlog capped at ``somaxconn``; older kernels said "at least", so that
  ``listen(0)`` took no request: "tcp/dccp: allow a connection when
  sk_max_ack_backlog is zero", January 2025); then, with ``tcp_syncookies`` 1, the SYN
  is answered with a cookie, with 0 dropped.  ``tcp_syncookies`` 2 answers
  every SYN with a cookie;
* ``tcp_max_syn_backlog`` counts only without cookies (``tcp_syncookies`` 0):
  the last quarter of it is kept for peers proven alive, so a SYN is dropped
  once fewer than ``max_syn_backlog / 4`` requests are free.  A host here
  keeps no per-destination metrics (``tcp_peer_is_proven``): no peer is proven.

The first time a listener's SYN queue overflows it notes "Possible SYN
flooding on port ADDR:PORT. Sending cookies." (or "Dropping request.") in
the trace, once, as ``tcp_syn_flood_action`` logs it; the counters go to
the host's :attr:`~aiotcpsim.stack.host.Host.netstat`.
"""

from __future__ import annotations

import errno
from collections import deque
from typing import TYPE_CHECKING, Final, Protocol

from ..errors import os_error
from ..tcp import Connection, State
from ..tcp.state import CLOSED, LISTEN
from .syncookies import COOKIE_PERIOD, MAX_SYNCOOKIE_AGE

if TYPE_CHECKING:
    from ..config import TcpConfig

__all__ = ["COOKIE", "DROP", "REQUEST", "Listener", "ListenerHost", "ListenerUser"]

REQUEST: Final = 0
""":meth:`Listener.on_syn`: the SYN becomes a request in the SYN queue."""
COOKIE: Final = 1
""":meth:`Listener.on_syn`: the SYN is answered with a cookie, no state kept."""
DROP: Final = 2
""":meth:`Listener.on_syn`: the SYN is dropped without an answer."""


class ListenerHost(Protocol):
    """What a listener needs from the host it belongs to."""

    @property
    def name(self) -> str:
        """The host's name."""

    @property
    def config(self) -> TcpConfig:
        """The host's TCP settings (``somaxconn``)."""

    @property
    def now(self) -> float:
        """Virtual time, seconds."""

    @property
    def netstat(self) -> dict[str, int]:
        """The host's ``TcpExt`` counters (``ListenDrops``...)."""

    def note_listener(self, listener: Listener, text: str) -> None:
        """Add ``text`` to the trace, at the host."""

    def check_listen(self, listener: Listener) -> None:
        """Raise EADDRINUSE when ``listener`` may not listen now."""

    def forget_listener(self, listener: Listener) -> None:
        """``listener`` closed: SYNs to its address and port find it no more."""


class ListenerUser(Protocol):
    """The application side of a listening socket."""

    def tcp_acceptable(self, listener: Listener) -> None:
        """A connection reached the accept queue."""


class Listener:
    """A socket in the LISTEN state (or bound for it: :meth:`Host.bind`).

    Established connections wait in the accept queue until :meth:`accept`;
    at most ``backlog + 1`` of them (Linux's ``sk_acceptq_is_full``).
    """

    def __init__(
        self,
        host: ListenerHost,
        ip: str,
        port: int,
        backlog: int,
        reuse_address: bool,
        bound_ip: str = "",
    ) -> None:
        self.host = host
        """The host the socket belongs to."""
        self.ip = ip
        """The local address :attr:`sockname` reports."""
        self.bound_ip = bound_ip or ip
        """The address SYNs must be sent to (``0.0.0.0``: any address of the host)."""
        self.port = port
        """The local port."""
        self.backlog = backlog
        """The ``listen()`` backlog (capped at ``somaxconn``): the accept queue
        holds ``backlog + 1`` connections."""
        self.reuse_address = reuse_address
        """``SO_REUSEADDR``."""
        self.user: ListenerUser | None = None
        """Told when a connection reaches the accept queue (an adapter's server)."""
        self.closed = False
        """True once :meth:`close` ran."""
        self.listening = True
        """False while only bound: SYNs get a RST, as at a closed port."""
        self.v6only = False
        """``IPV6_V6ONLY`` of a socket bound to ``::``: True, it takes IPv6
        SYNs only; False (Linux's ``bindv6only = 0``), IPv4 ones too."""
        # A dict, not a set: close() ends the requests in arrival order (a set of
        # Connections iterates in identity-hash order, which differs between processes).
        self._syn_queue: dict[Connection, None] = {}
        self._accept_queue: deque[Connection] = deque()
        self._synflood_warned = False
        self._last_overflow: float | None = None  # Linux keeps it in rx_opt.ts_recent_stamp

    @property
    def sockname(self) -> tuple[str, int]:
        """``(ip, port)``, as ``getsockname()``."""
        return (self.ip, self.port)

    @property
    def state(self) -> State:
        """LISTEN while listening, else CLOSED (only bound, or closed)."""
        return LISTEN if self.listening and not self.closed else CLOSED

    def listen(self, backlog: int = 100) -> None:
        """Start listening (``listen(backlog)`` on a bound socket); again: a new backlog.

        Raises:
            OSError: EINVAL when the listener is closed.
            ValueError: a negative backlog.
        """
        if self.closed:
            raise os_error(errno.EINVAL, "listener is closed")
        if not isinstance(backlog, int) or backlog < 0:
            raise ValueError(f"backlog must be an int >= 0, got {backlog!r}")
        if not self.listening:
            self.host.check_listen(self)
        self.backlog = min(backlog, self.host.config.somaxconn)
        self.listening = True

    def accept(self) -> Connection | None:
        """The oldest established connection, or None when the queue is empty.

        Raises:
            OSError: EINVAL when the listener is closed.
        """
        if self.closed:
            raise os_error(errno.EINVAL, "listener is closed")
        while self._accept_queue:
            conn = self._accept_queue.popleft()
            if conn.state is not CLOSED:
                return conn
        return None

    def pending(self) -> int:
        """Connections waiting in the accept queue."""
        return len(self._accept_queue)

    def full(self) -> bool:
        """The accept queue is full (Linux ``sk_acceptq_is_full``:
        ``sk_ack_backlog > sk_max_ack_backlog``)."""
        return len(self._accept_queue) > self.backlog

    def requests(self) -> int:
        """Half-open requests (children in SYN-RECEIVED) in the SYN queue."""
        return len(self._syn_queue)

    def syn_queue_full(self) -> bool:
        """The SYN queue holds more than ``backlog`` requests (Linux >= 6.13
        ``inet_csk_reqsk_queue_is_full``)."""
        return len(self._syn_queue) > self.backlog

    def on_syn(self) -> int:
        """What a new SYN gets (Linux ``tcp_conn_request``): :data:`REQUEST`,
        :data:`COOKIE` (the caller sends the cookie SYN-ACK) or :data:`DROP`;
        counted in the host's :attr:`~aiotcpsim.stack.host.Host.netstat`."""
        host = self.host
        config = host.config
        netstat = host.netstat
        want_cookie = False
        if config.syncookies == 2 or self.syn_queue_full():
            want_cookie = self._syn_flood_action()
            if not want_cookie:
                netstat["ListenDrops"] += 1
                return DROP
        if self.full():
            host.note_listener(self, "accept queue full: SYN dropped (ListenOverflows)")
            netstat["ListenOverflows"] += 1
            netstat["ListenDrops"] += 1
            return DROP
        if want_cookie:
            self._last_overflow = host.now  # tcp_synq_overflow
            netstat["SyncookiesSent"] += 1
            return COOKIE
        backlog = config.max_syn_backlog
        if not config.syncookies and backlog - len(self._syn_queue) < backlog >> 2:
            # "Without syncookies last quarter of backlog is filled with
            # destinations, proven to be alive": none is, here.
            host.note_listener(self, "SYN queue: last quarter kept for proven peers, SYN dropped")
            netstat["ListenDrops"] += 1
            return DROP
        return REQUEST

    def _syn_flood_action(self) -> bool:
        """The SYN queue overflowed (Linux ``tcp_syn_flood_action``): True
        when a cookie answers; the warning goes to the trace once."""
        host = self.host
        syncookies = host.config.syncookies
        if syncookies:
            host.netstat["TCPReqQFullDoCookies"] += 1
        else:
            host.netstat["TCPReqQFullDrop"] += 1
        if not self._synflood_warned and syncookies != 2:
            self._synflood_warned = True
            action = "Sending cookies" if syncookies else "Dropping request"
            host.note_listener(
                self, f"Possible SYN flooding on port {self.bound_ip}:{self.port}. {action}."
            )
        return bool(syncookies)

    def recent_overflow(self, now: float) -> bool:
        """A cookie left less than ``MAX_SYNCOOKIE_AGE`` minutes ago (or up to
        a second ahead): only then is an ACK that matches no connection
        checked as a cookie (Linux ``tcp_synq_no_recent_overflow``)."""
        last = self._last_overflow
        return last is not None and last - 1.0 <= now <= last + MAX_SYNCOOKIE_AGE * COOKIE_PERIOD

    def request(self, conn: Connection) -> None:
        """``conn``, a child in SYN-RECEIVED, joins the SYN queue."""
        self._syn_queue[conn] = None

    def established(self, conn: Connection) -> None:
        """``conn`` completed its handshake: from the SYN queue to the accept
        queue, and the user is told."""
        if conn in self._syn_queue:
            del self._syn_queue[conn]
            self._accept_queue.append(conn)
            if self.user is not None:
                self.user.tcp_acceptable(self)

    def forget(self, conn: Connection) -> None:
        """``conn`` closed (or went back to LISTEN) before it was accepted."""
        self._syn_queue.pop(conn, None)

    def close(self) -> None:
        """Stop listening.  Connections not yet accepted are reset (Linux
        ``inet_csk_listen_stop``); half-open requests are forgotten."""
        if self.closed:
            return
        self.closed = True
        self.host.forget_listener(self)
        now = self.host.now
        while self._accept_queue:
            self._accept_queue.popleft().abort(now)
        for conn in list(self._syn_queue):
            conn.drop(now)
        self._syn_queue.clear()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "LISTEN"
        return (
            f"<Listener {self.host.name} {self.ip}:{self.port} {state} "
            f"backlog={self.backlog} queued={len(self._accept_queue)}>"
        )
