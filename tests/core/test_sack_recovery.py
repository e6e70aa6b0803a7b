"""SACK-based loss recovery on the sender (RFC 6675 with RACK, RFC 8985; Linux
``tcp_sacktag_write_queue``, ``tcp_rack_detect_loss``, ``tcp_fastretrans_alert``).

The receiver side of SACK is not used: the sender is told SACK was
negotiated (``sack_ok``), the receiver's ACKs are dropped, and hand-made ACKs
carrying SACK blocks are handed to the sender.
"""

from __future__ import annotations

from ladder import Pair

from aiotcpsim.segment import TcpOptions
from aiotcpsim.tcp import Connection
from aiotcpsim.tcp.cc import CA_DISORDER, CA_LOSS, CA_OPEN, CA_RECOVERY
from aiotcpsim.tcp.scoreboard import LOST, Scoreboard

MSS = 1448
RTT = 0.02


def _sack_sender(segments: int, **knobs: object) -> tuple[Pair, Connection]:
    """A SACK sender that sent ``segments`` full segments at 0, the first lost,
    the receiver's own ACKs dropped."""
    p = Pair(**knobs)  # type: ignore[arg-type]
    a, _ = p.establish()
    a.sack_ok = True
    p.drop("c>s", ".", length=MSS)
    p.drop("s>c", ".", count=1000)
    a.send(b"x" * MSS * segments, p.net.now)
    return p, a


def _ack(p: Pair, ack: int, *blocks: tuple[int, int]) -> None:
    """Hand the sender an ACK of ``ack`` with SACK blocks (relative offsets)."""
    isn = p.isn.get("c", 0)
    sack = tuple(((isn + left) & 0xFFFFFFFF, (isn + right) & 0xFFFFFFFF) for left, right in blocks)
    seg = p.segment("s>c", 0, 1, ack)._replace(options=TcpOptions(sack=sack))
    p.c.deliver_from_wire(seg)


def _sent(p: Pair, at: float) -> list[int]:
    return [row[3] for row in p.rows() if row[0].startswith("c>s") and row[1] == at]


def _seq(k: int) -> int:
    """The first sequence number of segment ``k`` (1-based)."""
    return 1 + (k - 1) * MSS


def test_third_sacked_segment_marks_the_hole_lost_and_retransmits_it() -> None:
    p, a = _sack_sender(20)
    p.at(RTT)
    _ack(p, 1, (_seq(2), _seq(3)))
    # One SACKed segment: Disorder; the pipe drops to 9 < cwnd 10: one new
    # segment (RFC 6675's limited transmit); RACK waits min_rtt / 4.
    assert a.snapshot()["congestion"]["ca_state"] == CA_DISORDER
    _ack(p, 1, (_seq(2), _seq(4)))
    _ack(p, 1, (_seq(2), _seq(5)))
    # Three SACKed (tcp_reordering) and no reordering seen: RACK's reo_wnd is
    # 0 (tcp_rack_reo_wnd), segment 1 was sent with segment 4 and an RTT has
    # passed: lost.  Recovery: ssthresh = 10 * 717 / 1024 = 7, RecoverFS 10;
    # pipe = 12 out - 3 SACKed - 1 lost = 8 > ssthresh: PRR's sndcnt =
    # ceil(7 * 1 / 10) - 0 = 1: the retransmission, nothing more.
    assert _sent(p, RTT) == [_seq(11), _seq(12), _seq(1)]
    state = a.snapshot()["congestion"]
    assert (state["ca_state"], state["ssthresh"], state["sacked_out"]) == (CA_RECOVERY, 7, 3)
    assert (state["lost_out"], state["retrans_out"]) == (1, 1)


def test_rack_waits_a_quarter_of_min_rtt_for_reordering_then_retransmits() -> None:
    p, a = _sack_sender(10)
    p.at(RTT)
    _ack(p, 1, (_seq(2), _seq(3)))
    assert _sent(p, RTT) == []
    # segment 1 is not lost yet: RACK's reordering window min_rtt / 4 = 5 ms
    # (RFC 8985 6.2) runs from now (its timer, tcp_rack_reo_timeout)
    assert p.rel(a.snapshot()["timers"]["rack"]) == RTT + RTT / 4
    p.at(RTT + RTT / 4)
    assert _sent(p, RTT + RTT / 4) == [_seq(1)]
    assert a.snapshot()["congestion"]["ca_state"] == CA_RECOVERY


def test_rack_times_losses_by_the_latest_delivery_rtt() -> None:
    # Segment 3 SACKed at 20 ms: RACK's segment, RTT 20 ms; segment 1 is
    # lost at 25 ms.  Segment 2, sent with them, is SACKed at 24 ms: it is
    # not RACK's segment (sent before segment 3), but its RTT, 24 ms, is
    # RACK's RTT now (Linux tcp_rack_advance sets rack.rtt_us on every
    # delivery): segment 1 is lost at 24 + 5 ms, not at 25 ms.
    p, a = _sack_sender(10)
    p.at(RTT)
    _ack(p, 1, (_seq(3), _seq(4)))
    assert p.rel(a.snapshot()["timers"]["rack"]) == RTT + RTT / 4
    p.at(0.024)
    _ack(p, 1, (_seq(2), _seq(4)))
    assert p.rel(a.snapshot()["timers"]["rack"]) == 0.029
    p.at(0.025)
    assert _sent(p, 0.025) == []
    p.at(0.029)
    assert _sent(p, 0.029) == [_seq(1)]


def test_reordering_within_the_window_is_not_a_loss() -> None:
    p, a = _sack_sender(10)
    p.at(RTT)
    _ack(p, 1, (_seq(2), _seq(3)))
    p.at(RTT + 0.002)
    _ack(p, _seq(3))  # the "lost" segment arrives late: reordering
    p.at(0.06)  # (a tail loss probe would follow at 0.022 + 2 SRTT + 2 ms)
    assert [row for row in p.rows() if row[0] == "c>s" and row[3] == 1 and row[1] > 0] == []
    assert a.snapshot()["congestion"]["ca_state"] == CA_OPEN
    assert a.retransmissions == 0


def test_sack_recovery_resends_every_hole_and_ends_at_high_seq() -> None:
    p, a = _sack_sender(10, congestion_control="reno")
    p.at(RTT)
    # segments 1 and 3 lost: SACKs for 2, then 4 and 5: three SACKed, RACK
    # marks both holes lost (sent before 5, an RTT ago).  Recovery with
    # ssthresh 5: pipe = 10 - 3 SACKed - 2 lost = 5, PRR-SSRB's delta = 0,
    # the forced fast retransmit resends 1 (cwnd 6).  SACK of 6: pipe 5,
    # delta 0: nothing.  SACK of 7: pipe 4, delta 1: 3 goes.
    _ack(p, 1, (_seq(2), _seq(3)))
    _ack(p, 1, (_seq(4), _seq(6)), (_seq(2), _seq(3)))
    assert _sent(p, RTT) == [_seq(1)]
    _ack(p, 1, (_seq(4), _seq(7)), (_seq(2), _seq(3)))
    assert _sent(p, RTT) == [_seq(1)]
    _ack(p, 1, (_seq(4), _seq(8)), (_seq(2), _seq(3)))
    assert _sent(p, RTT) == [_seq(1), _seq(3)]
    high = a.snapshot()["congestion"]["high_seq"]
    p.at(2 * RTT)
    _ack(p, high)
    # beyond high_seq: cwnd = ssthresh = 5 (tcp_end_cwnd_reduction), Open;
    # the same ACK then delivered 5 segments not SACKed before (1, 3, 8-10):
    # congestion avoidance, tcp_cong_avoid_ai(w = 5, acked = 5): cwnd 6
    state = a.snapshot()["congestion"]
    assert (state["ca_state"], state["cwnd"], state["ssthresh"]) == (CA_OPEN, 6, 5)


def test_timeout_with_sack_resends_only_what_was_not_sacked() -> None:
    p, a = _sack_sender(4, congestion_control="reno")
    p.at(RTT)
    _ack(p, 1, (_seq(2), _seq(4)))  # 2 and 3 SACKed, 4 unknown
    rto = p.rel(a.snapshot()["timers"]["retransmission"])
    p.at(rto)
    state = a.snapshot()["congestion"]
    assert (state["ca_state"], state["cwnd"]) == (CA_LOSS, 1)
    assert _sent(p, rto) == [_seq(1)]  # cwnd 1: the first lost segment
    p.at(rto + RTT)
    _ack(p, _seq(2), (_seq(2), _seq(4)))
    # slow start: cwnd 2; SACKed 2 and 3 are not resent, 4 is
    assert _sent(p, rto + RTT) == [_seq(4)]


# -- RACK's "sent after": the order of transmission, not of sequence -------------


def _board(segments: int, now: float = 0.0) -> Scoreboard:
    board = Scoreboard()
    for i in range(segments):
        board.add(i * 1000, (i + 1) * 1000, now)
    return board


def test_a_retransmission_sent_after_new_data_in_the_same_instant_is_not_lost_by_its_sack() -> None:
    """On a virtual clock the repair and the new data it lets out leave at one
    instant; the repair went after them, so their SACK says nothing of it
    (Linux's nanosecond stamps order them the same way)."""
    board = _board(5)
    assert board.tag([(1000, 5000)], 0.05) == 4
    assert board.detect_loss(0.05, 0.0) == (1, 0.0)  # the hole: segment 0
    board.add(5000, 6000, 0.05)  # new data first ...
    board.retransmitted(board.next_lost(), 0.05)  # ... then the repair
    board.tag([(1000, 6000)], 0.10)
    assert board.detect_loss(0.10, 0.0) == (0, 0.0)
    assert board.next_lost() == -1 and board.retrans == 1  # nothing to resend again


def test_a_late_retransmission_does_not_hide_older_segments_from_rack() -> None:
    """A resent head was sent after the RACK segment, the segment behind it
    was not: it is still judged (Linux walks the queue in sending order)."""
    board = _board(4)
    board.tag([(3000, 4000)], 0.05)
    board.detect_loss(0.05, 0.0)  # segments 0 to 2 are lost
    board.retransmitted(0, 0.05)
    board.flags[1] &= ~LOST  # undo two of the marks: say they were only late
    board.flags[2] &= ~LOST
    board.lost -= 2
    board.tag([(2000, 4000)], 0.06)  # segment 2 (sent at 0) delivered
    assert board.detect_loss(0.06, 0.0) == (1, 0.0)  # segment 1 is lost
    assert board.flags[1] & LOST
    assert board.retrans == 1  # segment 0's repair is still in flight, not lost again
