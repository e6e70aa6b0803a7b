"""A host's TCP stack: demultiplexing, listeners, ports, TIME-WAIT, resets.

Rule owned here: which TCB (or listener) a segment from the wire belongs to,
and which 4-tuples and ports are free.  The host owns its connections (it is
their :class:`~aiotcpsim.tcp.ConnectionOwner`) and does what RFC 9293
gives to the layer around the TCB:

* demultiplexing by 4-tuple (section 3.10.7);
* listeners keyed by (address, port) as Linux's listening hash: a SYN goes
  to the listener bound to its destination address, else to a wildcard
  (``0.0.0.0``) one; a server bound to 127.0.0.1 is unreachable from other hosts;
* the LISTEN state (section 3.10.7.2); the listener decides what a SYN gets
  (:meth:`Listener.on_syn`: a request, a SYN cookie or a drop when its
  queues are full, as Linux's ``tcp_conn_request``), the host sends the
  cookie SYN-ACK and turns a valid cookie ACK into a connection
  (``cookie_v4_check``: :mod:`aiotcpsim.stack.syncookies`);
* the reset of segments that match no socket (section 3.10.7.1);
* ephemeral ports from ``ip_local_port_range`` and bind conflicts
  (``EADDRINUSE``); a 4-tuple in TIME-WAIT stays taken, so a client that
  churns connections to one server runs out of ports (``EADDRNOTAVAIL``);
* reopening a TIME-WAIT 4-tuple with a new SYN (RFC 1122 section 4.2.2.13);
* a crash (:meth:`Host.crash`): every TCB and listener vanishes without a
  segment, and the network tells its :class:`~aiotcpsim.stack.watcher.HostWatcher` (the adapter that
  runs the host's application) so that it ends that application;
  :meth:`Host.start_app` asks the adapter to start one (``restart(app=)``).

The host never imports the network: it reaches it through
:class:`NetworkPort`.
"""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Protocol

from ..addresses import WILDCARD4, WILDCARD6, is_ipv6, is_loopback, is_wildcard, parse_ip, unmapped
from ..errors import os_error
from ..replies import reset_reply
from ..segment import ACK, RST, SYN, Segment, seq_add
from ..tcp import Connection, ConnectionUser, State
from ..tcp.state import CLOSED, ESTABLISHED, LISTEN, SYN_RECEIVED, TIME_WAIT
from ..trace import DELIVER, STATE
from . import syncookies
from .families import (
    PathConfigs,
    TsOffsets,
    bound_address,
    check_port,
    first_free_port,
    has_family,
    overlap,
    source_address,
)
from .listener import COOKIE, DROP, Listener, ListenerUser
from .syncookies import NETSTAT_COUNTERS, StatelessOwner, SynCookieJar

if TYPE_CHECKING:
    from random import Random

    from ..config import TcpConfig
    from ..trace import Trace

__all__ = [
    "App",
    "Host",
    "Listener",
    "ListenerUser",
    "NetworkPort",
    "current_host",
    "set_current_host",
]

Key = tuple[str, int, str, int]
"""(local ip, local port, remote ip, remote port): what a connection is found by."""

App = Callable[[], Any]
"""An application to run on a host: an async function taking no argument
(``functools.partial`` for arguments), called by the adapter that starts it."""

_current_host: ContextVar[Host | None] = ContextVar("aiotcpsim_current_host", default=None)


def current_host() -> Host | None:
    """The host set by the innermost ``with host.current():``, or None."""
    return _current_host.get()


def set_current_host(host: Host | None) -> None:
    """Make ``host`` current for the rest of this context, with no ``with``:
    for a context an adapter makes for a task (``ctx.run(set_current_host, host)``)."""
    _current_host.set(host)


class NetworkPort(Protocol):
    """What a host needs from its network: the one interface between stack/ and net/.

    The host stack sits below the network (imports point down), so it does not
    import :mod:`aiotcpsim.net`; the network implements this Protocol instead.
    Every member is one reason the stack talks to the network.
    """

    now: float
    """Virtual time, seconds."""
    seed: int
    """The seed of the network's RNG (the key of the timestamp offsets)."""
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

    def is_on_link(self, ip: str) -> bool:
        """True when ``ip`` has a route (no route: ENETUNREACH)."""

    def outside_address(self, host: Host, ipv6: bool = False) -> str:
        """The address a loopback-only host uses to reach other hosts (IPv6 one: ``ipv6``)."""

    def connecting(self, host: Host, ip: str) -> None:
        """``host`` is about to send a SYN to ``ip`` (an active open)."""

    def host_crashed(self, host: Host) -> None:
        """``host`` crashed: tell the watchers (:class:`~aiotcpsim.stack.watcher.HostWatcher`)."""

    def start_app(self, host: Host, app: App) -> None:
        """Have the adapter that drives the network start ``app`` on ``host``."""


class Host:
    """A host on a :class:`~aiotcpsim.net.Network`: an IPv4 address, maybe an
    IPv6 one, its own loopback (127.0.0.0/8 and ``::1``), a TCP stack.

    Create hosts with :meth:`Network.add_host <aiotcpsim.net.Network.add_host>`.
    """

    def __init__(self, network: NetworkPort, name: str, ip: str, config: TcpConfig) -> None:
        self.network = network
        """The network the host is on."""
        self.name = name
        """The host's name, which ``getaddrinfo`` and the other hosts resolve."""
        self.ip = ip
        """The host's IPv4 address (``localhost``: 127.0.0.1)."""
        self.ipv6: str | None = None
        """The host's IPv6 address, canonical (``localhost``: ``::1``), or None:
        then the host reaches only ``::1`` over IPv6 (set by the network)."""
        self.config = config
        """The host's :class:`~aiotcpsim.TcpConfig` (its sysctls)."""
        self.up = True
        """False between a crash and the restart."""
        self._conns: dict[Key, Connection] = {}
        self._listeners: dict[tuple[str, int], Listener] = {}
        """Keyed by (bound address, port), as Linux's listening hash; ``0.0.0.0`` is any."""
        self._reuse: dict[Connection, bool] = {}
        self._children: dict[Connection, Listener] = {}
        self._time_wait = 0
        self._port_cursor: int | None = None
        self._paths = PathConfigs()
        self.netstat: dict[str, int] = dict.fromkeys(NETSTAT_COUNTERS, 0)
        """Linux's ``TcpExt`` counters of ``/proc/net/netstat`` about the listen
        queues and SYN cookies: ``SyncookiesSent``, ``SyncookiesRecv``,
        ``SyncookiesFailed``, ``ListenOverflows``, ``ListenDrops``,
        ``TCPReqQFullDoCookies``, ``TCPReqQFullDrop``."""
        self._cookies = SynCookieJar(network.rng)
        self._ts_offsets = TsOffsets()
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
        local_ip: str | None = None,
    ) -> Connection:
        """Active open to ``ip:port``: sends the SYN now.

        ``ip``: a host name (its IPv4 address) or an IPv4/IPv6 literal in any
        form (kept canonical); an IPv4-mapped one connects over IPv4.

        Completion is reported to ``user.tcp_connected``; failure through
        ``tcp_readable``/``tcp_writable`` with ``conn.take_error()`` giving the errno.

        Raises:
            OSError: ``EADDRNOTAVAIL`` when no ephemeral port is free for this
                destination; ``EADDRINUSE`` when ``local_port`` is taken;
                ``ENETUNREACH`` for an address with no route (outside
                10.0.0.0/8, fd00::/64, loopback and the /24s and /64s of the
                hosts' addresses; IPv6 from a host without an IPv6 address).
                An on-link address no host owns fails later, as on Linux: the
                SYN goes out, ARP is never answered, and the connection ends
                with EHOSTUNREACH after ``NEIGHBOUR_TIMEOUT`` (3 s).
            TypeError: ``ip`` is not a str, a port is not an int.
            ValueError: a port outside 0..65535 (port 0 is refused, as by Linux),
                a negative ``syn_retries``.
        """
        self._check_up()
        if not isinstance(ip, str):
            raise TypeError(f"ip must be a str (a host name or address), got {ip!r}")
        check_port("port", port, allow_zero=True)  # port 0: refused, as by Linux
        if syn_retries is not None and (
            not isinstance(syn_retries, int) or isinstance(syn_retries, bool) or syn_retries < 0
        ):
            raise ValueError(f"syn_retries must be an int >= 0 or None, got {syn_retries!r}")
        if local_port or type(local_port) is not int:  # (the default 0 is fine)
            check_port("local_port", local_port, allow_zero=True)
        literal = parse_ip(ip)
        ip = self.network.resolve(ip) if literal is None else unmapped(literal)
        if not self.network.is_on_link(ip) or not has_family(ip, local_ip, self.ipv6):
            raise os_error(errno.ENETUNREACH, "Network is unreachable")  # no route: no SYN
        self.network.connecting(self, ip)
        lip = self._source_address(ip, local_ip)
        if local_port:
            self.check_bind(local_port, reuse_address, lip)
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
        self._conns[conn.key] = conn
        self._reuse[conn] = reuse_address
        self.network.stats["connections_opened"] += 1
        conn.connect(self.network.now)
        return conn

    def new_connection(
        self,
        ip: str,
        port: int,
        *,
        local_port: int = 0,
        listener: Listener | None = None,
        iss: int | None = None,
    ) -> Connection:
        """A connection to ``ip:port`` that has sent nothing, registered under
        its 4-tuple as :meth:`connect` or a listener registers one, for
        :meth:`Connection.synchronize <aiotcpsim.tcp.Connection.synchronize>`
        to put into a state directly (:mod:`aiotcpsim.testing`).

        Without ``listener`` it is an active open's connection, in CLOSED,
        from ``local_port`` (0: an ephemeral port, drawn as :meth:`connect`
        draws it).  With ``listener`` it is a passive open's child, in
        LISTEN, on the listener's address and port: synchronized to
        SYN-RECEIVED it joins the listener's SYN queue, synchronized further
        it counts as accepted.  ``iss``: its ISN (default: as for a real
        connection, :attr:`isn_generator` or the network's RNG).

        Raises:
            OSError: ``EADDRNOTAVAIL`` when the 4-tuple is taken or no
                ephemeral port is free; ``EADDRINUSE`` when ``local_port`` is.
            ValueError: a bad address or port, or a listener of another host
                or not listening.
        """
        self._check_up()
        ip = bound_address(ip)
        check_port("port", port, allow_zero=False)
        check_port("local_port", local_port, allow_zero=True)
        if listener is not None:
            if listener.host is not self or listener.state is not LISTEN:
                raise ValueError(f"listener must be listening on this host, got {listener!r}")
            lip = listener.bound_ip
            if is_wildcard(lip):
                lip = self._source_address(ip, None)
            key = (lip, listener.port, ip, port)
        elif local_port:
            lip = self._source_address(ip, None)
            self.check_bind(local_port, False, lip)
            key = (lip, local_port, ip, port)
        else:
            key = self._ephemeral(self._source_address(ip, None), ip, port)
        if key in self._conns:
            raise os_error(errno.EADDRNOTAVAIL, "Cannot assign requested address")
        conn = Connection(
            self,
            self._config_for(key[0] if listener is not None else ip),
            (key[0], key[1]),
            (ip, port),
            self._isn() if iss is None else iss,
            passive=listener is not None,
        )
        self._conns[key] = conn
        self._reuse[conn] = listener.reuse_address if listener is not None else False
        if listener is not None:
            self._children[conn] = listener
        self.network.stats["connections_opened"] += 1
        return conn

    def listen(
        self,
        port: int = 0,
        *,
        backlog: int = 100,
        reuse_address: bool = True,
        user: ListenerUser | None = None,
        ip: str | None = None,
        v6only: bool = False,
    ) -> Listener:
        """Open a listening socket (asyncio's defaults: backlog 100, SO_REUSEADDR).

        ``ip``: the bound address (None: ``0.0.0.0``); ``::`` takes IPv4
        connections too unless ``v6only`` (``IPV6_V6ONLY``), as on Linux.

        Raises:
            OSError: ``EADDRINUSE`` when the port is taken: a socket on an
                overlapping address (equal, or either is the wildcard of the
                other's family, or one is ``::`` without ``v6only``) is bound
                to it, unless both set ``SO_REUSEADDR`` and that one is not
                listening (Linux ``inet_csk_bind_conflict``).
            ValueError: a port outside 0..65535 or a negative backlog.
        """
        if not isinstance(backlog, int) or backlog < 0:
            raise ValueError(f"backlog must be an int >= 0, got {backlog!r}")
        listener = self.bind(port, reuse_address=reuse_address, ip=ip, v6only=v6only)
        listener.user = user
        listener.listen(backlog)
        return listener

    def bind(
        self,
        port: int = 0,
        *,
        reuse_address: bool = True,
        ip: str | None = None,
        v6only: bool = False,
    ) -> Listener:
        """A socket bound to ``port`` for listening, not listening yet
        (``bind()`` without ``listen()``): the port is taken, SYNs to it are
        refused until :meth:`Listener.listen`.

        Raises:
            OSError: ``EADDRINUSE`` when the port is taken.
            TypeError: ``ip`` is neither None nor a str.
            ValueError: a port outside 0..65535, ``ip`` not an IP address.
        """
        self._check_up()
        if ip is not None and not isinstance(ip, str):
            raise TypeError(f"ip must be an IP address (str) or None, got {ip!r}")
        ip = None if ip is None else bound_address(ip)
        check_port("port", port, allow_zero=True)
        bound_ip = WILDCARD4 if ip is None else ip
        v6only = v6only and is_ipv6(bound_ip)
        if port == 0:
            port = self._free_listen_port()
        else:
            self.check_bind(port, reuse_address, bound_ip, v6only)
        listener = Listener(self, ip or self.ip, port, 0, reuse_address, bound_ip)
        listener.listening = False
        listener.v6only = v6only
        self._listeners[(bound_ip, port)] = listener
        return listener

    def listener(self, port: int, ip: str | None = None) -> Listener | None:
        """The socket bound to ``port`` that a SYN to ``ip`` (default: the
        host's address) reaches: one bound to that address, else a wildcard one."""
        if ip is None:
            ip = self.ip
        return self._listening(ip, port, bound_too=True)

    def connections(self) -> Iterator[Connection]:
        """The host's connections, listeners' children and TIME-WAIT included (a snapshot)."""
        return iter(list(self._conns.values()))

    def connection_count(self) -> int:
        """How many connections :meth:`connections` would give."""
        return len(self._conns)

    def lookup(self, key: Key) -> Connection | None:
        """The connection registered under ``key`` (local ip, local port,
        remote ip, remote port), or None."""
        return self._conns.get(key)

    def crash(self) -> None:
        """The host stops: every connection and listener vanishes without a
        segment; segments addressed to it are lost until :meth:`restart`.

        The network then tells the adapters
        (:class:`~aiotcpsim.stack.watcher.HostWatcher`), which end the
        application running here: its tasks are cancelled, its servers and
        sockets closed -- without a segment, since the TCBs are already gone."""
        now = self.network.now
        for listener in list(self._listeners.values()):
            listener.closed = True
        self._listeners.clear()
        for conn in list(self._conns.values()):
            conn.drop(now)
        self._conns.clear()
        self.up = False
        self.network.note(self.name, "host crashed")
        self.network.host_crashed(self)

    def restart(self, app: App | None = None) -> None:
        """Bring a crashed host back with an empty TCP stack; with ``app``,
        start it there (see :meth:`start_app`).

        Raises:
            TypeError: ``app`` is not callable.
            RuntimeError: ``app`` given and no adapter drives the network.
        """
        if app is not None and not callable(app):
            raise TypeError(f"app must be an async function taking no argument, got {app!r}")
        self.up = True
        self._cookies = SynCookieJar(self.network.rng)  # a new boot, a new secret
        self.network.note(self.name, "host restarted")
        if app is not None:
            self.start_app(app)

    def start_app(self, app: App) -> None:
        """Start ``app()`` as a task running on this host, on the event loop
        (asyncio) or trio run that drives the network: the application a
        :meth:`crash` ends.  ``app`` is an async function taking no argument.

        Raises:
            TypeError: ``app`` is not callable.
            RuntimeError: the host is down, or no adapter drives the network
                (run under ``aiotcpsim.run``, a ``VirtualTimeLoop`` or
                ``trio_net.open_network``).
        """
        if not callable(app):
            raise TypeError(f"app must be an async function taking no argument, got {app!r}")
        if not self.up:
            raise RuntimeError(
                f"host {self.name!r} is down (crashed): restart it before starting an app "
                "(net.faults.restart(host, app=...))"
            )
        self.network.start_app(self, app)

    # -- ConnectionOwner -------------------------------------------------------------

    def transmit(self, segment: Segment, *, retransmission: bool = False) -> None:
        if segment.flags & RST:
            self.network.stats["resets_sent"] += 1
        self.network.transmit(self, segment, retransmission)

    def schedule(self, conn: Connection, when: float) -> None:
        self.network.schedule_timer(conn, when)

    def state_changed(self, conn: Connection, old: State, new: State, now: float) -> None:
        net = self.network
        trace = net.trace
        if trace.enabled:
            trace.record(now, STATE, self.name, None, conn.key, old, new)
        if old is TIME_WAIT:
            self._time_wait -= 1
        if new is SYN_RECEIVED and old is LISTEN:
            # A child registered before its SYN-RECEIVED (new_connection, then
            # synchronize) waits in its listener's SYN queue; accept_syn's
            # children reach SYN-RECEIVED before _syn_to_listener registers them.
            listener = self._children.get(conn)
            if listener is not None:
                listener.request(conn)
        elif new is ESTABLISHED:
            if old is SYN_RECEIVED:
                listener = self._children.get(conn)
                if listener is not None:
                    listener.established(conn)
        elif new is CLOSED or new is LISTEN:
            # LISTEN: a passive child reset in SYN-RECEIVED goes back to its listener.
            key = conn.key
            if self._conns.get(key) is conn:
                del self._conns[key]
            self._reuse.pop(conn, None)
            listener = self._children.pop(conn, None)
            if listener is not None:
                listener.forget(conn)
        elif new is TIME_WAIT:
            self._time_wait += 1
            if self._time_wait > self.config.max_tw_buckets:
                # tcp_time_wait(): no bucket left, the connection just closes.
                net.note(self.name, "TIME-WAIT bucket table overflow", conn.key)
                conn.drop(now)

    def admit(self, conn: Connection) -> bool:
        listener = self._children.get(conn)
        if listener is None:
            return True  # simultaneous open: no listener involved
        if listener.closed:
            return False
        if listener.full():
            self.network.note(self.name, "accept queue full: ACK dropped", conn.key)
            return False
        return True

    def note(self, conn: Connection, text: str, now: float) -> None:
        if self.network.trace.enabled:  # no work for a trace that is off
            self.network.note(self.name, text, conn.key)

    def ts_offset(self, local_ip: str, remote_ip: str) -> int:
        """The TS clock offset of connections between two addresses (:class:`TsOffsets`)."""
        return self._ts_offsets.offset(self.network.seed, local_ip, remote_ip)

    # -- segments from the wire ----------------------------------------------------------

    def route(self, ip: str) -> Host | None:
        """The host a segment to ``ip`` goes to (loopback stays here)."""
        if is_loopback(ip):
            return self  # every host has its own loopback
        return self.network.host_for_address(ip)

    def deliver_from_wire(self, seg: Segment) -> None:
        """A segment reaches this host from the wire: counted, traced, demultiplexed."""
        net = self.network
        if not self.up:
            net.drop(self, seg, "host down")
            return
        net.stats["segments_delivered"] += 1
        net.trace.record(net.now, DELIVER, self.name, seg)
        now = net.now
        conn = self._conns.get((seg.dst_ip, seg.dst_port, seg.src_ip, seg.src_port))
        if conn is not None:
            if conn.state is TIME_WAIT and conn.accepts_new_syn(seg):
                listener = self._listening(seg.dst_ip, seg.dst_port)
                if listener is not None and listener.listening and not listener.closed:
                    # RFC 1122 4.2.2.13 / Linux TCP_TW_SYN: the new incarnation starts
                    # above the old one's sequence space.
                    iss = seq_add(conn.snd_nxt, 65537)
                    net.note(self.name, "TIME-WAIT reopened by a new SYN", conn.key)
                    conn.drop(now)
                    self._syn_to_listener(listener, seg, now, iss)
                    return
            conn.receive(seg, now)
            return
        listener = self._listening(seg.dst_ip, seg.dst_port)
        if listener is not None:
            self._listen_receive(listener, seg, now)
            return
        self._reset_closed(seg)

    def _listening(self, ip: str, port: int, bound_too: bool = False) -> Listener | None:
        """The listener a SYN to ``ip:port`` reaches: the most specific one
        (bound to ``ip``) before the wildcard of its family (Linux
        ``compute_score``), and for IPv4 then a ``::`` one without IPV6_V6ONLY.
        ``bound_too``: a socket only bound counts as well."""
        listeners = self._listeners
        for wild in (ip, WILDCARD6 if is_ipv6(ip) else WILDCARD4, WILDCARD6):
            listener = listeners.get((wild, port))
            if (
                listener is not None
                and (bound_too or (listener.listening and not listener.closed))
                and not (listener.v6only and not is_ipv6(ip))
            ):
                return listener
        return None

    def _listen_receive(self, listener: Listener, seg: Segment, now: float) -> None:
        """RFC 9293 section 3.10.7.2: a segment for a socket in LISTEN."""
        flags = seg.flags
        if flags & RST:
            return  # "An incoming RST segment could not be valid ... ignore it"
        if flags & ACK:
            if not flags & SYN and self._cookie_ack(listener, seg, now):
                return
            # "Any acknowledgment is bad if it arrives on a connection still in LISTEN"
            self._reply_reset(seg)
            return
        if not flags & SYN:
            return  # "Any other control or text-bearing segment ... drop it"
        verdict = listener.on_syn()
        if verdict == DROP:
            return  # no RST: the client retransmits its SYN
        if verdict == COOKIE:
            self._send_cookie(seg, now)
            return
        self._syn_to_listener(listener, seg, now, self._isn())

    def _send_cookie(self, seg: Segment, now: float) -> None:
        """Answer ``seg`` with a SYN-ACK whose ISN is a cookie, keeping no
        state: a child made as for any SYN sends it and is forgotten; its
        TSval keeps the options a SYN with timestamps offered (:mod:`.syncookies`)."""
        tuple4 = (seg.src_ip, seg.src_port, seg.dst_ip, seg.dst_port)
        mss = seg.options.mss or self.config.default_mss
        isn = self._cookies.make(tuple4, seg.seq, mss, now, ipv6=is_ipv6(seg.dst_ip))
        config = self._config_for(seg.dst_ip)
        options, kept = syncookies.cookie_syn_options(seg.options, config)
        local, remote = (seg.dst_ip, seg.dst_port), (seg.src_ip, seg.src_port)
        owner = StatelessOwner(self.transmit, self.ts_offset, kept, now)
        Connection.accept_syn(owner, config, local, remote, isn, seg._replace(options=options), now)

    def _cookie_ack(self, listener: Listener, seg: Segment, now: float) -> bool:
        """An ACK that matches no connection, checked as a SYN cookie (Linux
        ``cookie_v4_check``) while the listener sent cookies lately.  True
        when it was taken (a connection, or dropped on a full accept queue);
        False: it draws a RST."""
        if not self.config.syncookies or not listener.recent_overflow(now):
            return False
        tuple4 = (seg.src_ip, seg.src_port, seg.dst_ip, seg.dst_port)
        mss = self._cookies.check(tuple4, seg.seq, seg.ack, now, ipv6=is_ipv6(seg.dst_ip))
        netstat = self.netstat
        if not mss:
            netstat["SyncookiesFailed"] += 1
            self.network.note(self.name, "ACK is no valid SYN cookie")
            return False
        netstat["SyncookiesRecv"] += 1
        config = self._config_for(seg.dst_ip)
        options = syncookies.cookie_ack_options(seg, mss, config, self.ts_offset)
        if options is None:  # cookie_timestamp_decode refused the TSecr
            self.network.note(self.name, "cookie ACK's options refused")
            return False
        if listener.full():  # tcp_v4_syn_recv_sock: the ACK is dropped
            netstat["ListenOverflows"] += 1
            netstat["ListenDrops"] += 1
            self.network.note(self.name, "accept queue full: cookie ACK dropped")
            return True
        local, remote = (seg.dst_ip, seg.dst_port), (seg.src_ip, seg.src_port)
        iss, irs = seq_add(seg.ack, -1), seq_add(seg.seq, -1)
        child = Connection.accept_cookie(self, config, local, remote, iss, irs, mss, now, options)
        self._adopt(listener, child)
        child.receive(seg, now)
        return True

    def _source_address(self, ip: str, local_ip: str | None) -> str:
        """The address a connection to ``ip`` is sent from."""
        return source_address(ip, local_ip, self.ip, self.ipv6, self._outside)

    def _outside(self, ipv6: bool) -> str:
        return self.network.outside_address(self, ipv6)

    def _config_for(self, ip: str) -> TcpConfig:
        """The configuration of a connection with ``ip`` at one end (:class:`PathConfigs`)."""
        return self._paths.config_for(self.config, ip)

    def _syn_to_listener(self, listener: Listener, seg: Segment, now: float, iss: int) -> None:
        local = (seg.dst_ip, seg.dst_port)
        config = self._config_for(seg.dst_ip)
        child = Connection.accept_syn(
            self, config, local, (seg.src_ip, seg.src_port), iss, seg, now
        )
        if child.state is SYN_RECEIVED:
            self._adopt(listener, child)

    def _adopt(self, listener: Listener, child: Connection) -> None:
        """``child``, a passive open in SYN-RECEIVED, joins the host's tables
        and ``listener``'s SYN queue."""
        self._conns[child.key] = child
        self._reuse[child] = listener.reuse_address
        self._children[child] = listener
        listener.request(child)
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

    def check_bind(
        self, port: int, reuse_address: bool, ip: str = WILDCARD4, v6only: bool = False
    ) -> None:
        """Raise EADDRINUSE if ``ip:port`` cannot be bound (Linux ``inet_csk_bind_conflict``).

        Two sockets conflict when their addresses overlap (equal, or either is
        the wildcard of the other's family, or one is ``::`` without
        ``IPV6_V6ONLY``), unless both set SO_REUSEADDR and the one bound
        before is not listening.
        """
        for (bip, bport), other in self._listeners.items():
            if bport != port or not overlap(bip, other.v6only, ip, v6only):
                continue
            if not (reuse_address and other.reuse_address and not other.listening):
                raise os_error(errno.EADDRINUSE, "Address already in use")
        for key, conn in self._conns.items():
            if key[1] != port:
                continue
            if not (reuse_address and self._reuse.get(conn, False)):
                raise os_error(errno.EADDRINUSE, "Address already in use")

    @property
    def now(self) -> float:
        """Virtual time, seconds (the network's clock)."""
        return self.network.now

    def note_listener(self, listener: Listener, text: str) -> None:
        """Add ``text`` to the trace, at this host (for ``listener``)."""
        self.network.note(self.name, text)

    def forget_listener(self, listener: Listener) -> None:
        """``listener`` closed: remove it from the listening table."""
        key = (listener.bound_ip, listener.port)
        if self._listeners.get(key) is listener:
            del self._listeners[key]

    def check_listen(self, listener: Listener) -> None:
        """Raise EADDRINUSE if ``listener`` may not start listening: another
        socket on an overlapping address already listens (Linux re-checks the
        bind conflict in ``inet_csk_listen_start``)."""
        for (bip, bport), other in self._listeners.items():
            if other is listener or bport != listener.port:
                continue
            if overlap(bip, other.v6only, listener.bound_ip, listener.v6only) and (
                other.listening or not (listener.reuse_address and other.reuse_address)
            ):
                raise os_error(errno.EADDRINUSE, "Address already in use")

    def _reusable_time_wait(self, conn: Connection) -> bool:
        return self.config.tw_reuse and conn.reusable_in_time_wait(self.network.now)

    def _port_taken(self, lip: str, port: int, rip: str, rport: int) -> bool:
        if any(bport == port for _, bport in self._listeners):
            return True
        conn = self._conns.get((lip, port, rip, rport))
        return conn is not None and not self._reusable_time_wait(conn)

    def _ephemeral(self, lip: str, rip: str, rport: int) -> Key:
        """A free local port for this destination (Linux ``__inet_hash_connect``:
        a port may serve several destinations; a 4-tuple only one socket)."""
        low, high = self.config.ephemeral_ports
        if self._port_cursor is None:
            self._port_cursor = self.network.rng.randrange(high - low + 1)
        port = first_free_port(
            low, high, self._port_cursor, lambda p: self._port_taken(lip, p, rip, rport)
        )
        if port is None:
            raise os_error(errno.EADDRNOTAVAIL, "Cannot assign requested address")
        self._port_cursor = (port - low + 1) % (high - low + 1)
        return (lip, port, rip, rport)

    def _free_listen_port(self) -> int:
        low, high = self.config.ephemeral_ports
        used = {key[1] for key in self._conns} | {bport for _, bport in self._listeners}
        start = self.network.rng.randrange(high - low + 1)
        port = first_free_port(low, high, start, used.__contains__)
        if port is None:
            raise os_error(errno.EADDRINUSE, "Address already in use")
        return port

    def __repr__(self) -> str:
        state = "" if self.up else " DOWN"
        v6 = f" {self.ipv6}" if self.ipv6 is not None and not is_loopback(self.ipv6) else ""
        return (
            f"<Host {self.name} {self.ip}{v6}{state} connections={len(self._conns)} "
            f"listeners={len(self._listeners)}>"
        )
