"""Congestion control and loss recovery: the algorithms on their own (``aiotcpsim.tcp.reno``,
``cubic``, ``congestion``) and the recovery state machine in ladders (``recovery``).

Expected numbers come from the RFCs' formulas and Linux's code, worked by hand
in the comments: RFC 9438 section 4 (CUBIC), RFC 6937 and Linux
``tcp_cwnd_reduction`` (PRR), RFC 3042 / Linux's Disorder state (limited
transmit), RFC 6582 (NewReno), Linux ``tcp_enter_loss`` and ``tcp_cwnd_restart``.
"""

from __future__ import annotations

import pytest
from ladder import Pair

from aiotcpsim.tcp.cc import CA_DISORDER, CA_LOSS, CA_OPEN, CA_RECOVERY, INFINITE_SSTHRESH
from aiotcpsim.tcp.congestion import new_congestion_control, switch_congestion_control
from aiotcpsim.tcp.cubic import Cubic, cubic_root
from aiotcpsim.tcp.reno import Reno

MSS = 1448

# -- Reno (Linux tcp_reno_cong_avoid) -----------------------------------------------------


def test_reno_slow_start_counts_packets_up_to_ssthresh_then_one_per_window() -> None:
    cc = Reno()
    cc.cwnd, cc.ssthresh = 10, 12
    cc.cong_avoid(5, 0.0)  # slow start to 12, 3 left over for avoidance
    assert (cc.cwnd, cc.cwnd_cnt) == (12, 3)
    for _ in range(9):  # one packet per cwnd (12) packets acknowledged
        cc.cong_avoid(1, 0.0)
    assert (cc.cwnd, cc.cwnd_cnt) == (13, 0)


def test_reno_ssthresh_halves_the_window_but_keeps_two() -> None:
    cc = Reno()
    cc.cwnd = 21
    assert cc.ssthresh_on_loss() == 10
    cc.cwnd = 3
    assert cc.ssthresh_on_loss() == 2


def test_names_select_the_algorithms_and_a_switch_keeps_the_window() -> None:
    assert isinstance(new_congestion_control("cubic"), Cubic)
    assert type(new_congestion_control("reno")) is Reno
    assert new_congestion_control("newreno").name == "newreno"
    with pytest.raises(ValueError, match="unknown congestion control 'vegas'"):
        new_congestion_control("vegas")
    old = new_congestion_control("cubic")
    old.cwnd, old.ssthresh = 30, 20
    new = switch_congestion_control(old, "reno", 1.0, 100)
    assert (new.name, new.cwnd, new.ssthresh) == ("reno", 30, 20)


# -- CUBIC (RFC 9438, Linux tcp_cubic.c) ---------------------------------------------------


def test_cubic_root_is_within_linux_error_of_the_cube_root() -> None:
    for a in (0, 1, 8, 27, 63, 64, 1000, 12345, 10**9, 8 * 10**10, 2**62):
        exact = a ** (1 / 3)
        assert abs(cubic_root(a) - exact) <= max(1.0, 0.01 * exact)


def test_cubic_loss_sets_ssthresh_to_0_7_of_cwnd_and_wmax() -> None:
    cc = Cubic()
    cc.cwnd = 100
    assert cc.ssthresh_on_loss() == 70  # beta = 717/1024: RFC 9438's 0.7
    assert cc.last_max_cwnd == 100
    cc.cwnd = 80  # a loss below the last W_max: fast convergence (RFC 9438 4.7)
    assert cc.ssthresh_on_loss() == 56
    assert cc.last_max_cwnd == 80 * (1 + 0.7) // 2  # W_max * (1 + beta) / 2 = 68


def _cubic_after_loss(seconds: float, rtt: float = 0.1) -> Cubic:
    """A CUBIC sender at 100 packets that lost one at t0 = 10 s, then had
    every packet of each window acknowledged, one RTT per window."""
    cc = Cubic()
    cc.cwnd = 100
    cc.ssthresh = cc.ssthresh_on_loss()
    cc.cwnd = cc.ssthresh
    t = 10.0
    while t < 10.0 + seconds - 1e-9:
        n = cc.cwnd
        for i in range(n):
            cc.cong_avoid(1, t + i * rtt / n)
        t += rtt
    return cc


@pytest.mark.parametrize("t", [1.0, 2.0, 3.0, 4.217, 5.0, 7.0, 8.0])
def test_cubic_window_follows_w_cubic_of_rfc_9438(t: float) -> None:
    # RFC 9438 eq. 1-2: W_cubic(t) = C (t - K)^3 + W_max with C = 0.4,
    # W_max = 100, cwnd_epoch = 70: K = cbrt((100 - 70) / 0.4) = 4.217 s.
    # The Reno-friendly estimate (eq. 4) 70 + 3 * 0.3 / 1.7 * t / RTT stays
    # below it at these times.  The window trails the curve by about an RTT.
    k = ((100 - 70) / 0.4) ** (1 / 3)
    assert k == pytest.approx(4.217, abs=1e-3)
    w_cubic = 0.4 * (t - k) ** 3 + 100
    w_est = 70 + 3 * (1 - 0.7) / (1 + 0.7) * t / 0.1
    assert w_est < w_cubic or t >= 5.0
    cc = _cubic_after_loss(t)
    assert cc.bic_k / 1024 == pytest.approx(k, rel=0.005)  # Linux's K in 1/1024 s
    assert cc.cwnd == pytest.approx(max(w_cubic, w_est), abs=2.5)


def test_cubic_before_any_loss_grows_at_most_5_percent_per_rtt_past_slow_start() -> None:
    # bictcp_update: last_max_cwnd == 0 caps cnt at 20 (one packet per 20 acked).
    cc = Cubic()
    cc.cwnd, cc.ssthresh = 100, 100
    cc.init(10.0, 1)
    for i in range(100):
        cc.cong_avoid(1, 10.0 + i * 0.001)
    assert cc.cwnd == 105


def test_cubic_loss_state_resets_the_epoch() -> None:
    cc = _cubic_after_loss(1.0)
    assert cc.epoch_start and cc.last_max_cwnd == 100
    cc.set_state(CA_LOSS, 12.0, 1)
    assert (cc.epoch_start, cc.last_max_cwnd) == (0, 0)


# -- recovery without SACK (Linux tcp_fastretrans_alert, tcp_is_reno) ------------------------


def _lose_first_of(p: Pair, segments: int) -> None:
    a, _ = p.establish()
    p.drop("c>s", ".", length=MSS)
    a.send(b"x" * MSS * segments, p.net.now)


def test_three_dupacks_fast_retransmit_with_limited_transmit_and_prr() -> None:
    p = Pair(congestion_control="newreno")
    _lose_first_of(p, 30)
    p.at(0.025)
    sent = [row[3] for row in p.rows() if row[0] == "c>s" and row[1] == 0.02]
    # Duplicates 1 and 2 (Disorder): the pipe drops by one each, two new
    # segments (11 and 12) leave under cwnd 10 (RFC 3042).  The 3rd: the
    # head is lost, ssthresh = 10 / 2 = 5, RecoverFS (prior_cwnd) = 10;
    # PRR (RFC 6937 3, delta = ssthresh - pipe < 0): sndcnt = ceil(5 *
    # prr_delivered / 10) - prr_out: dupack 3 -> 1 (the retransmission),
    # 4 -> 0, 5 -> 1, 6 -> 0, 7 -> 1, then pipe (5) reaches ssthresh and
    # PRR-SSRB's delta = 0 holds the rest: segments 13 and 14.
    assert sent == [1 + 10 * MSS, 1 + 11 * MSS, 1, 1 + 12 * MSS, 1 + 13 * MSS]


def test_recovery_ends_beyond_high_seq_with_cwnd_at_ssthresh() -> None:
    p = Pair(congestion_control="newreno")
    a, _ = p.establish()
    p.drop("c>s", ".", length=MSS)
    a.send(b"x" * MSS * 30, p.net.now)
    p.at(0.045)
    # high_seq = 1 + 12 MSS (SND.MAX at the 3rd duplicate); the ACKs 1 + 12
    # MSS (= high_seq: the state holds) and 1 + 13 MSS (beyond: Open) end it
    # with cwnd = ssthresh (tcp_end_cwnd_reduction), then congestion avoidance.
    state = a.snapshot()["congestion"]
    assert (state["ca_state"], state["high_seq"]) == (CA_OPEN, 1 + 12 * MSS)
    assert (state["cwnd"], state["ssthresh"]) == (5, 5)
    assert a.cwnd == 5 * MSS


def test_newreno_partial_ack_resends_the_next_hole_reno_waits() -> None:
    for name, resent in (("newreno", True), ("reno", False)):
        p = Pair(congestion_control=name, sack=False)  # NewReno: RFC 6582, no SACK
        a, _ = p.establish()
        p.drop("c>s", ".", length=MSS)  # segment 1
        a.send(b"x" * MSS * 2, p.net.now)
        p.drop("c>s", ".", length=MSS)  # segment 3
        a.send(b"x" * MSS * 8, p.net.now)
        p.at(0.045)
        rows = p.rows()
        # the ACK of the retransmitted head stops at the second hole (1 + 2 MSS)
        assert ("s>c", 0.03, ".", 1, 1 + 2 * MSS, 0) in rows
        assert (("c>s", 0.04, ".", 1 + 2 * MSS, 1, MSS) in rows) is resent, name
        state = a.snapshot()["congestion"]
        assert state["ca_state"] == (CA_RECOVERY if resent else CA_OPEN), name


def test_timeout_enters_loss_with_one_packet_and_ssthresh_from_the_algorithm() -> None:
    p = Pair(sack=False)  # cubic; without SACK a duplicate ACK counts as one SACKed segment
    a, _ = p.establish()
    p.drop("c>s", ".")
    a.send(b"x" * MSS * 3, p.net.now)
    p.at(0.21)
    state = a.snapshot()["congestion"]
    # The first ACK from the server carries its scaled window (131072), not the
    # SYN-ACK's unscaled 65535: a window update, not a duplicate (Linux
    # FLAG_WIN_UPDATE); the second is one duplicate.
    assert (state["ca_state"], state["sacked_out"]) == (CA_DISORDER, 1)
    p.at(0.225)  # RTO = 0.02 + max(4 * 0.01, 0.2): tcp_enter_loss
    state = a.snapshot()["congestion"]
    # cwnd 10 -> ssthresh = 10 * 717 / 1024 = 7, cwnd = 1
    assert (state["ca_state"], state["cwnd"], state["ssthresh"]) == (CA_LOSS, 1, 7)
    assert state["high_seq"] == 1 + 3 * MSS
    p.at(1.0)
    # the ACK of exactly high_seq holds the state without SACK
    # (tcp_try_undo_recovery: "Hold old state until something *above* high_seq is ACKed")
    assert a.snapshot()["congestion"]["ca_state"] == CA_LOSS
    a.send(b"z", p.net.now)
    p.at(1.5)
    assert a.snapshot()["congestion"]["ca_state"] == CA_OPEN


def test_cwnd_restarts_after_an_idle_time_longer_than_the_rto() -> None:
    # tcp_cwnd_restart: idle about 1.5 s with RTO 0.22 s: halve once per RTO
    # idle beyond the first (40 -> 20 -> 10), not below the initial window 10;
    # ssthresh = tcp_current_ssthresh = max(ssthresh, 3/4 cwnd): still infinite.
    for after_idle, expect in ((True, 10), (False, 40)):
        p = Pair(slow_start_after_idle=after_idle)
        a, b = p.establish()
        a.send(b"x" * MSS * 30, p.net.now)
        p.at(0.5)
        assert b.recv(1 << 20, p.net.now) is not None
        assert a.cwnd == 40 * MSS  # slow start: 10 + 30 packets acknowledged
        p.at(1.5)
        a.send(b"y", p.net.now)
        assert a.cwnd == expect * MSS, after_idle
        if after_idle:
            assert a.snapshot()["congestion"]["ssthresh"] == INFINITE_SSTHRESH
