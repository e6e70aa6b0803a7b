"""SYN cookies and SYN-queue overflow as Linux's ``tcp_conn_request`` and
``syncookies.c``: the cookie arithmetic (pure functions), then ladders of a
listener whose SYN queue overflows."""

from __future__ import annotations

import random

import pytest
from ladder import A_IP, B_IP, Pair

from aiotcpsim import Network, TcpConfig
from aiotcpsim.segment import ACK, SYN, Segment, TcpOptions
from aiotcpsim.stack.syncookies import (
    MSSTAB,
    MSSTAB6,
    CookieOptions,
    SynCookieJar,
    cookie_mss_index,
    cookie_time,
    cookie_timestamp,
    decode_cookie_timestamp,
)
from aiotcpsim.tcp import State

TUPLE = ("10.0.0.1", 40000, "10.0.0.2", 8080)
SPOOFED = "10.0.9."


def jar(seed: int = 7) -> SynCookieJar:
    return SynCookieJar(random.Random(seed))


# -- the cookie ---------------------------------------------------------------------------


def test_cookie_round_trip_gives_the_mss_of_the_table() -> None:
    j = jar()
    for seq in (0, 1, 0xFFFFFFFF, 123456789):
        for mss in MSSTAB:
            isn = j.make(TUPLE, seq, mss, 30.0)
            assert j.check(TUPLE, (seq + 1) & 0xFFFFFFFF, (isn + 1) & 0xFFFFFFFF, 31.0) == mss


@pytest.mark.parametrize(
    ("mss", "carried"),
    [
        (9000, 1460),
        (1460, 1460),
        (1459, 1440),
        (1452, 1440),
        (1440, 1440),
        (1439, 1300),
        (1300, 1300),
        (1299, 536),
        (536, 536),
        (100, 536),
    ],
)
def test_cookie_mss_is_rounded_down_to_the_table(mss: int, carried: int) -> None:
    assert MSSTAB[cookie_mss_index(mss)] == carried
    j = jar()
    isn = j.make(TUPLE, 1000, mss, 0.0)
    assert j.check(TUPLE, 1001, isn + 1, 0.0) == carried


def test_cookie_lives_one_to_two_minutes() -> None:
    # The counter ticks each minute; a cookie of the current or the previous
    # minute is valid (MAX_SYNCOOKIE_AGE 2).
    j = jar()
    assert (cookie_time(59.9), cookie_time(60.0)) == (0, 1)
    made_early = j.make(TUPLE, 1000, 1460, 0.0) + 1
    made_late = j.make(TUPLE, 1000, 1460, 59.9) + 1
    assert j.check(TUPLE, 1001, made_early, 119.9) == 1460
    assert j.check(TUPLE, 1001, made_early, 120.0) == 0
    assert j.check(TUPLE, 1001, made_late, 60.1) == 1460
    assert j.check(TUPLE, 1001, made_late, 120.0) == 0  # 60.1 s old, but two ticks
    assert j.check(TUPLE, 1001, made_early, 200.0) == 0


def test_cookie_of_another_4_tuple_or_sequence_is_rejected() -> None:
    j = jar()
    isn = j.make(TUPLE, 1000, 1460, 5.0)
    others = [
        ("10.0.0.3", 40000, "10.0.0.2", 8080),
        ("10.0.0.1", 40001, "10.0.0.2", 8080),
        ("10.0.0.1", 40000, "10.0.0.4", 8080),
        ("10.0.0.1", 40000, "10.0.0.2", 8081),
    ]
    assert [j.check(t, 1001, isn + 1, 5.0) for t in others] == [0, 0, 0, 0]
    assert j.check(TUPLE, 1001, isn + 2, 5.0) == 0  # a guessed ack
    assert jar(seed=8).check(TUPLE, 1001, isn + 1, 5.0) == 0  # another host's secret


def test_cookie_secret_comes_from_the_seed() -> None:
    assert jar(3).make(TUPLE, 1, 536, 0.0) == jar(3).make(TUPLE, 1, 536, 0.0)
    assert jar(3).make(TUPLE, 1, 536, 0.0) != jar(4).make(TUPLE, 1, 536, 0.0)


# -- the options in the TSval --------------------------------------------------------------


def test_cookie_timestamp_keeps_options_in_the_low_six_bits() -> None:
    opts = CookieOptions(wscale=7, sack=True, ecn=False)
    ts = cookie_timestamp(1_000_000, opts)
    assert ts & 0x3F == 7 | 0x10
    assert ts <= 1_000_000 and 1_000_000 - ts < 64
    assert cookie_timestamp(1_000_000 & ~0x3F, opts) == (1_000_000 & ~0x3F) - 64 + 0x17
    none = cookie_timestamp(5000, CookieOptions(None, False, True))
    assert none & 0x3F == 0xF | 0x20
    kw = {"timestamps": True, "sack": True, "window_scaling": True}
    assert decode_cookie_timestamp(ts, **kw) == opts
    assert decode_cookie_timestamp(none, **kw) == CookieOptions(None, False, True)


def test_cookie_timestamp_refused_when_the_host_turned_the_option_off() -> None:
    ts = cookie_timestamp(1 << 20, CookieOptions(wscale=7, sack=True, ecn=False))
    assert decode_cookie_timestamp(ts, timestamps=False, sack=True, window_scaling=True) is None
    assert decode_cookie_timestamp(ts, timestamps=True, sack=False, window_scaling=True) is None
    assert decode_cookie_timestamp(ts, timestamps=True, sack=True, window_scaling=False) is None
    no_ws = cookie_timestamp(1 << 20, CookieOptions(None, False, False))
    assert decode_cookie_timestamp(
        no_ws, timestamps=True, sack=False, window_scaling=False
    ) == CookieOptions(None, False, False)


# -- ladders ------------------------------------------------------------------------------


def flood(p: Pair, count: int, start: int = 0, port: int = 8080) -> None:
    """``count`` SYNs from addresses no host owns, delivered to the server now."""
    for i in range(start, start + count):
        syn = Segment(f"{SPOOFED}{i + 1}", 1024 + i, B_IP, port, 1000 * i, 0, SYN, 64240)
        p.s.deliver_from_wire(syn)


def test_listen_syncookies_2_answers_every_syn_with_a_cookie() -> None:
    p = Pair(syncookies=2)
    listener = p.listen(backlog=10)
    conn = p.connect()
    p.at(0.01)
    assert listener.requests() == 0  # no state kept
    synack = next(s for s in p.net.trace.segments() if s.flags == SYN | ACK)
    assert p.s.netstat["SyncookiesSent"] == 1
    p.at(0.03)
    assert conn.state is State.ESTABLISHED
    child = listener.accept()
    assert child is not None and child.state is State.ESTABLISHED
    assert child.iss == synack.seq and child.remote == conn.local
    assert child.peer_mss == 1460 and child.snd_wnd == conn.rcv_wnd
    assert p.s.netstat["SyncookiesRecv"] == 1
    assert p.s.netstat["TCPReqQFullDoCookies"] == 1
    assert not [n for _, _, n in p.notes() if "flooding" in n]  # 2: no warning
    assert p.states("s") == [(0.03, "s", "SYN-RECEIVED"), (0.03, "s", "ESTABLISHED")]
    conn.send(b"hello", p.net.now)
    p.at(0.05)
    assert child.recv(100, p.net.now) == b"hello"


def test_listen_cookie_mss_rounded_down_as_linux() -> None:
    p = Pair(syncookies=2, mss=1400)  # both ends announce 1400
    listener = p.listen()
    p.connect()
    p.at(0.03)
    child = listener.accept()
    assert child is not None and child.peer_mss == 1300


def test_listen_syn_queue_overflow_sends_cookies_and_a_client_connects() -> None:
    p = Pair()  # syncookies=1, Linux's default
    listener = p.listen(backlog=3)
    flood(p, 4)  # the SYN queue holds backlog + 1 requests
    assert listener.requests() == 4 and p.s.netstat["SyncookiesSent"] == 0
    conn = p.connect()
    p.at(0.03)
    assert conn.state is State.ESTABLISHED
    child = listener.accept()
    assert child is not None and child.remote == conn.local
    assert listener.requests() == 4  # the flood's requests, the cookie left none
    netstat = p.s.netstat
    assert (netstat["SyncookiesSent"], netstat["SyncookiesRecv"]) == (1, 1)
    assert netstat["TCPReqQFullDoCookies"] == 1 and netstat["ListenDrops"] == 0
    flood(p, 3, start=4)
    assert netstat["SyncookiesSent"] == 4
    assert [n for _, _, n in p.notes() if "flooding" in n] == [
        "Possible SYN flooding on port 0.0.0.0:8080. Sending cookies."
    ]  # once


def test_listen_syn_queue_overflow_without_cookies_drops_the_syn() -> None:
    p = Pair(syncookies=0)
    listener = p.listen(backlog=3)
    flood(p, 4)
    conn = p.connect()
    p.at(0.5)
    assert conn.state is State.SYN_SENT
    assert [r for r in p.rows() if r[0] == "s>c"] == []  # no answer, no RST
    netstat = p.s.netstat
    assert (netstat["ListenDrops"], netstat["TCPReqQFullDrop"]) == (1, 1)
    assert netstat["SyncookiesSent"] == 0
    assert [n for _, _, n in p.notes() if "flooding" in n] == [
        "Possible SYN flooding on port 0.0.0.0:8080. Dropping request."
    ]
    assert listener.requests() == 4


def test_listen_without_cookies_keeps_the_last_quarter_of_max_syn_backlog() -> None:
    p = Pair(syncookies=0, max_syn_backlog=8)
    listener = p.listen(backlog=100)
    flood(p, 10)
    assert listener.requests() == 7  # dropped once fewer than 8 / 4 are free
    assert p.s.netstat["ListenDrops"] == 3
    p2 = Pair(max_syn_backlog=8)  # with cookies on, max_syn_backlog plays no part
    listener2 = p2.listen(backlog=100)
    flood(p2, 10)
    assert listener2.requests() == 10


def test_listen_accept_queue_full_drops_syns_before_cookies() -> None:
    p = Pair(syncookies=2, delay=0.001)
    listener = p.listen(backlog=0)  # the accept queue holds one connection
    p.net.add_host("early", "10.0.0.4").connect(B_IP, 8080)
    p.at(0.01)
    assert listener.pending() == 1
    conn = p.connect()
    p.at(0.5)
    assert conn.state is State.SYN_SENT
    netstat = p.s.netstat
    assert (netstat["ListenOverflows"], netstat["ListenDrops"]) == (1, 1)
    assert netstat["SyncookiesSent"] == 1  # the early one's


def test_listen_cookie_ack_dropped_when_the_accept_queue_filled_meanwhile() -> None:
    p = Pair(syncookies=2)
    listener = p.listen(backlog=0)
    held = p.hold("c>s", ".")
    conn = p.connect()
    p.at(0.02)
    p.net.add_host("early", "10.0.0.4").connect(B_IP, 8080)
    p.at(0.05)
    assert listener.pending() == 1
    p.release(held)
    p.at(0.1)
    assert listener.pending() == 1 and conn.state is State.ESTABLISHED
    assert p.s.netstat["ListenOverflows"] == 1
    assert not [r for r in p.rows() if r[0] == "s>c" and "R" in r[2]]  # no RST
    assert "accept queue full: cookie ACK dropped" in [n for _, _, n in p.notes()]
    # Once accepted, the client's next segment (its data, with the ACK) is a
    # valid cookie again and opens the connection.
    assert listener.accept() is not None
    conn.send(b"late", p.net.now)
    p.at(0.2)
    child = listener.accept()
    assert child is not None and child.recv(10, p.net.now) == b"late"


def test_listen_bad_cookie_draws_a_rst() -> None:
    p = Pair(syncookies=2)
    p.listen()
    p.isn["c"] = 5000
    p.tuple = ("10.0.0.1", 40000, B_IP, 8080)
    p.send("c>s", SYN, 0)
    p.at(0.02)
    synack = next(s for s in p.net.trace.segments() if s.flags == SYN | ACK)
    p.isn["s"] = synack.seq
    # The SYN had no MSS option (536, index 0): ack 5 leaves index 4, outside
    # the table (ack 2 would read as a cookie for 1300, as in Linux).
    p.send("c>s", 0, 1, ack=5)
    p.at(0.04)
    assert [r for r in p.rows() if r[0] == "s>c"][-1] == ("s>c", 0.03, "R", 5, None, 0)
    assert p.s.netstat["SyncookiesFailed"] == 1
    assert p.s.connection_count() == 0


def test_listen_ack_without_recent_cookies_is_not_checked() -> None:
    # tcp_synq_no_recent_overflow: no cookie sent lately, the ACK just draws a RST.
    p = Pair()
    p.listen()
    p.tuple = ("10.0.0.1", 40000, B_IP, 8080)
    p.send("c>s", 0, 1, ack=777)
    p.at(0.02)
    assert [r for r in p.rows() if r[0] == "s>c"] == [("s>c", 0.01, "R", 777, None, 0)]
    assert p.s.netstat["SyncookiesFailed"] == 0


def test_listen_stale_cookie_ack_draws_a_rst() -> None:
    p = Pair(syncookies=2)
    listener = p.listen()
    held = p.hold("c>s", ".")
    conn = p.connect()
    p.at(0.02)
    assert conn.state is State.ESTABLISHED
    p.at(125.0)  # the cookie of t=0.01 is two minutes old
    flood(p, 1)  # a cookie sent lately: ACKs are still checked as cookies
    p.release(held)
    p.at(126.0)
    assert listener.pending() == 0
    assert p.s.netstat["SyncookiesFailed"] == 1
    assert [r[2] for r in p.rows() if r[0] == "s>c"][-1] == "R"


def test_listen_cookie_synack_offers_no_options_a_syn_without_timestamps_lost() -> None:
    p = Pair(syncookies=2)
    p.listen()
    p.tuple = ("10.0.0.1", 40000, B_IP, 8080)
    syn = p.segment("c>s", SYN, 0)._replace(
        options=TcpOptions(mss=1460, wscale=7, sack_permitted=True)
    )
    p.net.transmit(p.c, syn)
    p.at(0.02)
    synack = next(s for s in p.net.trace.segments() if s.flags == SYN | ACK)
    assert synack.options == TcpOptions(mss=1460)


def test_listen_cookie_synack_is_not_retransmitted() -> None:
    p = Pair(syncookies=2)
    listener = p.listen()
    p.drop("s>c", "S.")
    conn = p.connect()
    p.at(1.05)
    assert [r[:3] for r in p.rows()] == [
        ("c>s", 0.0, "S"),
        ("s>c✗", 0.01, "S."),
        ("c>s", 1.0, "S"),  # the client's SYN timer, not the server's, repeats
        ("s>c", 1.01, "S."),
        ("c>s", 1.02, "."),
    ]
    assert conn.state is State.ESTABLISHED and listener.pending() == 1


def test_listen_zero_backlog_takes_one_request_without_cookies() -> None:
    # Linux >= 6.13: the SYN queue is full above the backlog, so listen(0)
    # still takes one request (older kernels dropped it: "at least 0").
    p = Pair(syncookies=0)
    listener = p.listen(backlog=0)
    conn = p.connect()
    p.at(0.01)
    assert listener.requests() == 1
    flood(p, 1)  # a second request overflows the queue
    assert p.s.netstat["TCPReqQFullDrop"] == 1
    p.at(0.03)
    assert conn.state is State.ESTABLISHED and listener.pending() == 1
    assert listener.requests() == 0
    flood(p, 2, start=1)
    assert listener.requests() == 0  # the accept queue is full: both dropped
    assert p.s.netstat["ListenOverflows"] == 2


# -- options through the cookie's TSval (Linux cookie_init_timestamp, cookie_timestamp_decode)


def test_listen_cookie_synack_carries_the_options_in_its_tsval() -> None:
    p = Pair(syncookies=2)
    listener = p.listen()
    conn = p.connect()
    p.at(0.01)
    syn = next(s for s in p.net.trace.segments() if s.flags == SYN)
    synack = next(s for s in p.net.trace.segments() if s.flags == SYN | ACK)
    assert syn.options.timestamps is not None and synack.options.timestamps is not None
    assert (synack.options.mss, synack.options.wscale, synack.options.sack_permitted) == (
        1460,
        7,
        True,
    )
    tsval, tsecr = synack.options.timestamps
    assert tsecr == syn.options.timestamps[0]
    offset = p.s.ts_offset(B_IP, conn.local[0])
    raw = (tsval - offset) & 0xFFFFFFFF
    assert raw & 0x3F == 7 | 0x10  # the client's wscale 7, SACK
    assert (int(p.net.now * 1000) - raw) & 0xFFFFFFFF < 64  # never above the clock
    p.at(0.03)
    child = listener.accept()
    assert child is not None and child.state is State.ESTABLISHED
    assert (child.sack_ok, child.ts_ok) == (True, True)
    assert (child.snd_wscale, child.rcv_wscale) == (conn.rcv_wscale, conn.snd_wscale) == (7, 7)
    assert child.snd_wnd == conn.rcv_wnd  # the third ACK's window, scaled
    sent = conn.send(b"x" * 100_000, p.net.now)
    p.idle(5.0)
    assert child.recv(200_000, p.net.now) == b"x" * sent
    data = [s for s in p.net.trace.segments() if s.src_ip == B_IP and s.dst_ip == A_IP]
    assert all(s.options.timestamps is not None for s in data)  # the child's TS clock


def test_listen_cookie_ack_whose_tsecr_asks_for_an_option_turned_off_draws_a_rst() -> None:
    p = Pair(syncookies=2, sack=False)
    listener = p.listen()
    p.tuple = (A_IP, 40000, B_IP, 8080)
    syn = p.segment("c>s", SYN, 0)._replace(
        options=TcpOptions(mss=1460, wscale=7, sack_permitted=True, timestamps=(5000, 0))
    )
    p.net.transmit(p.c, syn)
    p.at(0.02)
    synack = next(s for s in p.net.trace.segments() if s.flags == SYN | ACK)
    assert synack.options.timestamps is not None
    assert not synack.options.sack_permitted  # this host does no SACK
    tsval = synack.options.timestamps[0]
    offset = p.s.ts_offset(B_IP, A_IP)
    assert (tsval - offset) & 0x3F == 7  # no SACK bit
    ack = Segment(A_IP, 40000, B_IP, 8080, syn.seq + 1, synack.seq + 1, ACK, 502)
    sack_bit = (((tsval - offset) | 0x10) + offset) & 0xFFFFFFFF
    forged = ack._replace(options=TcpOptions(timestamps=(5010, sack_bit)))
    p.s.deliver_from_wire(forged)
    assert listener.pending() == 0 and p.s.netstat["SyncookiesRecv"] == 1
    p.at(0.04)
    assert [r[2] for r in p.rows() if r[0] == "s>c"][-1] == "R"
    p.s.deliver_from_wire(ack._replace(options=TcpOptions(timestamps=(5010, tsval))))
    child = listener.accept()
    assert child is not None and child.state is State.ESTABLISHED
    assert (child.ts_ok, child.sack_ok, child.snd_wscale) == (True, False, 7)


def test_listen_cookie_ack_without_timestamps_gets_no_options() -> None:
    # cookie_timestamp_decode: an ACK without the option clears them all.
    p = Pair(syncookies=2)
    listener = p.listen()
    p.tuple = (A_IP, 40000, B_IP, 8080)
    syn = p.segment("c>s", SYN, 0)._replace(
        options=TcpOptions(mss=1460, wscale=7, sack_permitted=True, timestamps=(5000, 0))
    )
    p.net.transmit(p.c, syn)
    p.at(0.02)
    synack = next(s for s in p.net.trace.segments() if s.flags == SYN | ACK)
    ack = Segment(A_IP, 40000, B_IP, 8080, syn.seq + 1, synack.seq + 1, ACK, 502)
    p.s.deliver_from_wire(ack)
    child = listener.accept()
    assert child is not None and child.state is State.ESTABLISHED
    assert (child.ts_ok, child.sack_ok, child.snd_wscale, child.rcv_wscale) == (
        False,
        False,
        0,
        0,
    )


def test_ipv6_cookie_carries_an_mss_of_linux_ipv6_table() -> None:
    # net/ipv6/syncookies.c msstab: 1280-60, 1480-60, 1500-60, 9000-60.
    assert MSSTAB6 == (1220, 1420, 1440, 8940)
    j = jar()
    six = ("fd00::1", 40000, "fd00::2", 8080)
    isn = j.make(six, 1000, 1430, 0.0, ipv6=True)
    assert j.check(six, 1001, isn + 1, 0.0, ipv6=True) == 1420
    isn = j.make(six, 1000, 100, 0.0, ipv6=True)
    assert j.check(six, 1001, isn + 1, 0.0, ipv6=True) == 1220
    net = Network(seed=3, tcp=TcpConfig(syncookies=2, mss=1450))  # 1430 over IPv6
    client = net.add_host("client", ipv6=True)
    server = net.add_host("server", ipv6="fd00::99")
    listener = server.listen(8080, ip="::")
    conn = client.connect("fd00::99", 8080)
    net.run_until_idle(1.0)
    assert conn.state is State.ESTABLISHED and server.netstat["SyncookiesRecv"] == 1
    child = listener.accept()
    assert child is not None and child.peer_mss == 1420  # IPv4's table: 1300
