"""The per-state constructors of :mod:`aiotcpsim.testing` against real segments.

For every state pair, the constructed pair and the same pair reached by a real
handshake (and FIN exchange) on a fresh network with the same seed are compared:
the moment, each connection's full ``snapshot()`` (state, sequence numbers,
windows, timers, RTT, congestion and delayed-ACK engines), the host's tables,
and then the trace of what follows -- a plain run to the end, and a run with
one segment lost, so that the retransmission timers are compared too.

These tests are what lets the ladders start from constructors: when one fails,
a constructor no longer matches what TCP does, and the ladders that start from
it test a state the code never reaches.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from aiotcpsim import Network, TcpConfig
from aiotcpsim.segment import ACK, FIN, Segment
from aiotcpsim.stack import Host
from aiotcpsim.tcp import Connection, State
from aiotcpsim.testing import (
    CLIENT_IP,
    DELAY,
    PORT,
    SERVER_IP,
    ConnectionPair,
    close_wait_pair,
    closing_pair,
    established_pair,
    fin_wait_1_pair,
    fin_wait_2_pair,
    last_ack_pair,
    syn_received_pair,
    syn_sent_pair,
    time_wait_pair,
)
from aiotcpsim.trace import SEND

D = DELAY


class Real:
    """The same pair reached by real segments."""

    def __init__(self, seed: int = 1, config: TcpConfig | None = None) -> None:
        self.net = Network(seed, delay=D, tcp=config)
        self.c = self.net.add_host("client", CLIENT_IP)
        self.s = self.net.add_host("server", SERVER_IP)
        self.listener = self.s.listen(PORT)
        self.lost: list[Callable[[Segment], bool]] = []
        self.net.set_send_tap(self._tap)
        self.t3 = D + D + D  # as the arrivals add up

    def _tap(self, src: Host, seg: Segment, retransmission: bool) -> bool:
        for i, lose in enumerate(self.lost):
            if lose(seg):
                del self.lost[i]
                self.net.drop(src, seg, "lost")
                return False
        return True

    def establish(self) -> tuple[Connection, Connection]:
        a = self.c.connect(SERVER_IP, PORT)
        self.net.advance(self.t3)
        b = self.listener.accept()
        assert b is not None
        return a, b

    def fin_wait_1(self) -> tuple[Connection, Connection]:
        a, b = self.establish()
        a.shutdown(self.net.now)
        return a, b

    def fin_wait_2(self) -> tuple[Connection, Connection]:
        a, b = self.fin_wait_1()
        self.net.advance(self.t3 + D + D)
        return a, b

    def close_wait(self) -> tuple[Connection, Connection]:
        a, b = self.establish()
        b.shutdown(self.net.now)
        self.net.advance(self.t3 + D + D)
        return a, b

    def last_ack(self) -> tuple[Connection, Connection]:
        a, b = self.close_wait()
        a.shutdown(self.net.now)
        return a, b

    def closing(self) -> tuple[Connection, Connection]:
        a, b = self.establish()
        a.shutdown(self.net.now)
        b.shutdown(self.net.now)
        self.net.advance(self.t3 + D)
        return a, b

    def time_wait(self) -> tuple[Connection, Connection]:
        a, b = self.fin_wait_1()
        self.net.advance(self.t3 + D)
        b.shutdown(self.net.now)
        self.net.advance(self.t3 + D + D)
        return a, b

    def syn_received(self) -> tuple[Connection, Connection]:
        self.lost.append(lambda seg: seg.flags == ACK and seg.src_ip == CLIENT_IP)
        a = self.c.connect(SERVER_IP, PORT)
        self.net.advance(D + D)
        b = next(self.s.connections())
        return a, b


CASES: dict[str, tuple[Callable[..., ConnectionPair], str, State, State]] = {
    "established": (established_pair, "establish", State.ESTABLISHED, State.ESTABLISHED),
    "fin_wait_1": (fin_wait_1_pair, "fin_wait_1", State.FIN_WAIT_1, State.ESTABLISHED),
    "fin_wait_2": (fin_wait_2_pair, "fin_wait_2", State.FIN_WAIT_2, State.CLOSE_WAIT),
    "close_wait": (close_wait_pair, "close_wait", State.CLOSE_WAIT, State.FIN_WAIT_2),
    "last_ack": (last_ack_pair, "last_ack", State.LAST_ACK, State.FIN_WAIT_2),
    "closing": (closing_pair, "closing", State.CLOSING, State.CLOSING),
    "time_wait": (time_wait_pair, "time_wait", State.TIME_WAIT, State.LAST_ACK),
    "syn_received": (syn_received_pair, "syn_received", State.ESTABLISHED, State.SYN_RECEIVED),
}


def _lines(net: Network, since: float) -> list[str]:
    """The trace from ``since`` on; of that moment only the segments sent
    (what the real pair received and changed on then led to the moment)."""
    return [
        str(r) for r in net.trace.records if r.time > since or (r.time == since and r.kind == SEND)
    ]


def _tables(pair: tuple[Network, Host, Host, Connection, Connection]) -> tuple[object, ...]:
    net, c, s, a, b = pair
    listener = s.listener(PORT)
    assert listener is not None
    return (
        net.now,
        c.connection_count(),
        s.connection_count(),
        c.lookup((*a.local, *a.remote)) is a,
        s.lookup((*b.local, *b.remote)) is b,
        listener.pending(),
    )


def _both(name: str, **options: object) -> tuple[ConnectionPair, Real, Connection, Connection]:
    constructor, path, client_state, server_state = CASES[name]
    pair = constructor(**options)
    real = Real(config=options.get("config"))  # type: ignore[arg-type]
    a, b = getattr(real, path)()
    assert (pair.client.state, pair.server.state) == (client_state, server_state)
    assert (a.state, b.state) == (client_state, server_state)
    return pair, real, a, b


@pytest.mark.parametrize("name", sorted(CASES))
def test_constructed_pair_is_the_real_pair(name: str) -> None:
    pair, real, a, b = _both(name)
    assert pair.client.snapshot() == a.snapshot()
    assert pair.server.snapshot() == b.snapshot()
    built = (pair.network, pair.client_host, pair.server_host, pair.client, pair.server)
    assert _tables(built) == _tables((real.net, real.c, real.s, a, b))


def _follow(net: Network, a: Connection, b: Connection, since: float) -> list[str]:
    """What follows: a little data where it may still flow, then the closes,
    then everything to the end (TIME-WAIT included)."""
    now = net.now
    for conn in (a, b):
        if conn.state in (State.ESTABLISHED, State.CLOSE_WAIT, State.SYN_RECEIVED):
            conn.send(b"x" * 3000, now)
    net.advance(now + 0.5)
    for conn in (a, b):
        conn.close(net.now)
    net.run_until_idle(now + 300.0)
    return _lines(net, since)


def _same(name: str, built: list[str], real: list[str]) -> None:
    """Equal traces.  CLOSING only: both TIME-WAITs end at the same instant,
    and which one the event queue runs first depends on the wake-ups the
    real handshake left behind, not on TCP: equal moment by moment."""
    if name == "closing":
        built, real = sorted(built), sorted(real)
    assert built == real


@pytest.mark.parametrize("name", sorted(CASES))
def test_constructed_pair_then_the_same_trace(name: str) -> None:
    pair, real, a, b = _both(name)
    built = _follow(pair.network, pair.client, pair.server, pair.network.now)
    _same(name, built, _follow(real.net, a, b, real.net.now))
    assert pair.client.snapshot() == a.snapshot()
    assert pair.server.snapshot() == b.snapshot()


def _lose_first(flags: int) -> Callable[[Segment], bool]:
    return lambda seg: seg.flags & flags == flags


@pytest.mark.parametrize("name", sorted(CASES))
def test_constructed_pair_then_the_same_retransmissions(name: str) -> None:
    pair, real, a, b = _both(name)
    lost: list[Callable[[Segment], bool]] = [_lose_first(FIN), _lose_first(ACK)]
    for what in lost:
        real.lost.append(what)
    built_lost = list(lost)

    def tap(src: Host, seg: Segment, retransmission: bool) -> bool:
        for i, lose in enumerate(built_lost):
            if lose(seg):
                del built_lost[i]
                pair.network.drop(src, seg, "lost")
                return False
        return True

    pair.network.set_send_tap(tap)
    since = pair.network.now
    built = _follow(pair.network, pair.client, pair.server, since)
    _same(name, built, _follow(real.net, a, b, real.net.now))


def test_constructed_with_options_is_the_real_pair() -> None:
    config = TcpConfig(mss=536, rcvbuf=20000)
    pair, _real, a, b = _both("established", config=config)
    assert pair.client.snapshot() == a.snapshot()
    assert pair.server.snapshot() == b.snapshot()
    # The SYN-ACK's window is the buffer quantized to the MSS less the
    # timestamps option (Linux tcp_select_initial_window): 38 * 524.
    assert pair.client.snd_wnd == 19912


def test_options_isn_mss_window() -> None:
    pair = established_pair(
        client_isn=1000, server_isn=5000, client_mss=1000, server_window=30000, client_port=40000
    )
    a, b = pair.connections()
    assert (a.iss, a.irs, b.iss, b.irs) == (1000, 5000, 5000, 1000)
    # The SYN-ACK's window: 30000 quantized to 1460 - 12 (timestamps), 20 * 1448.
    assert (a.peer_mss, b.peer_mss, a.snd_wnd) == (1460, 1000, 28960)
    assert a.local[1] == 40000 and b.remote == a.local
    a.send(b"y" * 2500, pair.network.now)
    pair.network.run_until_idle(pair.network.now + 1.0)
    assert b.recv(5000, pair.network.now) == b"y" * 2500


def test_syn_sent_pair_is_connect() -> None:
    opening = syn_sent_pair()
    real = Real()
    a = real.c.connect(SERVER_IP, PORT)
    assert opening.client.snapshot() == a.snapshot()
    assert opening.client.state is State.SYN_SENT
    assert _lines(opening.network, 0.0) == _lines(real.net, 0.0)


def test_constructors_on_a_given_network() -> None:
    net = Network(3, delay=0.002)
    c = net.add_host("alpha")
    s = net.add_host("beta")
    net.link(s, c).update(delay=0.005)
    pair = fin_wait_2_pair(network=net, client=c, server=s, port=9000)
    assert (pair.client.state, pair.server.state) == (State.FIN_WAIT_2, State.CLOSE_WAIT)
    assert pair.t0 == pytest.approx(0.009)
    assert net.now == pytest.approx(0.009 + 0.007)
    assert pair.client.srtt == pytest.approx(0.007)


def test_closing_pair_needs_equal_delays() -> None:
    net = Network(3, delay=0.002)
    c = net.add_host("alpha")
    s = net.add_host("beta")
    net.link(s, c).update(delay=0.005)
    with pytest.raises(ValueError, match="closing_pair needs equal delays"):
        closing_pair(network=net, client=c, server=s)


def test_network_options_need_a_new_network() -> None:
    net = Network(3)
    with pytest.raises(ValueError, match=r"\['delay'\] apply to a new network"):
        established_pair(network=net, delay=0.1)
    with pytest.raises(ValueError, match="pass its client= and server= hosts"):
        established_pair(network=net)


def test_synchronize_refuses_disagreeing_facts() -> None:
    net = Network(1)
    c = net.add_host("client", CLIENT_IP)
    net.add_host("server", SERVER_IP)
    conn = c.new_connection(SERVER_IP, PORT)
    with pytest.raises(ValueError, match="state FIN-WAIT-2 disagrees with the FIN facts"):
        conn.synchronize(State.FIN_WAIT_2, 0.0, irs=1, peer_window=1000)
    with pytest.raises(ValueError, match="fin_acked_at needs fin_sent_at"):
        conn.synchronize(State.FIN_WAIT_2, 0.0, irs=1, peer_window=1000, fin_acked_at=0.0)
    with pytest.raises(ValueError, match="the times must be in order"):
        conn.synchronize(State.ESTABLISHED, 0.0, irs=1, peer_window=1000, established_at=1.0)
    conn.synchronize(State.ESTABLISHED, 0.0, irs=1, peer_window=1000)
    with pytest.raises(ValueError, match="needs a fresh connection"):
        conn.synchronize(State.ESTABLISHED, 0.0, irs=1, peer_window=1000)


def test_new_connection_refuses_a_taken_four_tuple() -> None:
    pair = established_pair()
    with pytest.raises(OSError, match="Address already in use"):
        pair.client_host.new_connection(SERVER_IP, PORT, local_port=pair.client.local[1])
    with pytest.raises(OSError, match="Cannot assign requested address"):
        pair.server_host.new_connection(*pair.client.local, listener=pair.listener)


def test_new_connection_needs_a_listening_listener_of_its_host() -> None:
    pair = established_pair()
    with pytest.raises(ValueError, match="listener must be listening on this host"):
        pair.client_host.new_connection(SERVER_IP, PORT, listener=pair.listener)
    pair.listener.close()
    with pytest.raises(ValueError, match="listener must be listening on this host"):
        pair.server_host.new_connection(CLIENT_IP, 40000, listener=pair.listener)
