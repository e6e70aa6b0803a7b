"""Undo of spurious window reductions and RACK's adaptive reordering window
(Linux ``tcp_try_undo_recovery``, ``tcp_try_undo_dsack``,
``tcp_try_undo_partial``, ``tcp_try_undo_loss``, ``tcp_packet_delayed``;
RFC 3522's Eifel detection, RFC 8985 section 6.2 step 4,
``tcp_rack_update_reo_wnd``).

Both ends negotiated SACK and timestamps; one data segment is held by the
test and released later (a reordering the sender mistakes for a loss), the
receiver's own ACKs (with its D-SACKs) go back to the sender.
"""

from __future__ import annotations

from ladder import Pair

from aiotcpsim.net import Network
from aiotcpsim.segment import Segment
from aiotcpsim.tcp import Connection
from aiotcpsim.tcp.cc import CA_LOSS, CA_OPEN, CA_RECOVERY, INFINITE_SSTHRESH
from aiotcpsim.tcp.scoreboard import Scoreboard
from tests.support import bulk_transfer

MSS = 1448


def _bulk(p: Pair, segments: int = 60) -> Connection:
    a, _ = p.establish()
    a.send(b"x" * MSS * segments, p.net.now)
    return a


def _reordered_once(p: Pair) -> Connection:
    """200 segments sent at 0, the first held 8 ms: RACK resends it
    needlessly and the receiver's D-SACK reports that by 40 ms; the
    connection as it stands at 50 ms."""
    held = p.hold("c>s", ".", length=MSS)
    a = _bulk(p, 200)
    p.at(0.008)
    p.release(held)
    p.at(0.05)
    return a


def _congestion(a: Connection) -> dict[str, int]:
    return a.snapshot()["congestion"]  # type: ignore[no-any-return]


def _reorder_next(p: Pair, by: float) -> float:
    """Hold the next full data segment the client sends and let it travel
    ``by`` seconds after it was sent; returns when it was sent (relative)."""
    held: list[Segment] = p.hold("c>s", ".", length=MSS)
    while not held:
        deadline = p.net.next_deadline()
        assert deadline is not None
        p.at(p.rel(deadline))
    sent = p.now
    p.at(sent + by)
    p.release(held)
    return sent


def test_fast_retransmit_undone_by_the_dsack_of_its_original() -> None:
    # Segment 1 is delayed 40 ms: the nine SACKs behind it mark it lost at
    # 20 ms (no reordering seen yet: reo_wnd 0), Recovery halves the window
    # and ends at 40 ms (cwnd = ssthresh = 7).  The original arrives at
    # 50 ms: the receiver D-SACKs it; its ACK at 60 ms shows every
    # retransmission was needless (undo_retrans 0): tcp_try_undo_dsack
    # restores cwnd (max(cwnd, prior_cwnd)) and ssthresh (prior_ssthresh).
    p = Pair()
    held = p.hold("c>s", ".", length=MSS)
    a = _bulk(p)
    p.at(0.04)
    state = _congestion(a)
    assert (state["ca_state"], state["ssthresh"], state["dsack_undo"]) == (CA_OPEN, 7, 0)
    p.release(held)
    p.at(0.061)
    state = _congestion(a)
    assert state["dsack_undo"] == 1
    assert state["ssthresh"] == INFINITE_SSTHRESH
    assert state["cwnd"] >= 10
    assert (state["full_undo"], state["partial_undo"], state["loss_undo"]) == (0, 0, 0)


def test_original_acknowledged_first_undoes_recovery_by_its_timestamp() -> None:
    # Segment 1 is delayed 8 ms: the sender retransmits it at 20 ms; its
    # original's ACK comes at 28 ms, in Recovery, and echoes the original's
    # TSval (0 ms), older than the first retransmission (20 ms): Eifel
    # (tcp_packet_delayed), tcp_try_undo_partial restores the window.
    p = Pair()
    held = p.hold("c>s", ".", length=MSS)
    a = _bulk(p)
    p.at(0.008)
    p.release(held)
    p.at(0.027)
    state = _congestion(a)
    assert (state["ca_state"], state["ssthresh"]) == (CA_RECOVERY, 7)
    p.at(0.028)
    state = _congestion(a)
    assert state["partial_undo"] == 1
    assert state["ca_state"] != CA_RECOVERY
    assert state["ssthresh"] == INFINITE_SSTHRESH
    assert state["cwnd"] >= 10


def test_reordering_window_grows_after_a_dsack() -> None:
    # After the spurious retransmission above, its D-SACK (at 40 ms) proves
    # the reordering: RACK's window becomes 2 * min_rtt / 4 = 10 ms, and a
    # second 8 ms reordering goes by without a retransmission.
    p = Pair()
    a = _reordered_once(p)
    state = _congestion(a)
    assert (state["reo_wnd_steps"], state["reo_wnd_persist"]) == (2, 16)
    assert a.retransmissions == 1
    _reorder_next(p, 0.008)
    p.at(p.now + 0.05)
    assert a.retransmissions == 1
    assert _congestion(a)["ssthresh"] == INFINITE_SSTHRESH


def test_static_reordering_window_does_not_grow() -> None:
    # tcp_recovery 0x2: the window stays min_rtt / 4 (5 ms) once reordering
    # was seen; the second 8 ms reordering is retransmitted again.
    p = Pair(recovery=3)
    a = _reordered_once(p)
    assert _congestion(a)["reo_wnd_steps"] == 1
    _reorder_next(p, 0.008)
    p.at(p.now + 0.05)
    assert a.retransmissions == 2


def test_a_real_loss_is_not_undone() -> None:
    p = Pair()
    p.drop("c>s", ".", length=MSS)
    a = _bulk(p)
    p.at(0.2)
    state = _congestion(a)
    assert a.retransmissions == 1
    assert state["ssthresh"] == 7
    undone = ("full_undo", "dsack_undo", "partial_undo", "loss_undo")
    assert [state[k] for k in undone] == [0, 0, 0, 0]


def test_timeout_whose_ack_was_only_delayed_is_undone() -> None:
    # No loss probe (tcp_early_retrans 0): one segment, its ACK held past the
    # RTO.  The retransmission at the RTO marks the first one; the held ACK
    # then arrives echoing the original's TSval: the timeout was spurious
    # (RFC 3522), tcp_try_undo_loss restores the window (TCPLossUndo).
    p = Pair(early_retrans=0)
    a, _ = p.establish()
    ack = p.hold("s>c", ".")
    a.send(b"x" * 1000, p.net.now)
    p.at(0.02)
    assert ack
    rto = a.snapshot()["timers"]["retransmission"]
    p.at(p.rel(rto))
    state = _congestion(a)
    assert (state["ca_state"], state["cwnd"], a.retransmissions) == (CA_LOSS, 1, 1)
    p.release(ack)
    p.at(p.now + p.d)
    state = _congestion(a)
    assert state["loss_undo"] == 1
    assert state["ca_state"] == CA_OPEN
    assert state["cwnd"] >= 10
    assert state["ssthresh"] == INFINITE_SSTHRESH


def test_timeout_of_a_lost_segment_is_not_undone() -> None:
    p = Pair(early_retrans=0)
    a, _ = p.establish()
    p.drop("c>s", "P.")
    a.send(b"x" * 1000, p.net.now)
    p.at(3.0)
    state = _congestion(a)
    assert a.retransmissions == 1
    assert state["loss_undo"] == 0
    assert state["ssthresh"] == 7


def _transfer(seed: int, **impairments: float) -> tuple[int, int, Connection]:
    """A 400 kB bulk transfer: (final cwnd, retransmissions, sender)."""
    net = Network(seed=seed, delay=0.02, **impairments)  # type: ignore[arg-type]
    conn, _ = bulk_transfer(net, seed, 400_000)
    return conn.snapshot()["congestion"]["cwnd"], conn.retransmissions, conn


def test_reordering_without_loss_keeps_the_window() -> None:
    # Reordering only (a 5 ms jitter on a 20 ms path reorders segments sent
    # together; no loss): every spurious reduction is undone, so the window
    # ends near where the same transfer without reordering ends -- less at
    # most one reduction (Linux's undo restores prior_cwnd and ssthresh).
    # (netem's ``reorder``, which sends a segment at once, is left out: when
    # a data segment and its ACK both skip the delay, RACK's min_rtt drops to
    # 0 and so does its reordering window, in Linux too.)
    for seed in (1, 2, 3):
        clean, _, _ = _transfer(seed)
        cwnd, retransmissions, conn = _transfer(seed, jitter=0.005)
        state = conn.snapshot()["congestion"]
        undone = state["full_undo"] + state["dsack_undo"] + state["partial_undo"]
        assert retransmissions > 0 and undone > 0
        assert state["ssthresh"] == INFINITE_SSTHRESH
        assert cwnd * 2 >= clean, (seed, cwnd, clean, retransmissions)


def test_reordering_window_steps_once_per_round_trip() -> None:
    # RFC 8985 6.2 step 4: a D-SACK adds a step of min_rtt / 4 unless one was
    # added less than a round trip ago (SND.UNA has not passed what was sent
    # then); the window is capped at SRTT; when the recoveries it persists
    # for are used up, it returns to one step.  0x2: static.
    board = Scoreboard()
    board.min_rtt = 0.02
    board.on_dsack()
    board.update_reo_wnd(100, 1000, 1)
    assert (board.reo_wnd_steps, board.reo_wnd_persist) == (2, 16)
    board.on_dsack()
    board.update_reo_wnd(500, 1500, 1)
    assert board.reo_wnd_steps == 2
    board.on_dsack()
    board.update_reo_wnd(1000, 2000, 1)
    assert board.reo_wnd_steps == 3
    assert board.reo_wnd(True, 3, 1, 1.0) == 0.02 / 4 * 3
    assert board.reo_wnd(True, 3, 1, 0.01) == 0.01
    board.reo_wnd_persist = 0
    board.update_reo_wnd(2000, 3000, 1)
    assert board.reo_wnd_steps == 1
    board.on_dsack()
    board.update_reo_wnd(3000, 4000, 3)
    assert board.reo_wnd_steps == 1


def test_a_recovery_without_undo_counts_the_grown_window_down() -> None:
    # tcp_try_undo_recovery: a recovery that ends without an undo uses up
    # one of the 16 the grown window persists for.
    p = Pair()
    a = _reordered_once(p)
    assert _congestion(a)["reo_wnd_persist"] == 16
    p.drop("c>s", ".", length=MSS)
    p.at(0.3)
    state = _congestion(a)
    assert a.retransmissions == 2
    assert (state["reo_wnd_steps"], state["reo_wnd_persist"]) == (2, 15)
    assert state["ssthresh"] < INFINITE_SSTHRESH
