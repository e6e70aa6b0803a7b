"""Timestamps at work (RFC 7323 sections 4-5): PAWS, RTT samples from TSecr,
and the TIME-WAIT rules that timestamps allow (Linux tcp_paws_discard,
tcp_ack_update_rtt, tcp_timewait_state_process, tcp_twsk_unique)."""

from __future__ import annotations

import errno

import pytest

from aiotcpsim import Network, TcpConfig
from aiotcpsim.segment import ACK, RST, SYN, Segment, TcpOptions
from aiotcpsim.tcp import State
from tests.core.ladder import Pair


def _ts(p: Pair, seg: Segment, tsval: int, tsecr: int = 0) -> Segment:
    return seg._replace(options=TcpOptions(timestamps=(tsval, tsecr)))


def _deliver(p: Pair, seg: Segment) -> None:
    dst = p.s if seg.dst_ip == p.s.ip else p.c
    dst.deliver_from_wire(seg)


def _peer_tsval(b_conn: object, p: Pair) -> int:
    return b_conn.snapshot()["ts_recent"]  # type: ignore[attr-defined, no-any-return]


def test_established_paws_drops_an_old_timestamp_and_acks() -> None:
    p = Pair()
    _a, b = p.establish()
    recent = _peer_tsval(b, p)
    old = _ts(p, p.segment("c>s", ACK, 1, 1, b"old", window=131072), (recent - 100) % 2**32)
    _deliver(p, old)
    assert b.readable_bytes == 0  # dropped, not queued
    p.at(0.1)
    assert [row for row in p.rows() if row[0] == "s>c"] == [("s>c", 0.0, ".", 1, 1, 0)]
    assert ("s", "PAWS: old timestamp, segment dropped") in [(w, t) for _, w, t in p.notes()]


def test_established_paws_lets_a_current_timestamp_through() -> None:
    p = Pair()
    _a, b = p.establish()
    recent = _peer_tsval(b, p)
    seg = _ts(p, p.segment("c>s", ACK, 1, 1, b"new", window=131072), (recent + 5) % 2**32)
    _deliver(p, seg)
    assert b.readable_bytes == 3
    assert _peer_tsval(b, p) == (recent + 5) % 2**32  # TS.Recent follows (RFC 7323 4.3)


def test_established_paws_accepts_a_reset_with_an_old_timestamp() -> None:
    p = Pair()
    _a, b = p.establish()
    recent = _peer_tsval(b, p)
    _deliver(p, _ts(p, p.segment("c>s", RST, 1), (recent - 100) % 2**32))
    assert b.state is State.CLOSED


def test_established_rtt_sampled_from_tsecr_after_a_retransmission() -> None:
    p = Pair()
    a, _b = p.establish()
    p.drop("c>s", "P.", length=100)
    before = a.snapshot()
    a.send(b"k" * 100, p.net.now)
    p.at(1.0)
    assert a.retransmissions == 1
    # Karn's rule forbids timing the retransmission by the clock, but the ACK
    # echoes its TSval: a sample of 2 * 10 ms (RFC 7323 section 4), equal to
    # SRTT, so RTTVAR shrinks by a quarter (RFC 6298 (2.3)).
    after = a.snapshot()
    assert after["srtt"] == pytest.approx(0.02)
    assert after["rttvar"] == pytest.approx(0.75 * before["rttvar"])


def test_time_wait_syn_with_newer_timestamp_opens_a_new_connection() -> None:
    p = Pair()
    a, _b = p.time_wait()
    p.at(1.0)
    assert a.state is State.TIME_WAIT
    # b's side opens again with a sequence number *below* RCV.NXT: only the
    # newer timestamp tells the new incarnation (Linux TCP_TW_SYN).
    recent = a.snapshot()["ts_recent"]
    syn = _ts(p, p.segment("s>c", SYN, 0), (recent + 1000) % 2**32)
    assert a.accepts_new_syn(syn)
    older = _ts(p, p.segment("s>c", SYN, 0), (recent - 1000) % 2**32)
    assert not a.accepts_new_syn(older)


def test_time_wait_paws_rejects_an_old_segment_and_restarts_the_timer() -> None:
    p = Pair()
    a, _b = p.time_wait()
    p.at(5.0)
    recent = a.snapshot()["ts_recent"]
    _deliver(p, _ts(p, p.segment("s>c", ACK, 2, 2, window=131072), (recent - 100) % 2**32))
    assert a.snapshot()["timers"]["linger"] == pytest.approx(p.t0 + 5.0 + 60.0)


def _churn(timestamps: int) -> tuple[Network, object]:
    config = TcpConfig(tw_reuse=True, timestamps=timestamps, ephemeral_ports=(40000, 40000))
    net = Network(seed=1, delay=0.001, tcp=config)
    c = net.add_host("c")
    s = net.add_host("s")
    listener = s.listen(80)
    conn = c.connect("s", 80)
    net.run_until_idle(limit=1.0)
    child = listener.accept()
    assert child is not None
    conn.close(net.now)
    net.run_until_idle(limit=1.5)
    child.close(net.now)
    net.run_until_idle(limit=3.0)
    assert conn.state is State.TIME_WAIT
    return net, c


def test_tw_reuse_with_timestamps_takes_the_4_tuple_over() -> None:
    _net, c = _churn(1)
    assert c.connect("s", 80).state is State.SYN_SENT  # type: ignore[attr-defined]


def test_tw_reuse_needs_timestamps() -> None:
    _net, c = _churn(0)
    with pytest.raises(OSError, match="Cannot assign requested address") as info:
        c.connect("s", 80)  # type: ignore[attr-defined]
    assert info.value.errno == errno.EADDRNOTAVAIL


def test_established_ts_recent_is_forgotten_after_24_days_idle() -> None:
    # RFC 7323 section 5.5, Linux TCP_PAWS_24DAYS: after so long a silence
    # TS.Recent may be wrong (the peer's clock may have wrapped): PAWS lets it go.
    p = Pair()
    _a, b = p.establish()
    recent = _peer_tsval(b, p)
    p.at(25 * 86400.0)
    seg = _ts(p, p.segment("c>s", ACK, 1, 1, b"late", window=131072), (recent - 100) % 2**32)
    _deliver(p, seg)
    assert b.readable_bytes == 4


def test_syn_wscale_above_14_is_taken_as_14() -> None:
    # RFC 7323 section 2.3: a shift above 14 is used as 14 (Linux logs and clamps).
    p = Pair()
    p.listen()
    p.tuple = ("10.0.0.1", 40000, "10.0.0.2", 8080)
    syn = p.segment("c>s", SYN, 0, window=65535)
    syn = syn._replace(options=TcpOptions(mss=1460, wscale=15, timestamps=(5, 0)))
    _deliver(p, syn)
    child = next(iter(p.s.connections()))
    assert (child.snd_wscale, child.rcv_wscale, child.ts_ok, child.sack_ok) == (14, 7, True, False)
