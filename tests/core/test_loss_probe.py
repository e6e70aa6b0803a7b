"""Tail loss probes (RFC 8985 section 7; Linux ``tcp_schedule_loss_probe``,
``tcp_send_loss_probe``, ``tcp_process_tlp_ack``).

A SACK connection in Open with data out and no ACK for two SRTTs (plus 2 ms,
or plus rto_min with one segment out; never later than the RTO) sends one
probe: new data if the peer's window has room, else its last segment again.
The probe's SACK lets RACK find the holes, so a lost tail is repaired by fast
recovery instead of a timeout.  Times are relative to the end of the
handshake: SRTT 20 ms (10 ms each way), seq/ack relative to the ISNs.
"""

from __future__ import annotations

import pytest
from ladder import Pair

from aiotcpsim import TcpConfig
from aiotcpsim.tcp import Connection
from aiotcpsim.tcp.cc import CA_OPEN

MSS = 1448


def _seq(k: int) -> int:
    """The first sequence number of segment ``k`` (1-based)."""
    return 1 + (k - 1) * MSS


def _client_data(p: Pair) -> list[tuple[str, float, int]]:
    return [(row[0], row[1], row[3]) for row in p.rows() if row[0].startswith("c>s") and row[5]]


def _congestion(conn: Connection) -> dict[str, int | None]:
    state: dict[str, int | None] = conn.snapshot()["congestion"]
    return state


def _flight_then_tail(p: Pair, a: Connection) -> None:
    """Three segments acknowledged by 0.02; at 0.05 two more, both lost."""
    a.send(b"x" * MSS * 3, p.net.now)
    p.at(0.05)
    p.drop("c>s", ".", length=MSS)
    p.drop("c>s", "P.", length=MSS)
    a.send(b"x" * MSS * 2, p.net.now)


def test_lost_tail_is_probed_then_repaired_by_fast_recovery() -> None:
    p = Pair()
    a, _b = p.establish()
    _flight_then_tail(p, a)
    p.at(1.0)
    # No ACK after the tail: the probe is due 2 SRTT + 2 ms later and resends
    # the last segment; its SACK shows 4 missing, which RACK resends at once
    # (in recovery, no reordering seen).  No RTO.
    assert _client_data(p)[3:] == [
        ("c>s✗", 0.05, _seq(4)),
        ("c>s✗", 0.05, _seq(5)),
        ("c>s", 0.092, _seq(5)),
        ("c>s", 0.112, _seq(4)),
    ]
    state = _congestion(a)
    assert (state["loss_probes"], state["ca_state"], state["tlp_high_seq"]) == (1, CA_OPEN, 0)
    assert a.snapshot()["backoff"] == 0
    assert a.retransmissions == 2


def test_probe_sends_new_data_when_the_window_has_room_beyond_cwnd() -> None:
    p = Pair()
    a, _b = p.establish()
    p.drop("s>c", ".", count=1000)  # no ACK comes back
    a.send(b"x" * MSS * 12, p.net.now)
    p.at(0.05)
    # cwnd 10: ten segments at 0; the probe, 2 SRTT + 2 ms later, is the
    # eleventh (the congestion window aside, tcp_write_xmit's push_one = 2)
    assert _client_data(p) == [("c>s", 0.0, _seq(k)) for k in range(1, 11)] + [
        ("c>s", 0.042, _seq(11))
    ]
    assert _congestion(a)["tlp_high_seq"] == _seq(12)
    assert a.retransmissions == 0


def test_probe_of_a_segment_that_had_arrived_is_dsacked_and_changes_nothing() -> None:
    p = Pair()
    a, _b = p.establish()
    p.drop("s>c", ".")  # the ACK of the segment is lost
    a.send(b"x" * 100, p.net.now)
    p.at(1.0)
    # one segment out: 2 SRTT + rto_min = 0.24, capped at the RTO (0.22)
    assert _client_data(p) == [("c>s", 0.0, 1), ("c>s", 0.22, 1)]
    # the receiver reports the duplicate (RFC 2883): the probe repaired
    # nothing, and the window is not reduced (slow start grows it by the ACK)
    state = _congestion(a)
    assert (state["tlp_high_seq"], state["loss_probe_recoveries"], state["cwnd"]) == (0, 0, 11)


def test_probe_that_repaired_a_loss_reduces_the_window_once_acked_beyond() -> None:
    p = Pair()
    a, _b = p.establish()
    p.drop("c>s", "P.")
    a.send(b"x" * 100, p.net.now)
    p.at(0.5)
    assert _client_data(p) == [("c>s✗", 0.0, 1), ("c>s", 0.22, 1)]
    # the ACK of the probe alone cannot tell which copy arrived
    assert _congestion(a)["tlp_high_seq"] == 101
    a.send(b"y" * 100, p.net.now)
    p.at(1.0)
    # acknowledged beyond the probe, without a D-SACK: it repaired a loss, a
    # CWR episode (CUBIC: ssthresh = 10 * 717 / 1024 = 7), at once over
    state = _congestion(a)
    assert (state["loss_probe_recoveries"], state["ssthresh"], state["cwnd"]) == (1, 7, 7)
    assert (state["tlp_high_seq"], state["ca_state"]) == (0, CA_OPEN)


@pytest.mark.parametrize("early_retrans", [0, 1, 2])
def test_early_retrans_below_3_sends_no_probe(early_retrans: int) -> None:
    p = Pair(early_retrans=early_retrans)
    a, _b = p.establish()
    _flight_then_tail(p, a)
    p.at(1.0)
    # the RTO (0.05 + SRTT + rto_min) resends the first lost segment (cwnd 1),
    # its ACK the second
    assert [row for row in _client_data(p) if row[1] > 0.05] == [
        ("c>s", 0.27, _seq(4)),
        ("c>s", 0.29, _seq(5)),
    ]
    assert _congestion(a)["loss_probes"] == 0


def test_no_probe_without_sack() -> None:
    p = Pair(sack=False)
    a, _b = p.establish()
    _flight_then_tail(p, a)
    p.at(0.2)
    assert [row for row in _client_data(p) if row[1] > 0.05] == []
    assert "loss_probe" not in a.snapshot()["timers"]


def test_early_retrans_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="early_retrans"):
        TcpConfig(early_retrans=5)
