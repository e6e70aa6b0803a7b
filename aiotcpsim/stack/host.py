"""A host's TCP stack: demultiplexing, listeners, ports, TIME-WAIT, resets.

Rule owned here: which TCB (or listener) a segment from the wire belongs to,
and which 4-tuples and ports are free.  The host owns its connections (it is
their :class:`~aiotcpsim.tcp.ConnectionOwner`) and does what RFC 9293
gives to the layer around the TCB:

* demultiplexing by 4-tuple (section 3.10.7);
* the LISTEN state (section 3.10.7.2) and Linux's listen backlog: ``listen(n)``
  admits ``n + 1`` established connections; a SYN arriving while the accept
  queue is full is dropped without a RST (``tcp_conn_request``), so the
  client retransmits;
* the reset of segments that match no socket (section 3.10.7.1);
* ephemeral ports from ``ip_local_port_range`` and bind conflicts
  (``EADDRINUSE``); a 4-tuple in TIME-WAIT stays taken, so a client that
  churns connections to one server runs out of ports (``EADDRNOTAVAIL``);
* reopening a TIME-WAIT 4-tuple with a new SYN (RFC 1122 section 4.2.2.13).

The host never imports the network: it reaches it through
:class:`NetworkPort`.
"""

from __future__ import annotations

import contextlib
import errno
from collections import deque
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import TYPE_CHECKING, Protocol

from ..errors import os_error
from ..replies import reset_reply
from ..segment import ACK, RST, SYN, Segment, seq_add
from ..tcp import Connection, ConnectionUser, State
from ..tcp.state import CLOSED, ESTABLISHED, LISTEN, SYN_RECEIVED, TIME_WAIT
from ..trace import DELIVER, STATE, TraceRecord

if TYPE_CHECKING:
    from random import Random

    from ..config import TcpConfig
    from ..trace import Trace

__all__ = ["Host", "Listener", "ListenerUser", "NetworkPort", "current_host"]

Key = tuple[str, int, str, int]
"""(local ip, local port, remote ip, remote port): what a connection is found by."""

_current_host: ContextVar[Host | None] = ContextVar("aiotcpsim_current_host", default=None)


def current_host() -> Host | None:
    """The host set by the innermost ``with host.current():``, or None."""
    return _current_host.get()


class NetworkPort(Protocol):
    """What a host needs from its network: the one interface between stack/ and net/.

    The host stack sits below the network (imports point down), so it does not
    import :mod:`aiotcpsim.net`; the network implements this Protocol instead.
    Every member is one reason the stack talks to the network.
    """

    now: float
    """Virtual time, seconds."""
    rng: Random
    """The network's one RNG (ISNs, ephemeral ports)."""
    stats: dict[str, int]
    """Counters (``segments_delivered``, ``resets_sent``, ``connections_opened``...)."""
    trace: Trace

    def transmit(self, src: Host, segment: Segment, retransmission: bool = False) -> None:
        """Put ``segment`` sent by ``src`` on the wire (never delivers synchronously)."""

    def schedule_timer(self, conn: Connection, when: float) -> None:
        """Call ``conn.on_timer(now)`` at virtual time ``when`` (or drop the
        wake-up if the connection's timers moved meanwhile)."""

    def drop(self, host: Host, segment: Segment, why: str) -> None:
        """Count and trace a segment lost at ``host``."""

    def note(self, host: str, text: str, endpoint: tuple[str, int, str, int] | None = None) -> None:
        """Add a free-form record to the trace."""

    def resolve(self, name: str) -> str:
        """Name or dotted address to address (``socket.gaierror`` when unknown)."""

    def host_for_address(self, ip: str) -> Host | None:
        """The host that owns ``ip``, or None."""

    def outside_address(self, host: Host) -> str:
        """The address a loopback-only host uses to reach other hosts."""


class ListenerUser(Protocol):
    """The application side of a listening socket."""

    def tcp_acceptable(self, listener: Listener) -> None:
        """A connection reached the accept queue."""


class Listener:
    """A socket in the LISTEN state (or bound for it: :meth:`Host.bind`).

    Established connections wait in the accept queue until :meth:`accept`;
    at most ``backlog + 1`` of them (Linux's ``sk_acceptq_is_full``).
    """

    def __init__(self, host: Host, ip: str, port: int, backlog: int, reuse_address: bool) -> None:
        self.host = host
        self.ip = ip
        self.port = port
        self.backlog = backlog
        self.reuse_address = reuse_address
        self.user: ListenerUser | None = None
        self.closed = False
        self.listening = True
        """False while only bound: SYNs get a RST, as at a closed port."""
        self._syn_queue: set[Connection] = set()
        self._accept_queue: deque[Connection] = deque()

    @property
    def sockname(self) -> tuple[str, int]:
        return (self.ip, self.port)

    @property
    def state(self) -> State:
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

    def _full(self) -> bool:
        # sk_acceptq_is_full: sk_ack_backlog > sk_max_ack_backlog
        return len(self._accept_queue) > self.backlog

    def close(self) -> None:
        """Stop listening.  Connections not yet accepted are reset (Linux
        ``inet_csk_listen_stop``); half-open requests are forgotten."""
        if self.closed:
            return
        self.closed = True
        self.host._listeners.pop(self.port, None)
        now = self.host.network.now
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


class Host:
    """A host on a :class:`~aiotcpsim.net.Network`: one IPv4 address, a TCP stack.

    Create hosts with :meth:`Network.add_host <aiotcpsim.net.Network.add_host>`.
    """

    def __init__(self, network: NetworkPort, name: str, ip: str, config: TcpConfig) -> None:
        self.network = network
        self.name = name
        self.ip = ip
        self.config = config
        self.up = True
        self._conns: dict[Key, Connection] = {}
        self._listeners: dict[int, Listener] = {}
        self._reuse: dict[Connection, bool] = {}
        self._children: dict[Connection, Listener] = {}
        self._time_wait = 0
        self._port_cursor: int | None = None
        self._loopback: tuple[TcpConfig, TcpConfig] | None = None  # (config, its loopback variant)
        self.isn_generator: Callable[[], int] | None = None
        """Chooses the ISN of each new connection (active or passive) when set,
        instead of the network's RNG: tests pin ISNs with it
        (``host.isn_generator = lambda: 1000``)."""

    # -- the application's calls -------------------------------------------------

    @contextlib.contextmanager
    def current(self) -> Iterator[Host]:
        """Make calls in this context (``asyncio.open_connection``...) originate here."""
        token = _current_host.set(self)
        try:
            yield self
        finally:
            _current_host.reset(token)

    def connect(
        self,
        ip: str,
        port: int,
        *,
        local_port: int = 0,
        user: ConnectionUser | None = None,
        reuse_address: bool = False,
        syn_retries: int | None = None,
    ) -> Connection:
        """Active open to ``ip:port``: sends the SYN now.

        Completion is reported to ``user.tcp_connected``; failure through
        ``tcp_readable``/``tcp_writable`` with ``conn.take_error()`` giving the errno.

        Raises:
            OSError: ``EADDRNOTAVAIL`` when no ephemeral port is free for this
                destination; ``EADDRINUSE`` when ``local_port`` is taken.
                What a connection to an address no host owns sees is reported
                through the connection (as for any failed connect).
            ValueError: a port outside 0..65535 (port 0 is refused, as by Linux).
        """
        self._check_up()
        _check_port("port", port, allow_zero=True)  # port 0: refused, as by Linux
        if local_port or type(local_port) is not int:  # (the default 0 is fine)
            _check_port("local_port", local_port, allow_zero=True)
        if self.network.host_for_address(ip) is None and not _is_ipv4(
            ip
        ):  # a host's address is one
            ip = self.network.resolve(ip)
        if ip.startswith("127."):
            lip = "127.0.0.1"
        elif self.ip.startswith("127."):
            lip = self.network.outside_address(self)
        else:
            lip = self.ip
        if local_port:
            self.check_bind(local_port, reuse_address)
            key = (lip, local_port, ip, port)
            existing = self._conns.get(key)
            if existing is not None and not self._reusable_time_wait(existing):
                raise os_error(errno.EADDRNOTAVAIL, "Cannot assign requested address")
        else:
            key = self._ephemeral(lip, ip, port)
        existing = self._conns.get(key)
        if existing is not None:  # a TIME-WAIT taken over (tcp_tw_reuse)
            existing.drop(self.network.now)
        conn = Connection(self, self._config_for(ip), (lip, key[1]), (ip, port), self._isn())
        if syn_retries is not None:
            conn.syn_retries = syn_retries
        conn.user = user
        self._conns[key] = conn
        self._reuse[conn] = reuse_address
        self.network.stats["connections_opened"] += 1
        conn.connect(self.network.now)
        return conn

    def listen(
        self,
        port: int = 0,
        *,
        backlog: int = 100,
        reuse_address: bool = True,
        user: ListenerUser | None = None,
        ip: str | None = None,
    ) -> Listener:
        """Open a listening socket (asyncio's defaults: backlog 100, SO_REUSEADDR).

        Raises:
            OSError: ``EADDRINUSE`` when the port is taken (see ``CONFORMANCE`` 25).
            ValueError: a port outside 0..65535 or a negative backlog.
        """
        if not isinstance(backlog, int) or backlog < 0:
            raise ValueError(f"backlog must be an int >= 0, got {backlog!r}")
        listener = self.bind(port, reuse_address=reuse_address, ip=ip)
        listener.user = user
        listener.listen(backlog)
        return listener

    def bind(self, port: int = 0, *, reuse_address: bool = True, ip: str | None = None) -> Listener:
        """A socket bound to ``port`` for listening, not listening yet
        (``bind()`` without ``listen()``): the port is taken, SYNs to it are
        refused until :meth:`Listener.listen`.

        Raises:
            OSError: ``EADDRINUSE`` when the port is taken.
            ValueError: a port outside 0..65535.
        """
        self._check_up()
        _check_port("port", port, allow_zero=True)
        if port == 0:
            port = self._free_listen_port()
        else:
            self.check_bind(port, reuse_address)
        listener = Listener(self, ip or self.ip, port, 0, reuse_address)
        listener.listening = False
        self._listeners[port] = listener
        return listener

    def listener(self, port: int) -> Listener | None:
        return self._listeners.get(port)

    def connections(self) -> Iterator[Connection]:
        return iter(list(self._conns.values()))

    def connection_count(self) -> int:
        return len(self._conns)

    def lookup(self, key: Key) -> Connection | None:
        """The connection registered under ``key`` (local ip, local port,
        remote ip, remote port), or None."""
        return self._conns.get(key)

    def crash(self) -> None:
        """The host stops: every connection and listener vanishes without a
        segment; segments addressed to it are lost until :meth:`restart`."""
        now = self.network.now
        for listener in list(self._listeners.values()):
            listener.closed = True
        self._listeners.clear()
        for conn in list(self._conns.values()):
            conn.drop(now)
        self._conns.clear()
        self.up = False
        self.network.note(self.name, "host crashed")

    def restart(self) -> None:
        """Bring a crashed host back with an empty TCP stack."""
        self.up = True
        self.network.note(self.name, "host restarted")

    # -- ConnectionOwner -------------------------------------------------------------

    def transmit(self, segment: Segment, *, retransmission: bool = False) -> None:
        if segment.flags & RST:
            self.network.stats["resets_sent"] += 1
        self.network.transmit(self, segment, retransmission)

    def schedule(self, conn: Connection, when: float) -> None:
        self.network.schedule_timer(conn, when)

    def state_changed(self, conn: Connection, old: State, new: State, now: float) -> None:
        net = self.network
        if net.trace.enabled:
            net.trace.append(
                TraceRecord(now, STATE, self.name, endpoint=_key(conn), old=old, new=new)
            )
        if old is TIME_WAIT:
            self._time_wait -= 1
        if new is ESTABLISHED:
            if old is SYN_RECEIVED:
                listener = self._children.get(conn)
                if listener is not None and conn in listener._syn_queue:
                    listener._syn_queue.discard(conn)
                    listener._accept_queue.append(conn)
                    if listener.user is not None:
                        listener.user.tcp_acceptable(listener)
        elif new is CLOSED or new is LISTEN:
            # LISTEN: a passive child reset in SYN-RECEIVED goes back to its listener.
            key = _key(conn)
            if self._conns.get(key) is conn:
                del self._conns[key]
            self._reuse.pop(conn, None)
            listener = self._children.pop(conn, None)
            if listener is not None:
                listener._syn_queue.discard(conn)
        elif new is TIME_WAIT:
            self._time_wait += 1
            if self._time_wait > self.config.max_tw_buckets:
                # tcp_time_wait(): no bucket left, the connection just closes.
                net.note(self.name, "TIME-WAIT bucket table overflow", _key(conn))
                conn.drop(now)

    def admit(self, conn: Connection) -> bool:
        listener = self._children.get(conn)
        if listener is None:
            return True  # simultaneous open: no listener involved
        if listener.closed:
            return False
        if listener._full():
            self.network.note(self.name, "accept queue full: ACK dropped", _key(conn))
            return False
        return True

    def note(self, conn: Connection, text: str, now: float) -> None:
        if self.network.trace.enabled:  # no work for a trace that is off
            self.network.note(self.name, text, _key(conn))

    # -- segments from the wire ----------------------------------------------------------

    def route(self, ip: str) -> Host | None:
        """The host a segment to ``ip`` goes to (loopback stays here)."""
        if ip.startswith("127."):
            return self  # every host has its own loopback
        return self.network.host_for_address(ip)

    def deliver_from_wire(self, seg: Segment) -> None:
        """A segment reaches this host from the wire: counted, traced, demultiplexed."""
        net = self.network
        if not self.up:
            net.drop(self, seg, "host down")
            return
        net.stats["segments_delivered"] += 1
        if net.trace.enabled:
            net.trace.append(TraceRecord(net.now, DELIVER, self.name, seg))
        now = net.now
        conn = self._conns.get((seg.dst_ip, seg.dst_port, seg.src_ip, seg.src_port))
        if conn is not None:
            if conn.state is TIME_WAIT and conn.accepts_new_syn(seg):
                listener = self._listeners.get(seg.dst_port)
                if listener is not None and listener.listening and not listener.closed:
                    # RFC 1122 4.2.2.13 / Linux TCP_TW_SYN: the new incarnation starts
                    # above the old one's sequence space.
                    iss = seq_add(conn.snd_nxt, 65537)
                    net.note(self.name, "TIME-WAIT reopened by a new SYN", _key(conn))
                    conn.drop(now)
                    self._syn_to_listener(listener, seg, now, iss)
                    return
            conn.receive(seg, now)
            return
        listener = self._listeners.get(seg.dst_port)
        if listener is not None and listener.listening and not listener.closed:
            self._listen_receive(listener, seg, now)
            return
        self._reset_closed(seg)

    def _listen_receive(self, listener: Listener, seg: Segment, now: float) -> None:
        """RFC 9293 section 3.10.7.2: a segment for a socket in LISTEN."""
        flags = seg.flags
        if flags & RST:
            return  # "An incoming RST segment could not be valid ... ignore it"
        if flags & ACK:
            # "Any acknowledgment is bad if it arrives on a connection still in LISTEN"
            self._reply_reset(seg)
            return
        if not flags & SYN:
            return  # "Any other control or text-bearing segment ... drop it"
        if listener._full():
            # tcp_conn_request: accept queue full -> drop silently, the client retries.
            self.network.note(self.name, "accept queue full: SYN dropped (ListenOverflows)")
            return
        if len(listener._syn_queue) >= self.config.max_syn_backlog:
            self.network.note(self.name, "SYN queue full: SYN dropped")
            return
        self._syn_to_listener(listener, seg, now, self._isn())

    def _config_for(self, ip: str) -> TcpConfig:
        """The configuration of a connection with ``ip`` at the other end (or
        this end): over 127.0.0.0/8 the loopback interface's MSS and buffers."""
        if not ip.startswith("127."):
            return self.config
        cached = self._loopback
        if cached is None or cached[0] is not self.config:
            cached = self._loopback = (self.config, self.config.loopback())
        return cached[1]

    def _syn_to_listener(self, listener: Listener, seg: Segment, now: float, iss: int) -> None:
        key = (seg.dst_ip, seg.dst_port, seg.src_ip, seg.src_port)
        local = (seg.dst_ip, seg.dst_port)
        config = self._config_for(seg.dst_ip)
        child = Connection.accept_syn(
            self, config, local, (seg.src_ip, seg.src_port), iss, seg, now
        )
        if child.state is SYN_RECEIVED:
            self._conns[key] = child
            self._reuse[child] = listener.reuse_address
            self._children[child] = listener
            listener._syn_queue.add(child)
            self.network.stats["connections_opened"] += 1

    def _reset_closed(self, seg: Segment) -> None:
        """RFC 9293 section 3.10.7.1: a segment for no socket draws a RST,
        unless it is one ("never reply to a RST with a RST")."""
        self._reply_reset(seg)

    def _reply_reset(self, seg: Segment) -> None:
        rst = reset_reply(seg)
        if rst is not None:
            self.transmit(rst)

    # -- ports ----------------------------------------------------------------------------

    def _isn(self) -> int:
        # RFC 6528 asks for an unpredictable ISN per connection; ours comes from
        # the network's seeded RNG so that a seed reproduces a run.
        if self.isn_generator is not None:
            return self.isn_generator()
        return self.network.rng.getrandbits(32)

    def _check_up(self) -> None:
        if not self.up:
            raise os_error(errno.ENETDOWN, f"host {self.name!r} is down (crashed)")

    def check_bind(self, port: int, reuse_address: bool) -> None:
        """Raise EADDRINUSE if ``port`` cannot be bound (Linux ``inet_csk_bind_conflict``,
        simplified to one address per host)."""
        if port in self._listeners:
            raise os_error(errno.EADDRINUSE, "Address already in use")
        for key, conn in self._conns.items():
            if key[1] != port:
                continue
            if not (reuse_address and self._reuse.get(conn, False)):
                raise os_error(errno.EADDRINUSE, "Address already in use")

    def _reusable_time_wait(self, conn: Connection) -> bool:
        return conn.state is TIME_WAIT and self.config.tw_reuse

    def _port_taken(self, lip: str, port: int, rip: str, rport: int) -> bool:
        if port in self._listeners:
            return True
        conn = self._conns.get((lip, port, rip, rport))
        return conn is not None and not self._reusable_time_wait(conn)

    def _ephemeral(self, lip: str, rip: str, rport: int) -> Key:
        """A free local port for this destination (Linux ``__inet_hash_connect``:
        a port may serve several destinations; a 4-tuple only one socket)."""
        low, high = self.config.ephemeral_ports
        span = high - low + 1
        if self._port_cursor is None:
            self._port_cursor = self.network.rng.randrange(span)
        start = self._port_cursor
        for i in range(span):
            offset = (start + i) % span
            port = low + offset
            if not self._port_taken(lip, port, rip, rport):
                self._port_cursor = (offset + 1) % span
                return (lip, port, rip, rport)
        raise os_error(errno.EADDRNOTAVAIL, "Cannot assign requested address")

    def _free_listen_port(self) -> int:
        low, high = self.config.ephemeral_ports
        span = high - low + 1
        start = self.network.rng.randrange(span)
        used = {key[1] for key in self._conns}
        for i in range(span):
            port = low + (start + i) % span
            if port not in self._listeners and port not in used:
                return port
        raise os_error(errno.EADDRINUSE, "Address already in use")

    def __repr__(self) -> str:
        state = "" if self.up else " DOWN"
        return (
            f"<Host {self.name} {self.ip}{state} connections={len(self._conns)} "
            f"listeners={len(self._listeners)}>"
        )


def _key(conn: Connection) -> Key:
    return (conn.local[0], conn.local[1], conn.remote[0], conn.remote[1])


def _check_port(name: str, port: int, *, allow_zero: bool) -> None:
    if not isinstance(port, int) or isinstance(port, bool):
        raise TypeError(f"{name} must be an int, got {port!r}")
    if not (0 if allow_zero else 1) <= port <= 65535:
        raise ValueError(f"{name} must be within {0 if allow_zero else 1}..65535, got {port}")


def _is_ipv4(text: str) -> bool:
    parts = text.split(".")
    return len(parts) == 4 and all(p.isdigit() and int(p) < 256 for p in parts)
