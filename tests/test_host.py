"""The host stack on a sans-I/O network: listeners, backlog, ports, resets, TIME-WAIT."""

from __future__ import annotations

import errno
import socket

import pytest
from support import Recorder, read_all

from aiotcpsim import TcpConfig
from aiotcpsim.net import Network
from aiotcpsim.segment import ACK, FIN, RST, SYN, Segment
from aiotcpsim.tcp import State


def pair(seed: int = 1, delay: float = 0.01, **tcp: object) -> tuple[Network, object, object]:
    net = Network(seed=seed, delay=delay, tcp=TcpConfig(**tcp))  # type: ignore[arg-type]
    client = net.add_host("client", "10.0.0.1")
    server = net.add_host("server", "10.0.0.2")
    return net, client, server


def test_listen_handshake_accept_and_echo() -> None:
    net, client, server = pair()
    listener = server.listen(8080)
    app = Recorder()
    conn = client.connect("10.0.0.2", 8080, user=app)
    assert conn.state is State.SYN_SENT
    assert 32768 <= conn.local[1] <= 60999
    net.advance(0.02)
    assert conn.state is State.ESTABLISHED
    assert app.events[:1] == ["connected"]
    net.advance(0.03)
    child = listener.accept()
    assert child is not None
    assert child.state is State.ESTABLISHED
    assert child.remote == conn.local and child.local == conn.remote
    conn.send(b"ping", net.now)
    net.advance(0.1)
    assert read_all(child, net.now) == b"ping"


def test_closed_port_refuses_with_rst_ack() -> None:
    # CONFORMANCE 2: RST|ACK seq 0 ack ISN+1 -> ECONNREFUSED at 2d, no retransmission.
    net, client, _server = pair()
    app = Recorder()
    conn = client.connect("10.0.0.2", 9, user=app)
    net.run_until_idle()
    rst = net.trace.segments()[1]
    assert rst.flags == RST | ACK
    assert rst.seq == 0
    assert rst.ack == (conn.iss + 1) & 0xFFFFFFFF
    assert conn.state is State.CLOSED
    assert net.now == pytest.approx(0.02)
    assert conn.take_error() == errno.ECONNREFUSED
    assert "closed" in app.events
    assert net.statistics()["retransmissions"] == 0
    assert client.connection_count() == 0


def test_segment_to_closed_port_with_ack_gets_rst_seq_ack() -> None:
    # CONFORMANCE 19: ACK=N -> R N:N(0); no ACK -> R. 0 ack seq+len; RST -> nothing.
    net, client, _server = pair()
    sends = [
        Segment("10.0.0.1", 5000, "10.0.0.2", 80, 100, 777, ACK, 1000, b"abc"),
        Segment("10.0.0.1", 5000, "10.0.0.2", 80, 100, 0, FIN, 1000, b"ab"),
        Segment("10.0.0.1", 5000, "10.0.0.2", 80, 100, 0, RST, 0),
    ]
    for seg in sends:
        net.transmit(client, seg)
    net.run_until_idle()
    replies = [s for s in net.trace.segments() if s.src_ip == "10.0.0.2"]
    assert [(s.flags, s.seq, s.ack) for s in replies] == [
        (RST, 777, 0),
        (RST | ACK, 0, 103),
    ]


def test_listener_answers_bare_ack_with_rst_and_ignores_rst_and_fin() -> None:
    # CONFORMANCE 18
    net, client, server = pair()
    server.listen(8080)
    for seg in (
        Segment("10.0.0.1", 5000, "10.0.0.2", 8080, 0, 34, ACK, 1000),
        Segment("10.0.0.1", 5000, "10.0.0.2", 8080, 0, 0, RST, 0),
        Segment("10.0.0.1", 5000, "10.0.0.2", 8080, 0, 0, FIN, 0),
    ):
        net.transmit(client, seg)
    net.run_until_idle()
    replies = [s for s in net.trace.segments() if s.src_ip == "10.0.0.2"]
    assert [(s.flags, s.seq) for s in replies] == [(RST, 34)]


def test_backlog_admits_n_plus_one_then_drops_syns_silently() -> None:
    # CONFORMANCE 21 (a): listen(1) admits 2; the 3rd client's SYNs are dropped
    # until the server accepts, then its next retransmitted SYN (t=3) gets through.
    net, _client, server = pair(delay=0.001)
    listener = server.listen(8080, backlog=1)
    clients = [net.add_host(f"c{i}") for i in range(3)]
    conns = [c.connect(server.ip, 8080) for c in clients[:2]]
    net.advance(0.01)
    assert listener.pending() == 2
    # The third SYN comes once the queue is full (simultaneous SYNs would all be
    # answered and the overflow would hit the third ACK instead: CONFORMANCE 22).
    conns.append(clients[2].connect(server.ip, 8080))
    net.advance(0.02)
    assert [c.state for c in conns] == [State.ESTABLISHED, State.ESTABLISHED, State.SYN_SENT]
    net.advance(2.5)
    assert conns[2].state is State.SYN_SENT
    assert listener.accept() is not None
    net.advance(3.03)
    assert conns[2].state is State.ESTABLISHED
    syns = [s for s in net.trace.segments() if s.flags == SYN and s.src_ip == clients[2].ip]
    assert len(syns) == 4  # t = 0.01, 1.01, 2.01, 3.01
    assert not [s for s in net.trace.segments() if s.flags & RST]


def test_listener_close_resets_unaccepted_connections() -> None:
    net, client, server = pair()
    listener = server.listen(8080)
    conn = client.connect("10.0.0.2", 8080)
    net.advance(0.1)
    listener.close()
    net.advance(0.2)
    assert conn.state is State.CLOSED
    with pytest.raises(ConnectionResetError):
        conn.recv(100, net.now)


def test_ephemeral_ports_exhausted_by_time_wait_then_recover() -> None:
    # CONFORMANCE 24, on a 10-port range: each connection closed by the client
    # first leaves its 4-tuple in TIME-WAIT for 60 s.
    net, client, server = pair(ephemeral_ports=(40000, 40009))
    listener = server.listen(8080)
    for _ in range(10):
        conn = client.connect("10.0.0.2", 8080)
        net.advance(net.now + 0.05)
        child = listener.accept()
        assert child is not None
        conn.close(net.now)
        net.advance(net.now + 0.05)
        child.close(net.now)
        net.advance(net.now + 0.05)
        assert conn.state is State.TIME_WAIT
    with pytest.raises(OSError, match="Cannot assign requested address") as info:
        client.connect("10.0.0.2", 8080)
    assert info.value.errno == errno.EADDRNOTAVAIL
    # A different destination port still works: ports are per 4-tuple.
    server.listen(8081)
    client.connect("10.0.0.2", 8081)
    net.advance(net.now + 60.0)  # the oldest TIME-WAITs have drained
    conn = client.connect("10.0.0.2", 8080)
    net.advance(net.now + 0.05)
    assert conn.state is State.ESTABLISHED


def test_bind_conflicts() -> None:
    # CONFORMANCE 25
    net, client, server = pair()
    server.listen(8080)
    with pytest.raises(OSError, match="Address already in use") as info:
        server.listen(8080)
    assert info.value.errno == errno.EADDRINUSE
    # (b) a client port held by TIME-WAIT of a socket without SO_REUSEADDR.
    conn = client.connect("10.0.0.2", 8080, local_port=7000)
    net.advance(0.1)
    child = server.listener(8080).accept()  # type: ignore[union-attr]
    conn.close(net.now)
    net.advance(0.2)
    child.close(net.now)
    net.advance(0.3)
    assert conn.state is State.TIME_WAIT
    with pytest.raises(OSError, match="Address already in use"):
        client.connect("10.0.0.2", 8080, local_port=7000, reuse_address=True)


def test_server_restart_over_time_wait_children_with_reuse_address() -> None:
    # CONFORMANCE 25 (c): the server closed first, its children hold TIME-WAIT;
    # a new listener with SO_REUSEADDR binds the port anyway.
    net, client, server = pair()
    listener = server.listen(8080)
    conn = client.connect("10.0.0.2", 8080)
    net.advance(0.1)
    child = listener.accept()
    assert child is not None
    child.close(net.now)
    net.advance(0.2)
    conn.close(net.now)
    net.advance(0.3)
    assert child.state is State.TIME_WAIT
    listener.close()
    server.listen(8080)  # reuse_address=True, as asyncio.start_server sets it
    with pytest.raises(OSError, match="Address already in use"):
        server.listen(8080)


def test_time_wait_reopened_by_new_syn_with_higher_sequence() -> None:
    # CONFORMANCE 37 (a): the server holds TIME-WAIT; the client reconnects from
    # the same port with a SYN above rcv_nxt; the new ISN is tw_snd_nxt + 65537.
    # Without timestamps: with them a newer TSval alone would reopen it too
    # (tests/core/test_paws.py), and the sequence rule is the point here.
    net, client, server = pair(timestamps=0)
    listener = server.listen(8080)
    conn = client.connect("10.0.0.2", 8080, local_port=40000)
    net.advance(0.1)
    child = listener.accept()
    assert child is not None
    child.close(net.now)
    net.advance(0.2)
    conn.close(net.now)
    net.advance(0.3)
    assert child.state is State.TIME_WAIT
    old_snd_nxt = child.snd_nxt
    old_rcv_nxt = child.rcv_nxt
    new = None
    for attempt in range(50):  # find an ISN above the old rcv_nxt (random ISNs)
        candidate = client.connect("10.0.0.2", 8080, local_port=40000)
        if candidate.iss - old_rcv_nxt & 0x80000000 == 0 and candidate.iss != old_rcv_nxt:
            new = candidate
            break
        candidate.abort(net.now)
        candidate.drop(net.now)
        net.advance(net.now + 0.0001 * (attempt + 1))
    assert new is not None
    net.advance(net.now + 0.1)
    assert new.state is State.ESTABLISHED
    synack = next(
        s for s in reversed(net.trace.segments()) if s.flags == SYN | ACK and s.ack == new.iss + 1
    )
    assert synack.seq == (old_snd_nxt + 65537) & 0xFFFFFFFF


def test_unknown_name_is_gaierror() -> None:
    net = Network()
    with pytest.raises(socket.gaierror, match="Name or service not known"):
        net.resolve("nowhere")
    with pytest.raises(socket.gaierror):
        net.localhost.connect("nowhere", 80)
    assert net.resolve("localhost") == "127.0.0.1"
    assert net.resolve("10.1.2.3") == "10.1.2.3"


def test_loopback_connection_within_one_host() -> None:
    net = Network()
    listener = net.localhost.listen(8000)
    conn = net.localhost.connect("127.0.0.1", 8000)
    net.advance(0.001)
    child = listener.accept()
    assert child is not None
    conn.send(b"hello", net.now)
    net.advance(0.002)
    assert read_all(child, net.now) == b"hello"


def test_crashed_host_resets_peer_after_restart() -> None:
    # CONFORMANCE 51 (b)
    net, client, server = pair()
    server.listen(8080)
    conn = client.connect("10.0.0.2", 8080)
    net.advance(0.1)
    server.crash()
    net.advance(3.0)
    server.restart()
    net.advance(5.0)
    conn.send(b"0123456789", net.now)
    net.advance(5.1)
    assert conn.state is State.CLOSED
    with pytest.raises(ConnectionResetError):
        conn.recv(10, net.now)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"loss": 1.5}, "loss must be between 0 and 1"),
        ({"delay": -1}, "delay must be"),
        ({"duplicate": -0.1}, "duplicate must be between 0 and 1"),
    ],
)
def test_network_rejects_impossible_impairments(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Network(**kwargs)  # type: ignore[arg-type]


def test_config_rejects_bad_values_naming_the_field() -> None:
    with pytest.raises(ValueError, match=r"TcpConfig\.syn_retries must be >= 0"):
        TcpConfig(syn_retries=-1)
    with pytest.raises(ValueError, match=r"TcpConfig\.ephemeral_ports"):
        TcpConfig(ephemeral_ports=(5, 1))
    assert TcpConfig.legacy_linux().syn_linear_timeouts == 0
    assert TcpConfig.rfc().time_wait == 240.0


def test_time_never_goes_backwards() -> None:
    net = Network()
    net.advance(5)
    with pytest.raises(ValueError, match="time cannot go backwards"):
        net.advance(4)


def test_zero_window_stall_of_days_keeps_probing_then_resumes() -> None:
    # CONFORMANCE 54: probes back off to rto_max and never give up while they
    # are answered, however long the reader sleeps (here two simulated days).
    # Unscaled windows: the point is a buffer full to its exact last byte.
    net, client, server = pair(rcvbuf=4096, sndbuf=8192, window_scaling=False)
    listener = server.listen(8080)
    conn = client.connect("10.0.0.2", 8080)
    net.advance(0.1)
    child = listener.accept()
    assert child is not None
    sent = conn.send(b"x" * 8192, net.now)
    net.advance(200_000.0)
    assert conn.state is State.ESTABLISHED
    assert child.readable_bytes == 4096
    probes = [s for s in net.trace.segments() if s.src_ip == "10.0.0.1" and not s.payload]
    assert len(probes) > 1000
    assert read_all(child, net.now) == b"x" * 4096
    net.advance(net.now + 300.0)  # the window update, then the rest of the data
    assert read_all(child, net.now) == b"x" * (sent - 4096)


def test_bound_port_refuses_until_listen_then_accepts() -> None:
    # bind() without listen(): the port is taken, a SYN draws RST|ACK as at a
    # closed port; after listen() the handshake completes.
    net, client, server = pair()
    bound = server.bind(8080)
    assert bound.state is State.CLOSED
    with pytest.raises(OSError, match="Address already in use") as info:
        server.listen(8080, reuse_address=False)  # SO_REUSEADDR on one socket only
    assert info.value.errno == errno.EADDRINUSE
    refused = client.connect("10.0.0.2", 8080)
    net.advance(0.05)
    assert refused.state is State.CLOSED
    assert refused.take_error() == errno.ECONNREFUSED
    bound.listen(5)
    assert bound.state is State.LISTEN
    assert bound.backlog == 5
    conn = client.connect("10.0.0.2", 8080)
    net.advance(0.1)
    assert conn.state is State.ESTABLISHED
    assert bound.accept() is not None


def test_connect_to_port_zero_is_refused_as_by_linux() -> None:
    net, client, _server = pair()
    conn = client.connect("10.0.0.2", 0)
    net.advance(0.05)
    assert conn.take_error() == errno.ECONNREFUSED


# -- an address no host owns (Linux: ARP gives up, or there is no route) --------------------


def test_connect_to_on_link_address_without_host_fails_ehostunreach_after_arp_gives_up() -> None:
    # Linux: neigh mcast_solicit 3 probes, retrans_time 1 s: the entry fails at
    # 3 s and the queued SYN draws a local ICMP host unreachable -> EHOSTUNREACH.
    net, client, _server = pair()
    app = Recorder()
    conn = client.connect("10.0.0.99", 8080, user=app)
    net.advance(2.9)
    assert conn.state is State.SYN_SENT
    net.advance(3.0)
    assert conn.state is State.CLOSED
    assert conn.take_error() == errno.EHOSTUNREACH
    assert any("no host at 10.0.0.99" in r.text for r in net.trace)


def test_connect_to_address_without_route_fails_enetunreach_at_once() -> None:
    net, client, _server = pair()
    with pytest.raises(OSError, match="Network is unreachable") as info:
        client.connect("192.0.2.7", 8080)
    assert info.value.errno == errno.ENETUNREACH
    assert client.connection_count() == 0
    assert net.stats["segments_sent"] == 0


# -- listeners keyed by (address, port), as Linux ------------------------------------------


def test_listener_on_loopback_is_unreachable_from_other_hosts() -> None:
    # uvicorn's default bind: a server on 127.0.0.1 only; a SYN to 10.0.0.2 draws a RST.
    net, client, server = pair()
    server.listen(8080, ip="127.0.0.1")
    refused = client.connect("10.0.0.2", 8080)
    net.advance(0.05)
    assert refused.state is State.CLOSED
    assert refused.take_error() == errno.ECONNREFUSED
    local = server.connect("127.0.0.1", 8080)
    net.advance(1.0)
    assert local.state is State.ESTABLISHED


def test_wildcard_listener_accepts_on_every_address() -> None:
    net, client, server = pair()
    server.listen(8080, ip="0.0.0.0")
    remote = client.connect("10.0.0.2", 8080)
    local = server.connect("127.0.0.1", 8080)
    net.advance(0.05)
    assert remote.state is State.ESTABLISHED
    assert local.state is State.ESTABLISHED


def test_specific_listener_wins_over_wildcard() -> None:
    _net, _client, server = pair()
    wild = server.bind(8080, ip="0.0.0.0")
    loop = server.bind(8080, ip="127.0.0.1")
    loop.listen(5)
    assert server.listener(8080, "127.0.0.1") is loop
    with pytest.raises(OSError, match="Address already in use"):
        wild.listen(5)


def test_two_specific_addresses_share_a_port() -> None:
    net, client, server = pair()
    outside = server.listen(8080, ip="10.0.0.2", reuse_address=False)
    inside = server.listen(8080, ip="127.0.0.1", reuse_address=False)
    remote = client.connect("10.0.0.2", 8080)
    local = server.connect("127.0.0.1", 8080)
    net.advance(0.05)
    assert remote.state is State.ESTABLISHED and local.state is State.ESTABLISHED
    assert outside.accept() is not None and inside.accept() is not None


@pytest.mark.parametrize(
    ("first", "second", "reuse", "first_listens", "outcome"),
    [
        # Measured on Linux loopback (bind, listen): inet_csk_bind_conflict.
        ("127.0.0.1", "127.0.0.1", False, False, "bind"),
        ("0.0.0.0", "127.0.0.1", False, False, "bind"),
        ("127.0.0.1", "0.0.0.0", False, True, "bind"),
        ("0.0.0.0", "127.0.0.1", True, True, "bind"),
        ("0.0.0.0", "127.0.0.1", True, False, "first-listen"),
        ("127.0.0.1", "127.0.0.1", True, False, "first-listen"),
        ("127.0.0.1", "127.0.0.2", False, True, "ok"),
    ],
)
def test_bind_conflicts_as_linux(
    first: str, second: str, reuse: bool, first_listens: bool, outcome: str
) -> None:
    _net, _client, server = pair()
    a = server.bind(8080, ip=first, reuse_address=reuse)
    if first_listens:
        a.listen(5)
    if outcome == "bind":
        with pytest.raises(OSError, match="Address already in use"):
            server.bind(8080, ip=second, reuse_address=reuse)
        return
    b = server.bind(8080, ip=second, reuse_address=reuse)
    b.listen(5)
    if outcome == "first-listen":
        with pytest.raises(OSError, match="Address already in use"):
            a.listen(5)


# -- add_host validation -------------------------------------------------------------------


def test_add_host_rejects_a_name_that_is_an_address() -> None:
    net = Network(seed=1)
    server = net.add_host("server")
    with pytest.raises(ValueError, match=r"host name '10\.0\.0\.\d+' is an IP address"):
        net.add_host(server.ip)
    with pytest.raises(ValueError, match=r"host name '192\.168\.1\.1' is an IP address"):
        net.add_host("192.168.1.1")
    with pytest.raises(ValueError, match=r"host name 'fd00::9' is an IP address"):
        net.add_host("fd00::9")


@pytest.mark.parametrize("ip", ["127.0.0.1", "127.0.0.2", "127.255.0.9"])
def test_add_host_rejects_a_loopback_address(ip: str) -> None:
    net = Network(seed=1)
    with pytest.raises(ValueError, match=r"ip 127\.\S+ is in 127\.0\.0\.0/8: loopback belongs"):
        net.add_host("db", ip)
    assert [h.name for h in net.hosts] == ["localhost"]


def test_add_host_rejects_wrong_types() -> None:
    net = Network(seed=1)
    with pytest.raises(TypeError, match="tcp must be a TcpConfig or None, got 5"):
        net.add_host("db", tcp=5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="ip must be a str"):
        net.add_host("db", 167772161)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ip 'x' is not an IPv4 address"):
        net.add_host("db", "x")
    assert net.add_host("db").name == "db"  # the network is still usable
