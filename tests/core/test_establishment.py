"""Ladders of connection establishment (``../shared/CONFORMANCE.md`` section A).

Client ``c`` = 10.0.0.1, server ``s`` = 10.0.0.2:8080, one-way delay d = 10 ms
unless a test says otherwise.  Rows are ``(direction, time, flags, seq, ack, len)``
with seq/ack relative to the ISNs (see ``ladder.py``).
"""

from __future__ import annotations

import errno

import pytest
from ladder import A_IP, B_IP, App, Pair, recv_all

from aiotcpsim import TcpConfig
from aiotcpsim.segment import ACK, FIN, RST, SYN
from aiotcpsim.tcp import Connection, State

# -- 1. three-way handshake ----------------------------------------------------------


def test_listen_syn_three_way_handshake() -> None:
    p = Pair()
    server_app = App(p)
    listener = p.listen(backlog=100, user=server_app)
    client_app = App(p)
    conn = p.connect(user=client_app)
    assert conn.state is State.SYN_SENT
    assert 32768 <= conn.local[1] <= 60999
    p.at(0.03)
    assert p.rows() == [
        ("c>s", 0.0, "S", 0, None, 0),
        ("s>c", 0.01, "S.", 0, 1, 0),
        ("c>s", 0.02, ".", 1, 1, 0),
    ]
    assert p.states() == [
        (0.0, "c", "SYN-SENT"),
        (0.01, "s", "SYN-RECEIVED"),
        (0.02, "c", "ESTABLISHED"),
        (0.03, "s", "ESTABLISHED"),
    ]
    assert client_app.first("connected") == 0.02
    assert server_app.first("acceptable") == 0.03
    child = listener.accept()
    assert child is not None
    assert child.local == conn.remote == (B_IP, 8080)
    assert child.remote == conn.local
    assert (child.irs, conn.irs) == (conn.iss, child.iss)
    assert conn.snd_nxt == child.rcv_nxt == (conn.iss + 1) & 0xFFFFFFFF
    assert child.snd_nxt == conn.rcv_nxt == (child.iss + 1) & 0xFFFFFFFF


def test_syn_sent_syn_carries_mss_option_and_no_data() -> None:
    p = Pair()
    p.listen()
    conn = p.connect()
    assert conn.send(b"early" * 20, p.net.now) == 100  # queued in SYN-SENT
    p.at(0.03)
    syn, synack = p.net.trace.segments()[:2]
    assert syn.flags == SYN and syn.payload == b"" and syn.options.mss == 1460
    assert synack.flags == SYN | ACK and synack.payload == b"" and synack.options.mss == 1460
    # The queued bytes follow the handshake, on or after the third ACK.
    data = [row for row in p.rows() if row[5]]
    assert data == [("c>s", 0.02, "P.", 1, 1, 100)]
    child = p.listener.accept()  # type: ignore[union-attr]
    assert child is not None
    assert recv_all(child, p.net.now) == b"early" * 20


# -- 2. connect to a port with no listener ------------------------------------------------


def test_syn_sent_rst_ack_refuses() -> None:
    p = Pair()
    app = App(p)
    conn = p.connect(port=9, user=app)
    p.idle()
    assert p.rows() == [
        ("c>s", 0.0, "S", 0, None, 0),
        ("s>c", 0.01, "R.", 0, 1, 0),  # seq 0, ack = SEG.SEQ + 1
    ]
    assert p.states("c") == [(0.0, "c", "SYN-SENT"), (0.02, "c", "CLOSED")]
    assert p.now == 0.02
    assert conn.error == errno.ECONNREFUSED
    assert app.first("closed") == 0.02
    with pytest.raises(ConnectionRefusedError):
        conn.recv(100, p.net.now)
    assert conn.recv(100, p.net.now) == b""  # the error is reported once
    assert p.net.statistics()["retransmissions"] == 0
    assert p.c.connection_count() == 0  # the ephemeral port is free again


# -- 3, 4, 5. SYN retransmission ladders -----------------------------------------------


def blackholed_connect(p: Pair, **kwargs: object) -> tuple[list[float], float]:
    """Connect with every client->server segment lost; return the SYN times
    and the time the connection failed."""
    p.net.link(p.c, p.s).update(loss=1.0)
    app = App(p)
    conn = p.connect(user=app, **kwargs)
    p.idle()
    rows = p.rows()
    assert {row[0] for row in rows} == {"c>s✗"}
    assert {row[2:] for row in rows} == {("S", 0, None, 0)}
    assert conn.state is State.CLOSED
    assert conn.error == errno.ETIMEDOUT
    with pytest.raises(TimeoutError):
        conn.recv(1, p.net.now)
    closed = p.states("c")[-1]
    assert closed[2] == "CLOSED"
    assert app.first("closed") == closed[0]
    return [row[1] for row in rows], closed[0]


def test_syn_sent_blackhole_linux_gives_up_at_131s() -> None:
    syns, failed = blackholed_connect(Pair())
    assert syns == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 7.0, 11.0, 19.0, 35.0, 67.0]
    assert failed == 131.0


def test_syn_sent_blackhole_legacy_linux_gives_up_at_127s() -> None:
    syns, failed = blackholed_connect(Pair(config=TcpConfig.legacy_linux()))
    assert syns == [0.0, 1.0, 3.0, 7.0, 15.0, 31.0, 63.0]
    assert failed == 127.0


@pytest.mark.parametrize(
    ("config", "syn_retries", "syns", "failed"),
    [
        (TcpConfig.linux(), 3, [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 7.0, 11.0], 19.0),
        (TcpConfig.legacy_linux(), 3, [0.0, 1.0, 3.0, 7.0], 15.0),
        # TCP_SYNCNT=1: the time bound (2**2 - 1) s wins over the count.
        (TcpConfig.linux(), 1, [0.0, 1.0, 2.0], 3.0),
        (TcpConfig.legacy_linux(), 1, [0.0, 1.0], 3.0),
    ],
    ids=["L65-syncnt3", "L64-syncnt3", "L65-syncnt1", "L64-syncnt1"],
)
def test_syn_sent_tcp_syncnt_limits_retransmissions(
    config: TcpConfig, syn_retries: int, syns: list[float], failed: float
) -> None:
    got, when = blackholed_connect(Pair(config=config), syn_retries=syn_retries)
    assert (got, when) == (syns, failed)


def test_syn_sent_syn_retries_from_config() -> None:
    got, when = blackholed_connect(Pair(syn_retries=3))
    assert (got, when) == ([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 7.0, 11.0], 19.0)


# -- 6. first SYN lost --------------------------------------------------------------------


def test_syn_sent_first_syn_lost_retransmitted_at_1s() -> None:
    p = Pair()
    p.listen()
    app = App(p)
    p.drop("c>s", "S")
    conn = p.connect(user=app)
    p.at(1.03)
    assert p.rows() == [
        ("c>s✗", 0.0, "S", 0, None, 0),
        ("c>s", 1.0, "S", 0, None, 0),
        ("s>c", 1.01, "S.", 0, 1, 0),
        ("c>s", 1.02, ".", 1, 1, 0),
    ]
    assert app.first("connected") == 1.02
    assert conn.state is State.ESTABLISHED
    assert p.states("s")[-1] == (1.03, "s", "ESTABLISHED")
    assert conn.retransmissions == 1


@pytest.mark.parametrize(("early_retrans", "resent"), [(0, 5.0), (3, 3.0)])
def test_established_after_syn_retransmission_data_rto_falls_back_to_3s(
    early_retrans: int, resent: float
) -> None:
    # RFC 6298 5.7 / TCP_TIMEOUT_FALLBACK: no valid RTT sample (Karn), so the
    # first data RTO is 3 s.  Without timestamps, whose echo would time the
    # retransmitted SYN (the next test).  With loss probes (the default) the
    # probe comes first, TCP_TIMEOUT_INIT (1 s) after the segment when there
    # is no SRTT (tcp_schedule_loss_probe).
    p = Pair(timestamps=0, early_retrans=early_retrans)
    p.listen()
    p.drop("c>s", "S")
    conn = p.connect()
    p.at(2.0)
    p.drop("c>s", "P.")
    conn.send(b"x" * 100, p.net.now)
    p.at(5.05)
    assert p.rows(since=2.0) == [
        ("c>s✗", 2.0, "P.", 1, 1, 100),
        ("c>s", resent, "P.", 1, 1, 100),
        ("s>c", resent + 0.01, ".", 1, 101, 0),
    ]


def test_established_after_syn_retransmission_rtt_from_the_timestamp_echo() -> None:
    # Linux tcp_ack_update_rtt: the retransmitted SYN is not timed by the clock,
    # but the SYN-ACK echoes its TSval: a 20 ms sample, so the first data RTO is
    # 0.02 + max(4 * 0.01, 0.2) = 0.22 s, not the 3 s fallback.
    p = Pair()
    p.listen()
    p.drop("c>s", "S")
    conn = p.connect()
    p.at(2.0)
    assert conn.srtt == 0.02
    p.drop("c>s", "P.")
    conn.send(b"x" * 100, p.net.now)
    p.at(2.5)
    assert p.rows(since=2.0) == [
        ("c>s✗", 2.0, "P.", 1, 1, 100),
        ("c>s", 2.22, "P.", 1, 1, 100),
        ("s>c", 2.23, ".", 1, 101, 0),
    ]


# -- 7. SYN-ACK lost once ------------------------------------------------------------------


def test_syn_received_lost_synack_healed_at_1s() -> None:
    p = Pair()
    listener = p.listen()
    app = App(p)
    p.drop("s>c", "S.")
    conn = p.connect(user=app)
    p.idle()
    rows = p.rows()
    assert rows == [
        ("c>s", 0.0, "S", 0, None, 0),
        ("s>c✗", 0.01, "S.", 0, 1, 0),
        ("c>s", 1.0, "S", 0, None, 0),
        # B's own SYN-ACK timer (d + 1) and the duplicate SYN coincide at 1.01:
        # the timer fires first, then the duplicate SYN draws another SYN-ACK.
        ("s>c", 1.01, "S.", 0, 1, 0),
        ("s>c", 1.01, "S.", 0, 1, 0),
        ("c>s", 1.02, ".", 1, 1, 0),
        ("c>s", 1.02, ".", 1, 1, 0),  # the second SYN-ACK: a duplicate ACK
    ]
    assert app.first("connected") == 1.02
    assert conn.state is State.ESTABLISHED
    child = listener.accept()
    assert child is not None and child.state is State.ESTABLISHED
    assert p.states("s") == [(0.01, "s", "SYN-RECEIVED"), (1.03, "s", "ESTABLISHED")]
    assert not [row for row in rows if "R" in row[2]]


# -- 8. return path down: SYN-ACK retransmission (synack_retries 5) ------------------------


def test_syn_received_synack_retransmitted_five_times_then_request_dropped() -> None:
    p = Pair()
    listener = p.listen()
    p.net.link(p.s, p.c).update(loss=1.0)
    p.tuple = (A_IP, 40000, B_IP, 8080)
    p.isn["c"] = 1000
    p.send("c>s", SYN, 0)  # one SYN, never retransmitted (no client TCB)
    p.idle()
    synacks = [row for row in p.rows() if row[0].startswith("s")]
    assert synacks == [
        ("s>c✗", when, "S.", 0, 1, 0) for when in (0.01, 1.01, 3.01, 7.01, 15.01, 31.01)
    ]
    assert p.states("s") == [(0.01, "s", "SYN-RECEIVED"), (63.01, "s", "CLOSED")]
    assert listener.accept() is None
    assert p.s.connection_count() == 0


def test_syn_received_synack_retries_knob() -> None:
    p = Pair(synack_retries=2)
    p.listen()
    p.net.link(p.s, p.c).update(loss=1.0)
    p.tuple = (A_IP, 40000, B_IP, 8080)
    p.send("c>s", SYN, 0)
    p.idle()
    assert [row[1] for row in p.rows() if row[0].startswith("s")] == [0.01, 1.01, 3.01]
    assert p.states("s")[-1] == (7.01, "s", "CLOSED")


def test_syn_sent_return_path_down_times_out_and_server_never_accepts() -> None:
    p = Pair(delay=0.0)
    listener = p.listen()
    p.net.link(p.s, p.c).update(loss=1.0)
    conn = p.connect()
    p.idle()
    syns = [row[1] for row in p.rows() if row[0] == "c>s"]
    assert syns == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 7.0, 11.0, 19.0, 35.0, 67.0]
    synacks = [row for row in p.rows() if row[0] == "s>c✗"]
    assert {row[2] for row in synacks} == {"S."}
    # The first request's own timer: 0, 1, 3, 7, 15, 31; the request is dropped at 63 s
    # and the SYN at 67 s starts a new one.
    timer = [0.0, 1.0, 3.0, 7.0, 15.0, 31.0]
    assert set(timer) <= {row[1] for row in synacks}
    assert conn.error == errno.ETIMEDOUT
    assert p.states("c")[-1] == (131.0, "c", "CLOSED")
    assert listener.accept() is None
    assert p.s.connection_count() == 0


# -- 9. the third ACK is lost; data completes the handshake -----------------------------


def test_syn_received_data_on_third_ack_completes_handshake() -> None:
    p = Pair()
    server_app = App(p)
    listener = p.listen(user=server_app)
    p.drop("c>s", ".", length=0)
    conn = p.connect()
    p.at(0.02)
    assert conn.state is State.ESTABLISHED
    conn.send(b"d" * 100, p.net.now)  # the application writes right after connect
    p.at(0.03)
    assert p.rows() == [
        ("c>s", 0.0, "S", 0, None, 0),
        ("s>c", 0.01, "S.", 0, 1, 0),
        ("c>s✗", 0.02, ".", 1, 1, 0),
        ("c>s", 0.02, "P.", 1, 1, 100),
        ("s>c", 0.03, ".", 1, 101, 0),
    ]
    assert server_app.first("acceptable") == 0.03
    child = listener.accept()
    assert child is not None
    assert child.readable_bytes == 100
    assert recv_all(child, p.net.now) == b"d" * 100


# -- 11, 12, 13. simultaneous open ----------------------------------------------------------


def crossed_syns(p: Pair) -> tuple[Connection, Connection]:
    a = p.c.connect(B_IP, 7002, local_port=7001)
    b = p.s.connect(A_IP, 7001, local_port=7002)
    return a, b


def test_syn_sent_crossed_syns_simultaneous_open() -> None:
    p = Pair()
    a, b = crossed_syns(p)
    p.idle()
    rows = p.rows()
    assert rows[:4] == [
        ("c>s", 0.0, "S", 0, None, 0),
        ("s>c", 0.0, "S", 0, None, 0),
        ("s>c", 0.01, "S.", 0, 1, 0),  # A's SYN was sent first, so it arrives first
        ("c>s", 0.01, "S.", 0, 1, 0),
    ]
    # An implementation may add pure ACKs, never a RST.
    assert all(row[2] == "." and row[5] == 0 for row in rows[4:])
    assert p.states("c") == [
        (0.0, "c", "SYN-SENT"),
        (0.01, "c", "SYN-RECEIVED"),
        (0.02, "c", "ESTABLISHED"),
    ]
    assert p.states("s") == [
        (0.0, "s", "SYN-SENT"),
        (0.01, "s", "SYN-RECEIVED"),
        (0.02, "s", "ESTABLISHED"),
    ]
    a.send(b"hello", p.net.now)
    p.idle()
    assert recv_all(b, p.net.now) == b"hello"


def test_syn_received_simultaneous_open_lost_synack_retransmitted() -> None:
    p = Pair()
    p.drop("c>s", "S.")
    a, b = crossed_syns(p)
    p.at(0.02)
    assert a.state is State.ESTABLISHED
    assert b.state is State.SYN_RECEIVED
    p.idle()
    assert p.rows() == [
        ("c>s", 0.0, "S", 0, None, 0),
        ("s>c", 0.0, "S", 0, None, 0),
        ("s>c", 0.01, "S.", 0, 1, 0),
        ("c>s✗", 0.01, "S.", 0, 1, 0),
        ("s>c", 1.01, "S.", 0, 1, 0),  # B's SYN-ACK timer (RTO 1 s)
        ("c>s", 1.02, ".", 1, 1, 0),  # ACK from ESTABLISHED
    ]
    assert p.states("s")[-1] == (1.03, "s", "ESTABLISHED")


def test_syn_sent_self_connect() -> None:
    p = Pair()
    host = p.net.localhost
    conn = host.connect("127.0.0.1", 7100, local_port=7100)
    p.idle()
    rows = p.rows()
    assert rows[:2] == [
        ("l>l", 0.0, "S", 0, None, 0),
        ("l>l", 0.01, "S.", 0, 1, 0),
    ]
    assert all(row[2] == "." for row in rows[2:])
    assert conn.state is State.ESTABLISHED
    conn.send(b"echo", p.net.now)
    p.idle()
    assert recv_all(conn, p.net.now) == b"echo"


# -- 14. old duplicate SYN --------------------------------------------------------------------


def test_syn_sent_old_duplicate_syn_is_reset_not_established() -> None:
    # RFC 9293 figure 8, with the RFC's own numbers.
    p = Pair()
    listener = p.listen()
    p.c.isn_generator = lambda: 100
    server_isns = iter([300, 400])
    p.s.isn_generator = lambda: next(server_isns)
    p.isn = {"c": 0, "s": 0}  # absolute numbers in this ladder
    held = p.hold("c>s", "S")
    p.connect()  # 1: A's SYN seq=100, held
    p.send("c>s", SYN, 90)  # 2: an old SYN seq=90 on the same 4-tuple
    p.at(0.03)
    p.release(held)  # 5: A's SYN arrives at 0.04
    p.at(0.07)
    assert p.rows() == [
        ("c>s⏸", 0.0, "S", 100, None, 0),
        ("c>s", 0.0, "S", 90, None, 0),
        ("s>c", 0.01, "S.", 300, 91, 0),  # 3
        ("c>s", 0.02, "R", 91, None, 0),  # 4: ack 91 != 101, RST seq = SEG.ACK
        ("s>c", 0.04, "S.", 400, 101, 0),  # 6
        ("c>s", 0.05, ".", 101, 401, 0),  # 7
    ]
    assert p.states("s") == [
        (0.01, "s", "SYN-RECEIVED"),
        (0.03, "s", "LISTEN"),
        (0.04, "s", "SYN-RECEIVED"),
        (0.06, "s", "ESTABLISHED"),
    ]
    assert p.states("c") == [(0.0, "c", "SYN-SENT"), (0.05, "c", "ESTABLISHED")]
    child = listener.accept()
    assert child is not None and child.irs == 100
    assert listener.accept() is None


# -- 15, 16. SYN-SENT and bad SYN-ACKs / RSTs ------------------------------------------------


def unanswered_connect(p: Pair) -> Connection:
    """A client in SYN-SENT whose SYNs reach nobody; the server's side of the
    ladder is written by hand with ISN 5000."""
    p.net.link(p.c, p.s).update(loss=1.0)
    conn = p.connect()
    p.isn = {"c": conn.iss, "s": 5000}
    return conn


@pytest.mark.parametrize("bad_ack", [0, 2])
def test_syn_sent_synack_with_bad_ack_draws_rst_and_syn_retransmission_continues(
    bad_ack: int,
) -> None:
    p = Pair()
    conn = unanswered_connect(p)
    p.at(0.01)
    p.send("s>c", SYN, 0, ack=bad_ack)
    p.at(1.0)
    assert p.rows() == [
        ("c>s✗", 0.0, "S", 0, None, 0),
        ("s>c", 0.01, "S.", 0, bad_ack, 0),
        ("c>s✗", 0.02, "R", bad_ack, None, 0),  # <SEQ=SEG.ACK><CTL=RST>
        ("c>s✗", 1.0, "S", 0, None, 0),
    ]
    assert conn.state is State.SYN_SENT


@pytest.mark.parametrize(
    ("flags", "ack"),
    [(RST, None), (RST, 0), (RST, 2)],
    ids=["no-ack", "ack-below", "ack-above"],
)
def test_syn_sent_rst_with_unacceptable_ack_is_ignored(flags: int, ack: int | None) -> None:
    p = Pair()
    conn = unanswered_connect(p)
    p.at(0.01)
    p.send("s>c", flags, 0, ack=ack)
    p.at(1.0)
    assert [row[1:] for row in p.rows() if row[0].startswith("c")] == [
        (0.0, "S", 0, None, 0),
        (1.0, "S", 0, None, 0),
    ]
    assert conn.state is State.SYN_SENT
    assert conn.error is None


def test_syn_sent_rst_ack_with_exact_ack_refuses() -> None:
    p = Pair()
    app = App(p)
    p.net.link(p.c, p.s).update(loss=1.0)
    conn = p.connect(user=app)
    p.isn = {"c": conn.iss, "s": 0}
    p.at(0.5)
    p.send("s>c", RST, 0, ack=1)
    p.at(0.51)
    assert conn.state is State.CLOSED
    assert p.states("c")[-1] == (0.51, "c", "CLOSED")
    assert conn.take_error() == errno.ECONNREFUSED
    assert conn.take_error() is None
    p.idle()
    assert len([row for row in p.rows() if row[0].startswith("c")]) == 1  # no retransmission


# -- 17. RST in SYN-RECEIVED ---------------------------------------------------------------


def test_syn_received_rst_returns_to_listen() -> None:
    p = Pair()
    app = App(p)
    listener = p.listen(user=app)
    p.tuple = (A_IP, 40000, B_IP, 8080)
    p.isn["c"] = 1000
    p.send("c>s", SYN, 0)  # the client host has no TCB: it resets the SYN-ACK
    p.at(0.1)
    assert p.rows() == [
        ("c>s", 0.0, "S", 0, None, 0),
        ("s>c", 0.01, "S.", 0, 1, 0),
        ("c>s", 0.02, "R", 1, None, 0),  # seq = SEG.ACK = the server's RCV.NXT
    ]
    assert p.states("s") == [(0.01, "s", "SYN-RECEIVED"), (0.03, "s", "LISTEN")]
    assert listener.accept() is None
    conn = p.c.connect(B_IP, 8080, local_port=40000)  # a new SYN on the same 4-tuple
    p.at(0.2)
    assert conn.state is State.ESTABLISHED
    child = listener.accept()
    assert child is not None and child.remote == (A_IP, 40000)
    assert [event for _, event in app.events] == ["acceptable"]


@pytest.mark.parametrize("challenge", [False, True], ids=["linux", "rfc5961"])
def test_syn_received_in_window_inexact_rst(challenge: bool) -> None:
    # Linux drops the request on any in-window RST; RFC 5961 answers a
    # challenge ACK (TcpConfig.rst_in_syn_received_challenge).
    p = Pair(rst_in_syn_received_challenge=challenge)
    p.listen()
    p.net.link(p.s, p.c).update(loss=1.0)
    p.tuple = (A_IP, 40000, B_IP, 8080)
    p.isn["c"] = 1000
    p.send("c>s", SYN, 0)
    p.at(0.5)
    p.send("c>s", RST, 5)
    p.at(0.52)
    replies = [row for row in p.rows() if row[0].startswith("s") and row[1] > 0.5]
    if challenge:
        assert replies == [("s>c✗", 0.51, ".", 1, 1, 0)]
        assert p.states("s") == [(0.01, "s", "SYN-RECEIVED")]
    else:
        assert replies == []
        assert p.states("s") == [(0.01, "s", "SYN-RECEIVED"), (0.51, "s", "LISTEN")]


# -- 18. non-SYN segments at a listener ---------------------------------------------------


def test_listen_non_syn_segments_then_handshake_on_same_tuple() -> None:
    p = Pair()
    listener = p.listen()
    p.tuple = (A_IP, 40000, B_IP, 8080)
    p.isn = {"c": 0, "s": 0}
    p.send("c>s", ACK, 0, ack=34)
    p.send("c>s", SYN | ACK, 0, ack=1)
    p.send("c>s", RST, 0)
    p.send("c>s", SYN | RST, 0)
    p.send("c>s", FIN, 0)
    p.at(0.1)
    assert [row for row in p.rows() if row[0].startswith("s")] == [
        ("s>c", 0.01, "R", 34, None, 0),
        ("s>c", 0.01, "R", 1, None, 0),
    ]
    assert listener.accept() is None
    assert p.s.connection_count() == 0
    conn = p.c.connect(B_IP, 8080, local_port=40000)
    p.at(0.2)
    assert conn.state is State.ESTABLISHED
    assert listener.accept() is not None
    assert listener.accept() is None


# -- 19. segments to a port with no socket ----------------------------------------------------


def test_closed_port_answers_segments_with_rst() -> None:
    p = Pair()  # no listener on 8080
    p.tuple = (A_IP, 40000, B_IP, 8080)
    p.isn = {"c": 0, "s": 0}  # absolute numbers
    p.send("c>s", ACK, 100, ack=777, payload=b"abc")  # ACK = N -> R N:N(0)
    p.send("c>s", FIN, 100, payload=b"ab")  # no ACK -> R. 0:0(0) ack SEG.SEQ + SEG.LEN
    p.send("c>s", SYN, 500)  # SYN counts one
    p.send("c>s", RST, 100)  # never answer a RST
    p.send("c>s", RST | ACK, 100, ack=5)
    p.idle()
    assert [row for row in p.rows() if row[0] == "s>c"] == [
        ("s>c", 0.01, "R", 777, None, 0),
        ("s>c", 0.01, "R.", 0, 103, 0),
        ("s>c", 0.01, "R.", 0, 501, 0),
    ]


# -- 21, 22. accept queue full ---------------------------------------------------------------


def test_syn_sent_accept_queue_full_times_out_at_131s() -> None:
    p = Pair(delay=0.001)
    p.listen(backlog=1)
    first = [p.net.add_host(f"a{i}").connect(B_IP, 8080) for i in range(2)]
    p.at(0.01)
    assert [c.state for c in first] == [State.ESTABLISHED] * 2
    third = p.connect()
    p.idle()
    assert third.error == errno.ETIMEDOUT
    assert p.states("c")[-1] == (131.01, "c", "CLOSED")
    assert not [row for row in p.rows() if "R" in row[2]]  # dropped silently, no RST


def test_syn_received_accept_queue_full_at_third_ack_mode0_serves_late() -> None:
    # listen(1): the accept queue holds two connections, the SYN queue two
    # requests (a third SYN would get a cookie).  One connection waits to be
    # accepted when two SYNs arrive together: both become requests, and the
    # second third ACK finds the accept queue full.
    p = Pair()
    listener = p.listen(backlog=1)
    early = p.net.add_host("early", "10.0.0.4").connect(B_IP, 8080)
    p.at(0.05)
    assert early.state is State.ESTABLISHED and listener.pending() == 1
    other = p.net.add_host("other", "10.0.0.3")
    p.labels["other"] = "o"
    first = other.connect(B_IP, 8080)
    second = p.connect()
    p.at(0.07)
    assert first.state is State.ESTABLISHED
    assert second.state is State.ESTABLISHED  # the client does not know
    second.send(b"q" * 100, p.net.now)
    p.at(2.05)
    assert listener.pending() == 2
    assert [n for _, _, n in p.notes()].count("accept queue full: ACK dropped") == 7
    accepted = listener.accept()  # room again
    assert accepted is not None and accepted.remote == early.local
    p.at(4.05)
    assert listener.accept() is not None  # other's
    child = listener.accept()
    assert child is not None and child.remote == second.local
    assert recv_all(child, p.net.now) == b"q" * 100
    assert [row for row in p.rows() if row[0] in ("s>c", "c>s") and row[1] > 0.06] == [
        ("c>s", 0.07, ".", 1, 1, 0),  # dropped by the full queue
        ("c>s", 0.07, "P.", 1, 1, 100),  # dropped by the full queue
        ("c>s", 0.29, "P.", 1, 1, 100),  # A's loss probe (at the RTO); dropped
        ("c>s", 0.51, "P.", 1, 1, 100),  # the RTO from the probe; dropped by the full queue
        ("c>s", 0.95, "P.", 1, 1, 100),  # dropped by the full queue
        ("s>c", 1.06, "S.", 0, 1, 0),  # B's request timer keeps resending its SYN-ACK
        ("c>s", 1.07, ".", 101, 1, 0),  # dropped by the full queue
        ("c>s", 1.83, "P.", 1, 1, 100),  # dropped by the full queue
        ("s>c", 3.06, "S.", 0, 1, 0),
        ("c>s", 3.07, ".", 101, 1, 0),  # room now: the connection is admitted
        ("c>s", 3.59, "P.", 1, 1, 100),
        ("s>c", 3.6, ".", 1, 101, 0),
    ]
    assert p.states("s")[-1] == (3.08, "s", "ESTABLISHED")
    assert p.net.find_host("server").netstat["SyncookiesSent"] == 0


def test_syn_received_accept_queue_full_at_third_ack_mode1_resets() -> None:
    p = Pair(abort_on_overflow=True)
    listener = p.listen(backlog=1)  # as above: one waits, two SYNs arrive together
    p.net.add_host("early", "10.0.0.4").connect(B_IP, 8080)
    p.at(0.05)
    other = p.net.add_host("other", "10.0.0.3")
    first = other.connect(B_IP, 8080)
    second = p.connect()
    p.at(0.1)
    assert first.state is State.ESTABLISHED
    assert [row for row in p.rows() if row[0] == "s>c"][-1] == ("s>c", 0.08, "R", 1, None, 0)
    assert p.states("c")[-1] == (0.09, "c", "CLOSED")
    with pytest.raises(ConnectionResetError):
        second.recv(1, p.net.now)
    assert listener.pending() == 2
