"""Ladders of connection teardown (``../shared/CONFORMANCE.md`` section B).

Each test starts from an established connection (``Pair.establish``); times
are relative to the end of the handshake, d = 10 ms, and seq/ack are relative
to the ISNs, so both sides start at seq 1, ack 1.
"""

from __future__ import annotations

import errno

import pytest
from ladder import App, Pair, recv_all

from aiotcpsim import TcpConfig
from aiotcpsim.segment import ACK, FIN, RST
from aiotcpsim.tcp import Connection, State

# -- 26. four-way close, TIME-WAIT on the active closer ------------------------------------


def test_established_close_four_way_and_time_wait_60s() -> None:
    p = Pair()
    a, b = p.establish()
    b_app = App(p)
    b.user = b_app
    a.close(p.net.now)
    p.at(0.01)
    assert b.recv(100, p.net.now) == b""  # EOF at d
    b.close(p.net.now)
    p.idle()
    assert p.rows() == [
        ("c>s", 0.0, "F.", 1, 1, 0),
        ("s>c", 0.01, ".", 1, 2, 0),  # quick ACK, before the application reacts
        ("s>c", 0.01, "F.", 1, 2, 0),
        ("c>s", 0.02, ".", 2, 2, 0),
    ]
    assert p.states() == [
        (0.0, "c", "FIN-WAIT-1"),
        (0.01, "s", "CLOSE-WAIT"),
        (0.01, "s", "LAST-ACK"),
        (0.02, "c", "FIN-WAIT-2"),
        (0.02, "c", "TIME-WAIT"),
        (0.03, "s", "CLOSED"),
        (60.02, "c", "CLOSED"),  # TIME-WAIT: a fixed 60 s on Linux
    ]
    assert b_app.events == [(0.01, "readable")]  # close() ends the callbacks
    assert p.net.next_deadline() is None
    assert p.c.connection_count() == p.s.connection_count() == 0


def test_time_wait_length_follows_config() -> None:
    p = Pair(config=TcpConfig.rfc())  # 2 * MSL = 240 s
    a, b = p.establish()
    a.close(p.net.now)
    p.at(0.01)
    b.close(p.net.now)
    p.idle()
    assert p.states("c")[-2:] == [(0.02, "c", "TIME-WAIT"), (240.02, "c", "CLOSED")]


def test_time_wait_holds_the_four_tuple_until_expiry() -> None:
    p = Pair()
    a, b = p.establish()
    port = a.local[1]
    a.close(p.net.now)
    p.at(0.01)
    b.close(p.net.now)
    p.at(59.0)
    assert a.state is State.TIME_WAIT
    with pytest.raises(OSError, match="Address already in use") as info:
        p.c.connect("10.0.0.2", 8080, local_port=port)
    assert info.value.errno == errno.EADDRINUSE
    p.at(60.03)
    again = p.c.connect("10.0.0.2", 8080, local_port=port)
    p.at(60.1)
    assert again.state is State.ESTABLISHED


# -- 27. three-segment close: the ACK rides on the peer's FIN -------------------------


def _after_a_request(p: Pair) -> tuple[Connection, Connection]:
    """A sends 10 bytes, B reads them: B's delayed-ACK engine is running
    (Linux sets the ATO at the first data; before it, an ACK goes at once)."""
    a, b = p.establish()
    a.send(b"x" * 10, p.net.now)
    p.at(0.02)  # B's quick ACK of the data is back
    assert recv_all(b, p.net.now) == b"x" * 10
    return a, b


def test_fin_wait_1_fin_ack_goes_straight_to_time_wait() -> None:
    # B's ACK of the FIN is delayed 40 ms (tcp_fin enters interactive mode), and
    # B closes within that window: the ACK rides on B's FIN.
    p = Pair()
    a, b = _after_a_request(p)
    a.close(p.net.now)
    p.at(0.035)
    assert b.state is State.CLOSE_WAIT
    b.close(p.net.now)
    p.idle()
    assert p.rows() == [
        ("c>s", 0.0, "P.", 1, 1, 10),
        ("s>c", 0.01, ".", 1, 11, 0),  # quick ACK of the first data
        ("c>s", 0.02, "F.", 11, 1, 0),
        ("s>c", 0.035, "F.", 1, 12, 0),
        ("c>s", 0.045, ".", 12, 2, 0),
    ]
    assert p.states("c") == [
        (0.02, "c", "FIN-WAIT-1"),
        (0.045, "c", "TIME-WAIT"),  # never FIN-WAIT-2
        (60.045, "c", "CLOSED"),
    ]
    assert p.states("s") == [
        (0.03, "s", "CLOSE-WAIT"),
        (0.035, "s", "LAST-ACK"),
        (0.055, "s", "CLOSED"),
    ]


def test_close_wait_delayed_ack_of_fin_after_40ms() -> None:
    p = Pair()
    a, _b = _after_a_request(p)
    a.close(p.net.now)
    p.at(1.0)
    assert p.rows(since=0.02) == [
        ("c>s", 0.02, "F.", 11, 1, 0),
        ("s>c", 0.07, ".", 1, 12, 0),  # FIN at 0.03 + TCP_DELACK_MIN
    ]


def test_close_wait_ack_of_fin_is_immediate_before_any_data() -> None:
    # No data received yet: no ATO, so Linux's delayed ACK fires at once and the
    # close takes four segments even when B closes promptly.
    p = Pair()
    a, _b = p.establish()
    a.close(p.net.now)
    p.at(0.02)
    assert p.rows() == [
        ("c>s", 0.0, "F.", 1, 1, 0),
        ("s>c", 0.01, ".", 1, 2, 0),
    ]


# -- 28. simultaneous close --------------------------------------------------------------


def test_fin_wait_1_simultaneous_close_through_closing() -> None:
    p = Pair()
    a, b = p.establish()
    a.close(p.net.now)
    b.close(p.net.now)
    p.idle()
    assert p.rows() == [
        ("c>s", 0.0, "F.", 1, 1, 0),
        ("s>c", 0.0, "F.", 1, 1, 0),
        ("s>c", 0.01, ".", 2, 2, 0),
        ("c>s", 0.01, ".", 2, 2, 0),
    ]
    assert sorted(p.states()) == [
        (0.0, "c", "FIN-WAIT-1"),
        (0.0, "s", "FIN-WAIT-1"),
        (0.01, "c", "CLOSING"),
        (0.01, "s", "CLOSING"),
        (0.02, "c", "TIME-WAIT"),
        (0.02, "s", "TIME-WAIT"),  # both hold TIME-WAIT
        (60.02, "c", "CLOSED"),
        (60.02, "s", "CLOSED"),
    ]


# -- 30, 31. half-close -----------------------------------------------------------------------


def test_fin_wait_2_half_close_peer_keeps_sending() -> None:
    p = Pair()
    a, b = p.establish()
    a.shutdown(p.net.now)
    p.at(0.01)
    assert b.recv(10, p.net.now) == b""
    assert b.send(b"r" * 1000, p.net.now) == 1000
    p.at(500.0)
    assert a.state is State.FIN_WAIT_2  # no fin_timeout while the socket is open
    b.close(p.net.now)
    p.at(500.01)
    assert p.rows() == [
        ("c>s", 0.0, "F.", 1, 1, 0),
        ("s>c", 0.01, ".", 1, 2, 0),
        ("s>c", 0.01, "P.", 1, 2, 1000),
        ("c>s", 0.02, ".", 2, 1001, 0),
        ("s>c", 500.0, "F.", 1001, 2, 0),
        ("c>s", 500.01, ".", 2, 1002, 0),
    ]
    assert p.states() == [
        (0.0, "c", "FIN-WAIT-1"),
        (0.01, "s", "CLOSE-WAIT"),
        (0.02, "c", "FIN-WAIT-2"),
        (500.0, "s", "LAST-ACK"),
        (500.01, "c", "TIME-WAIT"),
    ]
    assert recv_all(a, p.net.now) == b"r" * 1000
    assert a.recv(10, p.net.now) == b""


def test_close_wait_half_close_large_transfer_all_delivered() -> None:
    # After A's shutdown, B sends 1 MB; A reads as it arrives.
    p = Pair()
    a, b = p.establish()
    a.shutdown(p.net.now)
    payload = bytes(range(256)) * 4096
    sent = 0
    got = bytearray()
    eof = False
    step = 0.0
    while not eof:
        step += 0.005
        p.at(step)
        if b.state is State.CLOSE_WAIT and sent < len(payload):
            sent += b.send(payload[sent:], p.net.now)
            if sent == len(payload):
                b.close(p.net.now)
        while True:
            chunk = a.recv(65536, p.net.now)
            if chunk is None:
                break
            if chunk == b"":
                eof = True
                break
            got += chunk
        assert step < 100
    assert bytes(got) == payload
    p.idle()
    assert a.state is State.CLOSED and b.state is State.CLOSED
    assert [s for _, _, s in p.states("c")] == [
        "FIN-WAIT-1",
        "FIN-WAIT-2",
        "TIME-WAIT",
        "CLOSED",
    ]


def test_established_large_transfer_then_shutdown_fin_after_last_byte() -> None:
    p = Pair()
    a, b = p.establish()
    payload = bytes(range(251)) * 2000
    sent = 0
    got = bytearray()
    step = 0.0
    while True:
        step += 0.005
        p.at(step)
        if sent < len(payload):
            sent += a.send(payload[sent:], p.net.now)
            if sent == len(payload):
                a.shutdown(p.net.now)
        chunk = b.recv(1 << 20, p.net.now)
        if chunk == b"":
            break
        if chunk:
            got += chunk
        assert step < 100
    assert bytes(got) == payload
    fin = [row for row in p.rows() if row[0] == "c>s" and "F" in row[2]]
    assert fin[0][3] + fin[0][5] == len(payload) + 1  # the FIN follows the last byte
    # B can still send after A's half-close.
    b.send(b"reply", p.net.now)
    p.at(step + 0.1)
    assert recv_all(a, p.net.now) == b"reply"


def test_fin_wait_1_send_after_shutdown_raises_broken_pipe() -> None:
    p = Pair()
    a, _b = p.establish()
    a.shutdown(p.net.now)
    with pytest.raises(BrokenPipeError) as info:
        a.send(b"x", p.net.now)
    assert info.value.errno == errno.EPIPE
    p.idle()
    assert [row for row in p.rows() if row[5]] == []  # no data was sent
    assert a.state is State.FIN_WAIT_2


def test_established_send_after_close_raises_broken_pipe() -> None:
    p = Pair()
    a, _b = p.establish()
    a.close(p.net.now)
    with pytest.raises(BrokenPipeError):
        a.send(b"x", p.net.now)
    assert a.state is State.FIN_WAIT_1


def test_fin_wait_1_second_shutdown_sends_nothing_more() -> None:
    p = Pair()
    a, _b = p.establish()
    a.shutdown(p.net.now)
    a.shutdown(p.net.now)
    p.at(1.0)
    assert [row for row in p.rows() if row[0] == "c>s"] == [("c>s", 0.0, "F.", 1, 1, 0)]


# -- 32. lost FIN ------------------------------------------------------------------------


def test_fin_wait_1_lost_fin_retransmitted_after_rto() -> None:
    p = Pair()
    a, b = p.establish()
    b_app = App(p)
    b.user = b_app
    p.drop("c>s", "F.")
    a.close(p.net.now)
    p.at(0.5)
    assert p.rows() == [
        ("c>s✗", 0.0, "F.", 1, 1, 0),
        # RTO after a 20 ms RTT sample: SRTT + max(4 * RTTVAR, rto_min) = 0.22 s
        ("c>s", 0.22, "F.", 1, 1, 0),
        ("s>c", 0.23, ".", 1, 2, 0),
    ]
    assert b_app.first("readable") == 0.23


# -- 33. the final ACK is lost: FIN retransmitted from LAST-ACK, TIME-WAIT re-ACKs ----------


def test_time_wait_retransmitted_fin_is_reacked_and_restarts_timer() -> None:
    p = Pair()
    a, b = p.establish()
    a.close(p.net.now)
    p.at(0.01)
    b.close(p.net.now)
    p.drop("c>s", ".")
    p.idle()
    assert p.rows() == [
        ("c>s", 0.0, "F.", 1, 1, 0),
        ("s>c", 0.01, ".", 1, 2, 0),
        ("s>c", 0.01, "F.", 1, 2, 0),
        ("c>s✗", 0.02, ".", 2, 2, 0),
        ("s>c", 0.23, "F.", 1, 2, 0),  # LAST-ACK retransmits its FIN after the RTO
        ("c>s", 0.24, ".", 2, 2, 0),  # TIME-WAIT re-ACKs it ...
    ]
    assert p.states() == [
        (0.0, "c", "FIN-WAIT-1"),
        (0.01, "s", "CLOSE-WAIT"),
        (0.01, "s", "LAST-ACK"),
        (0.02, "c", "FIN-WAIT-2"),
        (0.02, "c", "TIME-WAIT"),
        (0.25, "s", "CLOSED"),
        (60.24, "c", "CLOSED"),  # ... and TIME-WAIT ends 60 s after the re-ACK
    ]
    assert (0.24, "c", "TIME-WAIT timer restarted") in p.notes()


def test_time_wait_old_duplicate_data_is_acked_not_delivered() -> None:
    p = Pair()
    a, b = p.establish()
    a.close(p.net.now)
    p.at(0.01)
    b.close(p.net.now)
    p.at(10.0)
    p.send("s>c", ACK, 1, ack=2, payload=b"stale")  # an old segment of this incarnation
    p.at(10.01)
    assert p.rows(since=10.0) == [
        ("s>c", 10.0, ".", 1, 2, 5),
        ("c>s", 10.01, ".", 2, 2, 0),
    ]
    assert a.state is State.TIME_WAIT


# -- 35. orphaned FIN-WAIT-2 ----------------------------------------------------------------


def test_fin_wait_2_orphan_times_out_after_fin_timeout() -> None:
    p = Pair()
    a, b = p.establish()
    a.close(p.net.now)
    p.at(100.0)
    assert b.state is State.CLOSE_WAIT
    assert b.send(b"hello", p.net.now) == 5  # "succeeds"
    p.at(100.02)
    assert p.rows() == [
        ("c>s", 0.0, "F.", 1, 1, 0),
        ("s>c", 0.01, ".", 1, 2, 0),
        ("s>c", 100.0, "P.", 1, 2, 5),
        ("c>s", 100.01, "R", 2, None, 0),  # nobody home: RST seq = SEG.ACK
    ]
    assert p.states() == [
        (0.0, "c", "FIN-WAIT-1"),
        (0.01, "s", "CLOSE-WAIT"),
        (0.02, "c", "FIN-WAIT-2"),
        (60.02, "c", "CLOSED"),  # tcp_fin_timeout
        (100.02, "s", "CLOSED"),
    ]
    with pytest.raises(BrokenPipeError):  # RST in CLOSE-WAIT -> EPIPE
        b.send(b"again", p.net.now)
    assert b.recv(10, p.net.now) == b""  # it already had the FIN


def test_fin_wait_2_orphan_fin_timeout_knob() -> None:
    p = Pair(fin_timeout=5.0)
    a, _b = p.establish()
    a.close(p.net.now)
    p.idle()
    assert p.states("c") == [
        (0.0, "c", "FIN-WAIT-1"),
        (0.02, "c", "FIN-WAIT-2"),
        (5.02, "c", "CLOSED"),
    ]


def test_fin_wait_2_orphan_new_data_draws_rst() -> None:
    p = Pair()
    a, b = p.establish()
    a.close(p.net.now)
    p.at(10.0)
    assert a.state is State.FIN_WAIT_2
    b.send(b"late", p.net.now)
    p.at(10.02)
    assert p.rows(since=10.0) == [
        ("s>c", 10.0, "P.", 1, 2, 4),
        ("c>s", 10.01, "R", 2, None, 0),
    ]
    assert p.states("c")[-1] == (10.01, "c", "CLOSED")
    assert b.state is State.CLOSED
    assert b.error == errno.EPIPE


def test_fin_wait_2_orphan_peer_fin_goes_to_time_wait() -> None:
    p = Pair()
    a, b = p.establish()
    a.close(p.net.now)
    p.at(30.0)
    b.close(p.net.now)
    p.idle()
    assert p.rows(since=30.0) == [
        ("s>c", 30.0, "F.", 1, 2, 0),
        ("c>s", 30.01, ".", 2, 2, 0),
    ]
    assert p.states("c")[-2:] == [(30.01, "c", "TIME-WAIT"), (90.01, "c", "CLOSED")]


# -- 39. RST in TIME-WAIT (RFC 1337) ----------------------------------------------------------


def time_wait(p: Pair) -> None:
    a, _b = p.time_wait()
    p.at(1.0)
    assert a.state is State.TIME_WAIT


def test_time_wait_exact_rst_kills_it_on_linux() -> None:
    p = Pair()
    time_wait(p)
    p.send("s>c", RST, 2)  # seq = A's RCV.NXT
    p.at(1.01)
    assert p.states("c")[-1] == (1.01, "c", "CLOSED")
    assert p.c.connection_count() == 0


def test_time_wait_rst_ignored_with_rfc1337() -> None:
    p = Pair(rfc1337=True)
    time_wait(p)
    p.send("s>c", RST, 2)
    p.idle()
    assert p.states("c")[-2:] == [(0.02, "c", "TIME-WAIT"), (60.02, "c", "CLOSED")]


def test_time_wait_rst_with_other_seq_ignored() -> None:
    p = Pair()
    time_wait(p)
    p.send("s>c", RST, 7)
    p.idle()
    assert p.states("c")[-1] == (60.02, "c", "CLOSED")


# -- 40. FIN before missing data ----------------------------------------------------------


def test_established_fin_after_missing_data_waits_for_the_hole() -> None:
    p = Pair()
    a, b = p.establish()
    p.drop("s>c", "P.")
    b.send(b"m" * 100, p.net.now)
    b.shutdown(p.net.now)
    p.at(0.01)
    assert a.recv(1000, p.net.now) is None  # no EOF before the missing bytes
    assert a.state is State.ESTABLISHED
    p.at(1.0)
    rows = p.rows()
    assert rows[:3] == [
        ("s>c✗", 0.0, "P.", 1, 1, 100),
        ("s>c", 0.0, "F.", 101, 1, 0),
        ("c>s", 0.01, ".", 1, 1, 0),  # out of order: duplicate ACK at once, SACKing the FIN
    ]
    # RACK: the FIN, sent after the data, was delivered; the data is lost once
    # a quarter of the min RTT has passed (no RTO wait).  The hole filled, the
    # ACK goes at once (RFC 5681 4.2), covering the FIN.
    assert rows[3:] == [("s>c", 0.025, "P.", 1, 1, 100), ("c>s", 0.035, ".", 1, 102, 0)]
    assert recv_all(a, p.net.now) == b"m" * 100
    assert a.recv(1000, p.net.now) == b""
    assert a.recv(1000, p.net.now) == b""
    assert a.state is State.CLOSE_WAIT


# -- 43. close after reading everything sends FIN, not RST ------------------------------------


def test_close_wait_duplicate_data_does_not_count_as_unread() -> None:
    p = Pair()
    a, b = p.establish()
    a.send(b"z" * 1000, p.net.now)
    p.at(0.01)
    assert recv_all(b, p.net.now) == b"z" * 1000
    p.send("c>s", FIN, 1, ack=1, payload=b"z" * 1000)  # retransmitted data + FIN
    p.at(0.1)
    b.close(p.net.now)
    p.at(0.2)
    b_rows = [row for row in p.rows() if row[0] == "s>c"]
    assert b_rows[-1] == ("s>c", 0.1, "F.", 1, 1002, 0)
    assert not [row for row in b_rows if "R" in row[2]]


# -- a retransmitted FIN occupies sequence space: never rate-limited (tcp_oow_rate_limited) --


def test_time_wait_every_retransmitted_fin_is_reacked() -> None:
    p = Pair()
    a, _b = p.time_wait()
    p.at(1.0)
    p.drop("c>s", ".", count=2)  # the peer is closed: keep its RSTs out of the ladder
    p.send("s>c", FIN, 1, ack=2)
    p.at(1.1)
    p.send("s>c", FIN, 1, ack=2)  # within the 0.5 s out-of-window ACK limit
    p.at(1.2)
    assert p.rows(since=1.0) == [
        ("s>c", 1.0, "F.", 1, 2, 0),
        ("c>s✗", 1.01, ".", 2, 2, 0),
        ("s>c", 1.1, "F.", 1, 2, 0),
        ("c>s✗", 1.11, ".", 2, 2, 0),
    ]
    assert (1.11, "c", "TIME-WAIT timer restarted") in p.notes()
    assert a.state is State.TIME_WAIT


def test_close_wait_every_retransmitted_fin_is_acked_at_once() -> None:
    p = Pair()
    a, _b = p.close_wait()
    p.at(1.0)
    p.send("s>c", FIN, 1, ack=1)
    p.at(1.1)
    p.send("s>c", FIN, 1, ack=1)
    p.at(1.2)
    assert p.rows(since=1.0) == [
        ("s>c", 1.0, "F.", 1, 1, 0),
        ("c>s", 1.01, ".", 1, 2, 0),
        ("s>c", 1.1, "F.", 1, 1, 0),
        ("c>s", 1.11, ".", 1, 2, 0),
    ]
    assert a.state is State.CLOSE_WAIT
