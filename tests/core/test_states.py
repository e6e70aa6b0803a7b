"""One ladder per state, each built by the state's constructor (``Pair.syn_sent()``,
``Pair.time_wait()``...): a test that is about CLOSING starts in CLOSING, built
directly (:mod:`aiotcpsim.testing`), so a broken handshake fails only the
SYN-SENT and SYN-RECEIVED ladders here.

Times are relative to the end of the handshake (0 in SYN-SENT and
SYN-RECEIVED, which start before it), d = 10 ms; seq/ack are relative to the
ISNs.
"""

from __future__ import annotations

from ladder import Pair, recv_all

from aiotcpsim.segment import ACK
from aiotcpsim.tcp import State


def test_syn_sent_held_syn_released_completes_handshake() -> None:
    p = Pair()
    a, held = p.syn_sent()
    p.at(0.5)
    p.release(held)
    p.at(1.0)
    assert p.rows() == [
        ("c>s⏸", 0.0, "S", 0, None, 0),
        ("s>c", 0.51, "S.", 0, 1, 0),
        ("c>s", 0.52, ".", 1, 1, 0),
    ]
    assert a.state is State.ESTABLISHED


def test_syn_received_lost_third_ack_healed_by_synack_retransmission() -> None:
    p = Pair()
    a, b, _held = p.syn_received()
    p.idle(5.0)
    assert p.rows() == [
        ("c>s", 0.0, "S", 0, None, 0),
        ("s>c", 0.01, "S.", 0, 1, 0),
        ("c>s⏸", 0.02, ".", 1, 1, 0),
        ("s>c", 1.01, "S.", 0, 1, 0),  # SYN-ACK retransmitted after the 1 s RTO
        ("c>s", 1.02, ".", 1, 1, 0),  # ESTABLISHED answers it as a SYN: challenge ACK
    ]
    assert p.states("s") == [(0.01, "s", "SYN-RECEIVED"), (1.03, "s", "ESTABLISHED")]
    assert (a.state, b.state) == (State.ESTABLISHED, State.ESTABLISHED)


def test_syn_received_released_third_ack_establishes() -> None:
    p = Pair()
    _a, b, held = p.syn_received()
    p.release(held)
    p.at(0.1)
    assert p.states("s") == [(0.01, "s", "SYN-RECEIVED"), (0.03, "s", "ESTABLISHED")]
    assert b.state is State.ESTABLISHED


def test_fin_wait_1_ack_of_fin_enters_fin_wait_2() -> None:
    p = Pair()
    a, b = p.fin_wait_1()
    p.at(0.1)
    assert p.rows() == [("c>s", 0.0, "F.", 1, 1, 0), ("s>c", 0.01, ".", 1, 2, 0)]
    assert p.states() == [
        (0.0, "c", "FIN-WAIT-1"),
        (0.01, "s", "CLOSE-WAIT"),
        (0.02, "c", "FIN-WAIT-2"),
    ]
    assert (a.state, b.state) == (State.FIN_WAIT_2, State.CLOSE_WAIT)


def test_fin_wait_2_peer_data_still_delivered() -> None:
    p = Pair()
    a, b = p.fin_wait_2()
    b.send(b"more", p.net.now)
    p.at(0.1)
    assert p.rows(since=0.02) == [("s>c", 0.02, "P.", 1, 2, 4), ("c>s", 0.03, ".", 2, 5, 0)]
    assert recv_all(a, p.net.now) == b"more"
    assert a.state is State.FIN_WAIT_2


def test_close_wait_send_still_allowed() -> None:
    p = Pair()
    a, b = p.close_wait()
    a.send(b"reply", p.net.now)
    p.at(0.1)
    assert p.rows(since=0.02) == [("c>s", 0.02, "P.", 1, 2, 5), ("s>c", 0.03, ".", 2, 6, 0)]
    assert recv_all(b, p.net.now) == b"reply"
    assert (a.state, b.state) == (State.CLOSE_WAIT, State.FIN_WAIT_2)


def test_last_ack_lost_ack_fin_retransmitted_then_closed() -> None:
    p = Pair()
    a, b = p.last_ack()
    p.drop("s>c", ".")
    p.idle()
    assert p.rows() == [
        ("c>s", 0.02, "F.", 1, 2, 0),  # sent by the constructor: in flight
        ("s>c✗", 0.03, ".", 2, 2, 0),
        ("c>s", 0.24, "F.", 1, 2, 0),  # LAST-ACK retransmits its FIN after the RTO
        ("s>c", 0.25, ".", 2, 2, 0),  # TIME-WAIT re-ACKs it
    ]
    assert p.states() == [
        (0.02, "s", "FIN-WAIT-2"),
        (0.02, "c", "LAST-ACK"),
        (0.03, "s", "TIME-WAIT"),
        (0.26, "c", "CLOSED"),
        (60.25, "s", "CLOSED"),  # the retransmitted FIN restarted TIME-WAIT
    ]
    assert (a.state, b.state) == (State.CLOSED, State.CLOSED)


def test_closing_ack_of_fin_enters_time_wait() -> None:
    p = Pair()
    a, b = p.closing()
    p.idle()
    assert p.rows() == [  # the FINs crossed at 0 (not in the trace: built at d)
        ("s>c", 0.01, ".", 2, 2, 0),
        ("c>s", 0.01, ".", 2, 2, 0),
    ]
    assert p.states("c") == [
        (0.01, "c", "CLOSING"),
        (0.02, "c", "TIME-WAIT"),
        (60.02, "c", "CLOSED"),
    ]
    assert (a.state, b.state) == (State.CLOSED, State.CLOSED)


def test_time_wait_bare_ack_restarts_timer() -> None:
    p = Pair()
    a, _b = p.time_wait()
    p.at(30.0)
    p.send("s>c", ACK, 2, ack=2)
    p.idle()
    assert (30.01, "c", "TIME-WAIT timer restarted") in p.notes()
    assert p.states("c")[-1] == (90.01, "c", "CLOSED")
    assert a.state is State.CLOSED
