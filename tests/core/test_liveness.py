"""Ladders of failures and liveness (``../shared/CONFORMANCE.md`` section D):
retransmission and give-up, keep-alive, zero-window persist, duplicate and
out-of-window data, segments without ACK.

Each test starts from an established connection; times are relative to the
end of the handshake, seq/ack relative to the ISNs.
"""

from __future__ import annotations

import errno
import itertools

import pytest
from ladder import App, Pair, recv_all

from aiotcpsim.segment import ACK
from aiotcpsim.tcp import State

# -- 52. data retransmission: RTO backoff, give-up after retries2 --------------------------

# With no delay the RTT sample is 0 and the RTO is Linux's floor,
# SRTT + max(4 * RTTVAR, rto_min) = 200 ms, doubled on every expiry up to rto_max.
# On a SACK connection (the default) a tail loss probe comes first, at
# min(2 SRTT + rto_min, RTO) = 0.2 s, and the RTO restarts from it without
# backing off (Linux ``tcp_send_loss_probe``); ``tcp_early_retrans=0`` (or no
# SACK) gives the bare RTO ladder.
BACKOFF = [0.0, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 51.2, 102.4, 204.8]
CAPPED = [324.8, 444.8, 564.8, 684.8, 804.8]
BARE = [0.0, 0.2, 0.6, 1.4, 3.0, 6.2, 12.6, 25.4, 51.0, 102.2, 204.6]
BARE_CAPPED = [324.6, 444.6, 564.6, 684.6, 804.6]


@pytest.mark.parametrize(
    ("early_retrans", "times", "closed", "retransmissions"),
    [(3, BACKOFF + CAPPED, 924.8, 16), (0, BARE + BARE_CAPPED, 924.6, 15)],
    ids=["loss-probe", "no-loss-probe"],
)
def test_established_data_retransmitted_with_backoff_then_etimedout(
    early_retrans: int, times: list[float], closed: float, retransmissions: int
) -> None:
    p = Pair(delay=0.0, early_retrans=early_retrans)
    a, _b = p.establish()
    app = App(p)
    a.user = app
    p.net.link(p.c, p.s).update(loss=1.0)
    a.send(b"x" * 100, p.net.now)
    p.idle()
    rows = p.rows()
    assert {row[0] for row in rows} == {"c>s✗"}
    assert {row[2:] for row in rows} == {("P.", 1, 1, 100)}
    # 1 transmission (+ the probe) + 15 retransmissions (tcp_retries2), then
    # the time bound of tcp_model_timeout, (2**10 - 1) * 0.2 + 6 * 120 = 924.6 s,
    # reached at the first expiry at least that long after the segment.
    assert [row[1] for row in rows] == times
    assert p.states("c") == [(closed, "c", "CLOSED")]
    assert a.error == errno.ETIMEDOUT
    assert a.retransmissions == retransmissions
    with pytest.raises(TimeoutError):
        a.recv(1, p.net.now)
    assert app.first("closed") == closed
    assert p.net.next_deadline() is None


def test_established_retries2_knob_shortens_give_up() -> None:
    # retries2 = 3: tcp_model_timeout = (2**4 - 1) * 0.2 = 3.0 s, reached at
    # the expiry at 3.2 s (after the probe at 0.2, RTOs at 0.4, 0.8, 1.6)
    p = Pair(delay=0.0, retries2=3)
    a, _b = p.establish()
    p.net.link(p.c, p.s).update(loss=1.0)
    a.send(b"x" * 10, p.net.now)
    p.idle()
    assert [row[1] for row in p.rows()] == [0.0, 0.2, 0.4, 0.8, 1.6]
    assert p.states("c") == [(3.2, "c", "CLOSED")]
    assert a.take_error() == errno.ETIMEDOUT


def test_established_user_timeout_bounds_retransmission() -> None:
    # TCP_USER_TIMEOUT: the last RTO is clamped so the connection fails exactly
    # user_timeout after the first unacknowledged transmission
    # (tcp_clamp_rto_to_user_timeout).
    p = Pair()
    a, _b = p.establish()
    a.user_timeout = 5.0
    p.net.link(p.c, p.s).update(loss=1.0)
    a.send(b"x" * 10, p.net.now)
    p.idle()
    # (the probe at 0.22, then the RTO from it: 0.44, 0.88, 1.76, 3.52)
    assert [row[1] for row in p.rows()] == [0.0, 0.22, 0.44, 0.88, 1.76, 3.52]
    assert p.states("c") == [(5.0, "c", "CLOSED")]
    assert a.error == errno.ETIMEDOUT


def test_established_lost_segment_retransmitted_and_recovered() -> None:
    p = Pair()
    a, b = p.establish()
    p.drop("c>s", ".", length=1448)  # 1460 - 12 (timestamps)
    a.send(b"a" * 1448 + b"b" * 1448 + b"c" * 1448, p.net.now)
    p.at(1.0)
    rows = p.rows()
    assert rows[0] == ("c>s✗", 0.0, ".", 1, 1, 1448)
    assert [row[3] for row in rows if row[0] == "c>s" and row[1] == 0.0] == [1449, 2897]
    # Out of order: B acknowledges at once with ack 1 (duplicate ACKs).
    assert [row for row in rows if row[0] == "s>c" and row[1] == 0.01] == [
        ("s>c", 0.01, ".", 1, 1, 0),
        ("s>c", 0.01, ".", 1, 1, 0),
    ]
    rtx = [row for row in rows if row[0] == "c>s" and row[1] > 0.0]
    # The ACKs SACK segments 2 and 3, sent with 1 and acknowledged an RTT
    # later: RACK (RFC 8985 6.2) marks 1 lost once its reordering window,
    # min_rtt / 4 with fewer than 3 SACKed, has passed (tcp_rack_reo_timeout).
    assert rtx[0] == ("c>s", 0.025, ".", 1, 1, 1448)
    assert ("s>c", 0.035, ".", 1, 4345, 0) in rows  # the hole filled: cumulative ACK
    assert recv_all(b, p.net.now) == b"a" * 1448 + b"b" * 1448 + b"c" * 1448


def test_established_lost_segment_without_sack_waits_for_the_rto() -> None:
    p = Pair(sack=False)
    a, b = p.establish()
    p.drop("c>s", ".", length=1448)
    a.send(b"a" * 1448 + b"b" * 1448 + b"c" * 1448, p.net.now)
    p.at(1.0)
    rows = p.rows()
    # Two duplicates are not three (the first is also the scaled window's
    # update): the RTO resends the head.
    rtx = [row for row in rows if row[0] == "c>s" and row[1] > 0.0]
    assert rtx[0] == ("c>s", 0.22, ".", 1, 1, 1448)  # RTO = 0.02 + max(4 * 0.01, 0.2)
    assert ("s>c", 0.23, ".", 1, 4345, 0) in rows
    assert recv_all(b, p.net.now) == b"a" * 1448 + b"b" * 1448 + b"c" * 1448


# -- 53. keep-alive ---------------------------------------------------------------------------


def test_established_keepalive_probe_answered_restarts_idle_timer() -> None:
    p = Pair()
    a, _b = p.establish()
    a.set_keepalive(True, now=p.net.now)
    p.at(14500.0)
    assert p.rows() == [
        ("c>s", 7200.0, ".", 0, 1, 0),  # seq = SND.NXT - 1
        ("s>c", 7200.01, ".", 1, 1, 0),
        ("c>s", 14400.02, ".", 0, 1, 0),  # idle again for 7200 s since the answer
        ("s>c", 14400.03, ".", 1, 1, 0),
    ]
    assert a.state is State.ESTABLISHED


def test_established_keepalive_unanswered_gives_up_after_probes() -> None:
    p = Pair()
    a, _b = p.establish()
    a.set_keepalive(True, now=p.net.now)
    p.net.link(p.c, p.s).update(loss=1.0)
    p.idle()
    probes = [row for row in p.rows() if row[2] == "."]
    assert probes == [("c>s✗", 7200.0 + 75.0 * i, ".", 0, 1, 0) for i in range(9)]
    assert p.states("c") == [(7875.0, "c", "CLOSED")]
    assert a.take_error() == errno.ETIMEDOUT
    # Linux's keep-alive timer resets the connection as it gives up.
    assert p.rows()[-1] == ("c>s✗", 7875.0, "R.", 1, 1, 0)


def test_established_keepalive_knobs_per_connection() -> None:
    p = Pair()
    a, _b = p.establish()
    a.set_keepalive(True, idle=10.0, interval=2.0, count=3, now=p.net.now)
    p.net.link(p.c, p.s).update(loss=1.0)
    p.idle()
    assert [row[1] for row in p.rows() if row[2] == "."] == [10.0, 12.0, 14.0]
    assert p.states("c") == [(16.0, "c", "CLOSED")]
    with pytest.raises(TimeoutError):
        a.recv(1, p.net.now)


def test_established_keepalive_peer_restarted_resets() -> None:
    p = Pair()
    a, _b = p.establish()
    a.set_keepalive(True, now=p.net.now)
    p.s.crash()
    p.at(100.0)
    p.s.restart()
    p.at(7300.0)
    assert p.rows() == [
        ("c>s", 7200.0, ".", 0, 1, 0),
        ("s>c", 7200.01, "R", 1, None, 0),  # nothing there: RST seq = SEG.ACK
    ]
    assert p.states("c") == [(7200.02, "c", "CLOSED")]
    with pytest.raises(ConnectionResetError):
        a.recv(1, p.net.now)


def test_established_keepalive_off_by_default() -> None:
    p = Pair()
    a, _b = p.establish()
    p.idle()
    assert p.rows() == []
    assert a.state is State.ESTABLISHED


def test_established_keepalive_disabled_again_stops_probes() -> None:
    p = Pair()
    a, _b = p.establish()
    a.set_keepalive(True, idle=10.0, now=p.net.now)
    p.at(5.0)
    a.set_keepalive(False)
    p.idle()
    assert p.rows() == []


# -- 54. zero window: the writer stalls, persist probes never time out ---------------------


def test_established_zero_window_probes_then_window_update_on_read() -> None:
    # Exact windows of a 4 KiB buffer: no scaling, whose rounding to 128 bytes
    # would hide the buffer's last bytes (the point here is the zero window).
    p = Pair(rcvbuf=4096, window_scaling=False, timestamps=0)
    a, b = p.establish()
    payload = bytes(range(256)) * 40  # 10240 bytes, more than B's buffer
    assert a.send(payload, p.net.now) == len(payload)
    p.at(0.12)
    assert b.readable_bytes == 4096
    assert p.rows(window=True) == [
        ("c>s", 0.0, ".", 1, 1, 1460, 4096),
        ("c>s", 0.0, ".", 1461, 1, 1460, 4096),
        # Quick-ACK budget: rcv_wnd / (2 * rcv_mss) = 4096 / 2920 = 1 (tcp_incr_quickack);
        # then one segment unacknowledged is not "more than one full segment".
        ("s>c", 0.01, ".", 1, 1461, 0, 2636),
        ("s>c", 0.05, ".", 1, 2921, 0, 1176),  # delayed ACK, 40 ms
        # Sender SWS avoidance: no sub-MSS segment into a small window while
        # data is in flight; the rest goes when everything is acknowledged.
        ("c>s", 0.06, ".", 2921, 1, 1176, 4096),
        ("s>c", 0.11, ".", 1, 4097, 0, 0),  # the window is closed
    ]
    p.at(3600.0)  # an hour later: probes all along, never a timeout
    assert a.state is State.ESTABLISHED
    probes = [row for row in p.rows() if row[0] == "c>s" and row[1] > 0.11]
    times = [row[1] for row in probes]
    # Probes from the zero-window ACK (0.12) on, RTO 0.225 s doubled each time.
    assert times[:5] == [0.345, 0.795, 1.695, 3.495, 7.095]
    gaps = [round(b - a, 6) for a, b in itertools.pairwise(times)]
    assert max(gaps) == 120.0  # capped at rto_max
    # Linux's probe: zero-length, SEG.SEQ = SND.UNA - 1 (tcp_xmit_probe_skb).
    assert {row[2:] for row in probes} == {(".", 4096, 1, 0)}
    answers = [row for row in p.rows(window=True) if row[0] == "s>c" and row[1] > 0.11]
    assert {row[2:] for row in answers} == {(".", 1, 4097, 0, 0)}
    # Answers to old-sequence segments are rate-limited (tcp_invalid_ratelimit,
    # 500 ms): the probe at 0.795 s, 0.45 s after the previous one, goes unanswered.
    assert [row[1] for row in answers[:3]] == [0.355, 1.705, 3.505]
    assert b.readable_bytes == 4096
    # The reader comes back: a window update, and the writer resumes.
    start = p.now
    got = recv_all(b, p.net.now)
    p.at(start + 0.001)
    update = [row for row in p.rows(window=True, since=start) if row[0] == "s>c"]
    assert update[0][1] == start and update[0][6] > 0
    while len(got) < len(payload):
        p.at(p.now + 0.05)
        got += recv_all(b, p.net.now)
        assert p.now < start + 10
    assert got == payload


def test_established_send_buffer_fills_when_reader_stalls() -> None:
    p = Pair(rcvbuf=8192, sndbuf=16384, window_scaling=False)  # exact windows
    a, b = p.establish()
    app = App(p)
    a.user = app
    accepted = a.send(b"w" * 100000, p.net.now)
    assert accepted == 16384  # bounded by the send buffer
    p.at(0.2)  # every (possibly delayed) ACK is back
    assert b.readable_bytes == 8192
    # The acknowledged 8192 bytes left the send buffer: room for 8192 more.
    assert a.send_buffer_free == 8192
    assert a.send(b"w" * 100000, p.net.now) == 8192
    assert a.send(b"w", p.net.now) == 0  # full: a writer would block here
    assert a.send_queued == 16384
    n = len(recv_all(b, p.net.now))
    assert n == 8192
    p.at(0.4)  # window update, data, (delayed) ACKs
    assert a.send_buffer_free > 0
    assert app.first("writable") is not None  # the writer is woken up


# -- 55. duplicate and out-of-window data ------------------------------------------------------


def test_established_duplicate_data_acked_not_redelivered() -> None:
    p = Pair(rcvbuf=32768)
    a, _b = p.establish()
    p.net.link(p.c, p.s).update(loss=1.0)  # B's TCB must not see A's replies
    p.send("s>c", ACK, 1, ack=1, payload=b"d" * 100)
    p.at(1.0)
    p.send("s>c", ACK, 1, ack=1, payload=b"d" * 100)  # a duplicate
    p.at(2.0)
    p.send("s>c", ACK, 32769 + 100, ack=1, payload=b"e" * 100)  # beyond the window
    p.at(3.0)
    assert [row for row in p.rows() if row[0] == "c>s✗"] == [
        ("c>s✗", 0.01, ".", 1, 101, 0),
        ("c>s✗", 1.01, ".", 1, 101, 0),  # a duplicate: ACKed, not delivered again
        ("c>s✗", 2.01, ".", 1, 101, 0),  # beyond the window: ACKed, dropped
    ]
    assert recv_all(a, p.net.now) == b"d" * 100
    assert a.readable_bytes == 0


def test_established_overlapping_segment_delivers_only_new_bytes() -> None:
    p = Pair()
    a, _b = p.establish()
    p.send("s>c", ACK, 1, ack=1, payload=b"0123456789")
    p.send("s>c", ACK, 6, ack=1, payload=b"56789abcde")
    p.at(0.1)
    assert recv_all(a, p.net.now) == b"0123456789abcde"


def test_established_out_of_order_segments_reassembled() -> None:
    p = Pair()
    a, _b = p.establish()
    p.net.link(p.c, p.s).update(loss=1.0)  # B's TCB must not see A's replies
    p.send("s>c", ACK, 11, ack=1, payload=b"klmnopqrst")
    p.send("s>c", ACK, 21, ack=1, payload=b"uvwxyz")
    p.at(0.05)
    assert a.recv(100, p.net.now) is None
    p.send("s>c", ACK, 1, ack=1, payload=b"abcdefghij")
    p.at(0.1)
    assert [row for row in p.rows() if row[0] == "c>s✗"] == [
        ("c>s✗", 0.01, ".", 1, 1, 0),  # out of order: duplicate ACKs at once
        ("c>s✗", 0.01, ".", 1, 1, 0),
        ("c>s✗", 0.06, ".", 1, 27, 0),  # the hole filled: everything at once
    ]
    assert recv_all(a, p.net.now) == b"abcdefghijklmnopqrstuvwxyz"


# -- 56. a segment without the ACK flag ---------------------------------------------------------


def test_established_segment_without_ack_is_dropped() -> None:
    p = Pair()
    _a, b = p.establish()
    p.net.link(p.s, p.c).update(loss=1.0)  # A's TCB must not see B's replies
    p.send("c>s", 0, 1, payload=b"n" * 1000)  # no flags at all
    p.at(0.5)
    assert b.readable_bytes == 0
    assert [row for row in p.rows() if row[0] == "s>c✗"] == []
    assert b.state is State.ESTABLISHED
    p.send("c>s", ACK, 1, ack=1, payload=b"n" * 1000)
    p.at(1.0)
    assert b.readable_bytes == 1000
    assert [row for row in p.rows() if row[0] == "s>c✗"] == [("s>c✗", 0.51, ".", 1, 1001, 0)]


# -- ACK checks (RFC 5961 section 5, RFC 9293 3.10.7.4) ----------------------------------------


def test_established_ack_of_unsent_data_is_acked_and_dropped() -> None:
    p = Pair()
    a, _b = p.establish()
    p.net.link(p.c, p.s).update(loss=1.0)  # B's TCB must not see A's replies
    p.send("s>c", ACK, 1, ack=5000, payload=b"bogus")  # SEG.ACK > SND.NXT
    p.at(0.1)
    assert [row for row in p.rows() if row[0] == "c>s✗"] == [("c>s✗", 0.01, ".", 1, 1, 0)]
    assert a.readable_bytes == 0
    assert a.state is State.ESTABLISHED


def test_established_ack_far_below_window_draws_challenge_ack() -> None:
    p = Pair()
    a, _b = p.establish()
    p.net.link(p.c, p.s).update(loss=1.0)
    # SEG.ACK < SND.UNA - MAX.SND.WND: a blind data injection attempt.
    p.send("s>c", ACK, 1, ack=(1 - 10_000_000) & 0xFFFFFFFF, payload=b"blind")
    p.at(0.1)
    assert [row for row in p.rows() if row[0] == "c>s✗"] == [("c>s✗", 0.01, ".", 1, 1, 0)]
    assert a.readable_bytes == 0
    assert (0.01, "c", "challenge ACK (ACK below the acceptable range)") in p.notes()


# -- SYN in a synchronized state (RFC 5961 section 4) ------------------------------------------


def test_established_in_window_syn_draws_challenge_ack() -> None:
    p = Pair()
    a, _b = p.establish()
    p.send("s>c", 0x02, 5)  # SYN, in window
    p.at(0.1)
    assert [row for row in p.rows() if row[0] == "c>s"] == [("c>s", 0.01, ".", 1, 1, 0)]
    assert a.state is State.ESTABLISHED
