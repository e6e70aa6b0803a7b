"""Per-state constructors: two connections already in a given pair of states.

This module owns what each constructed state pair *is*: the real exchange it
stands for, and the moment at which it is returned.  Each constructor puts a
client and a server connection into their states directly
(:meth:`Host.new_connection <aiotcpsim.stack.Host.new_connection>`, then
:meth:`Connection.synchronize <aiotcpsim.tcp.Connection.synchronize>`),
without running the handshake or the FIN exchange, as smoltcp's tests build a
socket with ``socket_established()``; so a ladder about TIME-WAIT fails only
when TIME-WAIT is broken, not when the handshake is.

Every pair is indistinguishable from the one a real exchange reaches on a
link with a constant delay (``d1`` client to server, ``d2`` back): the same
states, sequence numbers, windows, timers and engines
(:meth:`Connection.snapshot() <aiotcpsim.tcp.Connection.snapshot>`), the
same ISNs and ports for the same seed, and the segments that exchange still
has in flight are on the wire.  ``tests/core/test_constructors.py`` proves it
state by state.  The exchange starts at the network's current time ``S``
(0 on a new network): ``connect()`` sends the SYN at ``S``, the handshake
ends at ``t0 = S + 2 d1 + d2`` (:attr:`ConnectionPair.t0`), and the server
has accepted the connection.

=====================  ==================  ===============================================
constructor            (client, server)    the exchange after the handshake; returned at
=====================  ==================  ===============================================
established_pair       ESTABLISHED, ESTAB. nothing: at ``t0``
fin_wait_1_pair        FIN-WAIT-1, ESTAB.  the client shuts down at ``t0``: at ``t0``,
                                           its FIN in flight
fin_wait_2_pair        FIN-WAIT-2, CLOSE-  the client shuts down at ``t0``: when the ACK
                       WAIT                of its FIN arrives (``t0 + d1 + d2``)
close_wait_pair        CLOSE-WAIT, FIN-    the server shuts down at ``t0``: when the ACK
                       WAIT-2              of its FIN arrives (``t0 + d2 + d1``)
last_ack_pair          LAST-ACK, FIN-      as close_wait_pair, then the client shuts
                       WAIT-2              down: its FIN in flight
closing_pair           CLOSING, CLOSING    both shut down at ``t0``; the FINs cross:
                                           at ``t0 + d``, both ACKs in flight (d1 = d2)
time_wait_pair         TIME-WAIT, LAST-    the client shuts down at ``t0``, the server
                       ACK                 as soon as the FIN arrives; when the
                                           server's ACK and FIN reach the client, its
                                           ACK in flight
syn_sent_pair          SYN-SENT, (LISTEN)  ``connect()`` at ``S``, the SYN in flight;
                                           ``server`` is None
syn_received_pair      ESTABLISHED, SYN-   the third ACK was lost: at ``S + d1 + d2``
                       RECEIVED
=====================  ==================  ===============================================

The options (:class:`PairOptions`) choose the network (a new one by
default: hosts ``client`` 10.0.0.1 and ``server`` 10.0.0.2, 10 ms each way),
the ports, each side's ISN, MSS and receive window, and the
:class:`~aiotcpsim.TcpConfig`.  No application is attached
(``conn.user`` is None); no data has flowed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict, Unpack

from .config import TcpConfig
from .net import Network
from .segment import TcpOptions
from .stack import Host, Listener
from .tcp import Connection
from .tcp.negotiate import TS_OPTION_LEN, initial_wscale, syn_window
from .tcp.state import (
    CLOSE_WAIT,
    CLOSING,
    ESTABLISHED,
    FIN_WAIT_1,
    FIN_WAIT_2,
    LAST_ACK,
    SYN_RECEIVED,
    TIME_WAIT,
    State,
)

__all__ = [
    "CLIENT_IP",
    "DELAY",
    "PORT",
    "SERVER_IP",
    "ConnectionPair",
    "Opening",
    "PairOptions",
    "close_wait_pair",
    "closing_pair",
    "established_pair",
    "fin_wait_1_pair",
    "fin_wait_2_pair",
    "last_ack_pair",
    "syn_received_pair",
    "syn_sent_pair",
    "time_wait_pair",
]

CLIENT_IP = "10.0.0.1"
SERVER_IP = "10.0.0.2"
PORT = 8080
DELAY = 0.01
"""The one-way delay of a new network."""


class PairOptions(TypedDict, total=False):
    """The options every constructor takes (all optional)."""

    network: Network
    """An existing network (default: a new one, from ``seed``, ``delay`` and
    ``config``); then ``client`` and ``server`` name its hosts."""
    client: Host
    server: Host
    seed: int
    """The new network's seed (default 1)."""
    delay: float
    """The new network's one-way delay (default :data:`DELAY`)."""
    config: TcpConfig
    """The new network's TCP configuration."""
    port: int
    """The server's port (default :data:`PORT`; a listener is opened if none is)."""
    client_port: int
    """The client's port (default: an ephemeral one, drawn as ``connect()`` does)."""
    client_isn: int
    server_isn: int
    """The ISNs (default: drawn as for real connections)."""
    client_mss: int
    server_mss: int
    """The MSS each side announces (default: its configuration's)."""
    client_window: int
    server_window: int
    """Each side's receive buffer, the window it offers (default: ``rcvbuf``)."""


@dataclass
class Opening:
    """A client connection and the server's listener (:func:`syn_sent_pair`)."""

    network: Network
    client_host: Host
    server_host: Host
    client: Connection
    listener: Listener
    t0: float
    """When the handshake ends (or would end), ``S + 2 d1 + d2``."""


@dataclass
class ConnectionPair(Opening):
    """A client and a server connection in a given pair of states."""

    server: Connection

    def connections(self) -> tuple[Connection, Connection]:
        """``(client, server)``."""
        return self.client, self.server


@dataclass
class _Timeline:
    """The hosts, the two fresh connections and the handshake's times."""

    net: Network
    c: Host
    s: Host
    a: Connection
    b: Connection | None
    listener: Listener
    start: float  # S: the SYN leaves
    d1: float  # client to server
    d2: float  # server to client

    @property
    def t1(self) -> float:  # the SYN arrives, the SYN-ACK leaves
        return self.start + self.d1

    @property
    def t2(self) -> float:  # the SYN-ACK arrives: the client is ESTABLISHED
        return self.t1 + self.d2

    @property
    def t3(self) -> float:  # the third ACK arrives: the server is ESTABLISHED
        return self.t2 + self.d1

    @property
    def server(self) -> Connection:
        assert self.b is not None
        return self.b

    def at(self, when: float) -> None:
        """Move the network's clock to ``when`` (segments are sent then)."""
        self.net.advance(when)

    def pair(self) -> ConnectionPair:
        return ConnectionPair(self.net, self.c, self.s, self.a, self.listener, self.t3, self.server)

    def client_side(self, state: State, now: float, **facts: float | None) -> None:
        b = self.server
        a = self.a
        self.a.synchronize(
            state,
            now,
            irs=b.iss,
            peer_window=_ack_window(b, a) if _heard_later(facts) else _syn_window(b, a),
            peer_mss=b.mss,
            peer_options=_offer(b, _last_sent(self.t1, self.d2, facts)),
            syn_sent_at=self.start,
            established_at=self.t2,
            **facts,
        )

    def server_side(self, state: State, now: float, **facts: float | None) -> None:
        a = self.a
        self.server.synchronize(
            state,
            now,
            irs=a.iss,
            peer_window=_ack_window(a, self.server),
            peer_mss=a.mss,
            peer_options=_offer(a, _last_sent(self.t2, self.d1, facts)),
            syn_sent_at=self.t1,
            established_at=self.t3,
            **facts,
        )


def _last_sent(handshake: float, delay: float, facts: dict[str, float | None]) -> float:
    """When the peer sent the last segment this side received: its part of
    the handshake, or the ACK of our FIN, or its FIN."""
    times = [handshake]
    times += [t - delay for t in (facts.get("fin_acked_at"), facts.get("fin_received_at")) if t]
    return max(times)


def _heard_later(facts: dict[str, float | None]) -> bool:
    """The peer sent a segment after the handshake (its FIN or the ACK of ours)."""
    return facts.get("fin_acked_at") is not None or facts.get("fin_received_at") is not None


def _offer(conn: Connection, at: float) -> TcpOptions:
    """The options of ``conn``'s SYN (what its configuration enables), with
    its TSval at ``at``."""
    config = conn.config
    wscale = initial_wscale(conn.rcvbuf, config.loopback_rcvbuf)
    return TcpOptions(
        mss=conn.mss,
        wscale=wscale if config.window_scaling else None,
        sack_permitted=config.sack,
        timestamps=(conn.tsval(at), 0) if config.timestamps else None,
    )


def _syn_window(conn: Connection, peer: Connection) -> int:
    """The window of ``conn``'s SYN or SYN-ACK to ``peer`` (never scaled)."""
    ts = conn.config.timestamps and peer.config.timestamps
    return syn_window(conn.rcvbuf, conn.mss - TS_OPTION_LEN if ts else conn.mss)


def _ack_window(conn: Connection, peer: Connection) -> int:
    """The window of ``conn``'s first ACK: its buffer, rounded up to a
    multiple of its window scale when both sides scale, else at most 65,535."""
    if conn.config.window_scaling and peer.config.window_scaling:
        shift = initial_wscale(conn.rcvbuf, conn.config.loopback_rcvbuf)
        return -(-min(conn.rcvbuf, 0xFFFF << shift) >> shift) << shift
    return min(conn.rcvbuf, 0xFFFF)


def _open(options: PairOptions, *, server: bool = True) -> _Timeline:
    """The network, hosts, listener and fresh connections the options ask for."""
    net = options.get("network")
    if net is None:
        net = Network(
            options.get("seed", 1), delay=options.get("delay", DELAY), tcp=options.get("config")
        )
        c = net.add_host("client", CLIENT_IP)
        s = net.add_host("server", SERVER_IP)
    else:
        unused = {"seed", "delay", "config"} & set(options)
        if unused:
            raise ValueError(f"{sorted(unused)} apply to a new network, not to network=")
        if "client" not in options or "server" not in options:
            raise ValueError("with network=, pass its client= and server= hosts")
        c = options["client"]
        s = options["server"]
    port = options.get("port", PORT)
    listener = s.listener(port)
    if listener is None:
        listener = s.listen(port)
    a = c.new_connection(
        s.ip, port, local_port=options.get("client_port", 0), iss=options.get("client_isn")
    )
    _set_options(a, options.get("client_mss"), options.get("client_window"))
    b = None
    if server:
        b = s.new_connection(
            a.local[0], a.local[1], listener=listener, iss=options.get("server_isn")
        )
        _set_options(b, options.get("server_mss"), options.get("server_window"))
    d1 = net.link(c, s).delay
    d2 = net.link(s, c).delay
    return _Timeline(net, c, s, a, b, listener, net.now, d1, d2)


def _set_options(conn: Connection, mss: int | None, window: int | None) -> None:
    if mss is not None:
        conn.mss = mss
    if window is not None:
        conn.rcvbuf = window


# -- the constructors ---------------------------------------------------------------


def established_pair(**options: Unpack[PairOptions]) -> ConnectionPair:
    """Both ESTABLISHED, at the end of the handshake (``t0``); nothing in flight."""
    tl = _open(options)
    tl.at(tl.t3)
    tl.client_side(ESTABLISHED, tl.t3)
    tl.server_side(ESTABLISHED, tl.t3)
    return tl.pair()


def fin_wait_1_pair(**options: Unpack[PairOptions]) -> ConnectionPair:
    """The client shut down at ``t0``: FIN-WAIT-1, its FIN in flight; the
    server ESTABLISHED."""
    tl = _open(options)
    t0 = tl.t3
    tl.at(t0)
    tl.server_side(ESTABLISHED, t0)
    tl.client_side(FIN_WAIT_1, t0, fin_sent_at=t0)
    return tl.pair()


def fin_wait_2_pair(**options: Unpack[PairOptions]) -> ConnectionPair:
    """The client shut down at ``t0``; the server took the FIN at
    ``t0 + d1`` (CLOSE-WAIT) and its ACK arrived at ``t0 + d1 + d2``
    (FIN-WAIT-2), the moment returned."""
    tl = _open(options)
    t0 = tl.t3
    got_fin = t0 + tl.d1
    got_ack = got_fin + tl.d2
    tl.at(got_ack)
    tl.server_side(CLOSE_WAIT, got_ack, fin_received_at=got_fin)
    tl.client_side(FIN_WAIT_2, got_ack, fin_sent_at=t0, fin_acked_at=got_ack)
    return tl.pair()


def close_wait_pair(**options: Unpack[PairOptions]) -> ConnectionPair:
    """The server shut down at ``t0``; the client took the FIN at
    ``t0 + d2`` (CLOSE-WAIT) and its ACK arrived at ``t0 + d2 + d1``
    (FIN-WAIT-2), the moment returned."""
    tl = _open(options)
    t0 = tl.t3
    got_fin = t0 + tl.d2
    got_ack = got_fin + tl.d1
    tl.at(got_ack)
    tl.client_side(CLOSE_WAIT, got_ack, fin_received_at=got_fin)
    tl.server_side(FIN_WAIT_2, got_ack, fin_sent_at=t0, fin_acked_at=got_ack)
    return tl.pair()


def last_ack_pair(**options: Unpack[PairOptions]) -> ConnectionPair:
    """:func:`close_wait_pair`, then the client shuts down at that moment:
    LAST-ACK, its FIN in flight; the server in FIN-WAIT-2."""
    tl = _open(options)
    t0 = tl.t3
    got_fin = t0 + tl.d2
    got_ack = got_fin + tl.d1
    tl.at(got_ack)
    tl.server_side(FIN_WAIT_2, got_ack, fin_sent_at=t0, fin_acked_at=got_ack)
    tl.client_side(LAST_ACK, got_ack, fin_received_at=got_fin, fin_sent_at=got_ack)
    return tl.pair()


def closing_pair(**options: Unpack[PairOptions]) -> ConnectionPair:
    """Both shut down at ``t0``; the FINs crossed: both CLOSING at ``t0 + d``,
    the ACKs of both FINs in flight.

    Raises:
        ValueError: the two directions have different delays (one ACK would
            arrive before the other FIN: not a simultaneous close).
    """
    tl = _open(options)
    if tl.d1 != tl.d2:
        raise ValueError(f"closing_pair needs equal delays both ways, got {tl.d1} and {tl.d2}")
    t0 = tl.t3
    crossed = t0 + tl.d1
    tl.at(crossed)
    # The client's FIN left first, so it arrives first: the server ACKs first.
    tl.server_side(CLOSING, crossed, fin_sent_at=t0, fin_received_at=crossed)
    tl.client_side(CLOSING, crossed, fin_sent_at=t0, fin_received_at=crossed)
    return tl.pair()


def time_wait_pair(**options: Unpack[PairOptions]) -> ConnectionPair:
    """The client shut down at ``t0``; the server took the FIN at
    ``t0 + d1``, ACKed it and shut down at once (LAST-ACK); the ACK and the
    FIN reached the client at ``t0 + d1 + d2``: TIME-WAIT, its ACK in flight."""
    tl = _open(options)
    t0 = tl.t3
    got_fin = t0 + tl.d1
    back = got_fin + tl.d2
    tl.at(back)
    tl.server_side(LAST_ACK, back, fin_received_at=got_fin, fin_sent_at=got_fin)
    tl.client_side(TIME_WAIT, back, fin_sent_at=t0, fin_acked_at=back, fin_received_at=back)
    return tl.pair()


def syn_sent_pair(**options: Unpack[PairOptions]) -> Opening:
    """The client called ``connect()`` at ``S``: SYN-SENT, the SYN in flight;
    the server listens and has no connection yet."""
    tl = _open(options, server=False)
    tl.a.connect(tl.start)
    return Opening(tl.net, tl.c, tl.s, tl.a, tl.listener, tl.t3)


def syn_received_pair(**options: Unpack[PairOptions]) -> ConnectionPair:
    """The server answered the SYN at ``S + d1`` (SYN-RECEIVED); the client
    took the SYN-ACK at ``S + d1 + d2`` (ESTABLISHED), the moment returned,
    and its ACK was lost: nothing in flight."""
    tl = _open(options)
    tl.at(tl.t2)
    tl.server.synchronize(
        SYN_RECEIVED,
        tl.t2,
        irs=tl.a.iss,
        peer_window=syn_window(tl.a.rcvbuf, tl.a.mss),
        peer_mss=tl.a.mss,
        peer_options=_offer(tl.a, tl.start),
        syn_sent_at=tl.t1,
    )
    tl.client_side(ESTABLISHED, tl.t2)
    return tl.pair()
