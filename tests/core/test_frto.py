"""F-RTO, the detection of spurious retransmission timeouts (RFC 5682 section
3, the SACK-enhanced version; Linux ``tcp_enter_loss``, ``tcp_process_loss``,
``tcp_try_undo_loss`` with ``frto_undo``, ``net.ipv4.tcp_frto`` = 2).

Both ends negotiated SACK, without timestamps (with them, Eifel's
``tcp_packet_delayed`` proves a delayed ACK's timeout spurious first) and
without loss probes (``tcp_early_retrans`` 0), so that the timeout and what
follows it are F-RTO's alone.  The client sends 20 segments; the first ten
(the initial window) are held or dropped on the way, so the retransmission
timer expires at 0.22 (the RTO of 250 ms armed at the handshake's end).

After the timeout (step 1) the head goes again; its ACK at 0.24 moves
SND.UNA but not to ``high_seq`` (step 2.b): two NEW segments go (cwnd 2
after slow start's one segment acked), not segments 2 and 3.  Then either
never-retransmitted data is acknowledged (step 3.b: the timeout was
spurious, ``TCPSpuriousRTOs``, the window before it restored) or the
receiver SACKs the new segments above the hole (step 3.a: the loss was
real, conventional recovery resends the lost segments).
"""

from __future__ import annotations

import pytest
from ladder import Pair

from aiotcpsim import TcpConfig
from aiotcpsim.segment import Segment
from aiotcpsim.tcp import Connection
from aiotcpsim.tcp.cc import CA_DISORDER, CA_LOSS, CA_OPEN, CA_RECOVERY, INFINITE_SSTHRESH
from aiotcpsim.tcp.cubic import Cubic
from aiotcpsim.tcp.recovery import LossRecovery
from aiotcpsim.tcp.scoreboard import Scoreboard

MSS = 1460
RTO_AT = 0.22


def _congestion(a: Connection) -> dict[str, int]:
    return a.snapshot()["congestion"]  # type: ignore[no-any-return]


def _seq(k: int) -> int:
    """The first sequence number of segment ``k`` (1-based)."""
    return 1 + (k - 1) * MSS


def _sent(p: Pair, at: float) -> list[int]:
    return [row[3] for row in p.rows() if row[0].startswith("c>s") and row[1] == at]


def _sender(frto: int = 2) -> tuple[Pair, Connection, list[list[Segment]]]:
    """The first ten segments held on the way (returned, to be released)."""
    p = Pair(early_retrans=0, timestamps=0, frto=frto)
    a, _ = p.establish()
    held = [p.hold("c>s", ".", length=MSS) for _ in range(10)]
    a.send(b"x" * MSS * 20, p.net.now)
    return p, a, held


def test_first_ack_after_the_timeout_sends_new_data() -> None:
    # Steps 1 and 2.b: the head again at the RTO; its ACK (SND.UNA moved,
    # not to high_seq, new data ready) sends segments 11 and 12, not 2 and 3.
    p, a, _ = _sender()
    p.at(RTO_AT)
    assert _sent(p, RTO_AT) == [_seq(1)]
    assert _congestion(a)["ca_state"] == CA_LOSS
    p.at(0.24)
    assert _sent(p, 0.24) == [_seq(11), _seq(12)]
    state = _congestion(a)
    assert (state["ca_state"], state["high_seq"]) == (CA_LOSS, _seq(11))
    assert a.retransmissions == 1


def test_spurious_timeout_is_undone_when_original_data_is_acknowledged() -> None:
    # Segments 2-10 were only delayed (a delay spike: they arrive at 0.245,
    # after the head's retransmission, before the new segments): the ACKs
    # they bring at 0.255 cover data never retransmitted (step 3.b,
    # FLAG_ORIG_SACK_ACKED): tcp_try_undo_loss(frto_undo) restores cwnd and
    # ssthresh, counts TCPLossUndo and TCPSpuriousRTOs, and the state is Open.
    p, a, held = _sender()
    p.at(0.235)
    for one in held[1:]:
        p.release(one)
    p.at(0.24)
    assert _sent(p, 0.24) == [_seq(11), _seq(12)]
    p.at(0.256)
    state = _congestion(a)
    assert state["spurious_rtos"] == 1
    assert state["loss_undo"] == 1
    assert state["ca_state"] == CA_OPEN
    assert state["ssthresh"] == INFINITE_SSTHRESH
    assert state["cwnd"] >= 10
    p.idle(3.0)
    assert a.retransmissions == 1  # nothing but the head was resent


def test_real_loss_falls_back_to_conventional_recovery() -> None:
    # Segments 2-10 are lost: the new segments 11 and 12 arrive above the
    # hole and are SACKed (step 3.a: the loss was real, frto = 0); the lost
    # segments are resent and the timeout is not undone.
    p, a, held = _sender()
    p.at(0.245)
    for one in held[1:]:
        one.clear()  # lost
    p.at(0.26)
    state = _congestion(a)
    assert state["ca_state"] == CA_LOSS
    assert _sent(p, 0.26) == [_seq(2), _seq(3)]
    p.idle(5.0)
    state = _congestion(a)
    assert (state["spurious_rtos"], state["loss_undo"]) == (0, 0)
    assert state["ssthresh"] == 7
    assert a.retransmissions == 10


def test_without_frto_the_timeout_resends_old_segments() -> None:
    # tcp_frto 0: the head's ACK at 0.24 resends segments 2 and 3 (the old
    # behaviour); the delayed originals then undo nothing (no timestamps).
    p, a, held = _sender(frto=0)
    p.at(0.235)
    for one in held[1:]:
        p.release(one)
    p.at(0.24)
    assert _sent(p, 0.24) == [_seq(2), _seq(3)]
    p.at(0.256)
    state = _congestion(a)
    assert (state["spurious_rtos"], state["loss_undo"]) == (0, 0)
    assert state["ssthresh"] == 7


def test_basic_frto_behaves_as_the_sack_enhanced_one() -> None:
    # Linux reads tcp_frto as a boolean: 1 and 2 run the same code.
    p, _, _ = _sender(frto=1)
    p.at(0.24)
    assert _sent(p, 0.24) == [_seq(11), _seq(12)]


@pytest.mark.parametrize(
    ("state", "first", "sack", "frto"),
    [
        (CA_OPEN, True, True, True),
        (CA_DISORDER, True, True, True),
        (CA_RECOVERY, True, True, False),  # loss recovery was under way
        (CA_RECOVERY, False, True, True),  # ... but the timeout repeats (section 3.2)
        (CA_LOSS, True, True, False),  # a new timeout after an ACK in Loss
        (CA_LOSS, False, True, True),
        (CA_OPEN, True, False, False),  # without SACK: go-back-N, not F-RTO
    ],
)
def test_when_frto_watches_a_timeout(state: int, first: bool, sack: bool, frto: bool) -> None:
    # tcp_enter_loss: tp->frto = tcp_frto && (ca_state < Recovery ||
    # icsk_retransmits); ``first``: no timeout since the last ACK of new data.
    rec = LossRecovery(Cubic())
    rec.on_established(0.0, 1)
    if sack:
        rec.board = Scoreboard()
        rec.board.add(1, 1001, 0.0)
    rec.ca_state = state
    rec.on_timeout(1, 1001, first, 1.0, True)
    assert rec.frto is frto
    rec.on_timeout(1, 1001, False, 2.0, False)
    assert rec.frto is False  # tcp_frto 0


@pytest.mark.parametrize("value", [-1, 3])
def test_frto_knob_is_validated(value: object) -> None:
    with pytest.raises(ValueError, match="frto"):
        TcpConfig(frto=value)  # type: ignore[arg-type]
