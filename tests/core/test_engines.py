"""The TCB's engines on their own, without a network: each is a small class
with its own variables, driven by plain calls (``aiotcpsim.tcp.rtt``,
``delack``, ``sendbuf``, ``reassembly``, ``timers``)."""

from __future__ import annotations

import pytest

from aiotcpsim import TcpConfig
from aiotcpsim.tcp.delack import DelayedAck
from aiotcpsim.tcp.reassembly import Reassembly
from aiotcpsim.tcp.rtt import RttEstimator, model_timeout
from aiotcpsim.tcp.sendbuf import SendBuffer
from aiotcpsim.tcp.timers import Timers

MSS = 1460

# -- RTT and RTO (RFC 6298 with Linux's floor) ---------------------------------------------


def test_rtt_first_sample_sets_srtt_and_half_rttvar() -> None:
    rtt = RttEstimator(TcpConfig())
    assert rtt.rto == 1.0  # before any sample: rto_initial
    rtt.sample(0.1)
    assert (rtt.srtt, rtt.rttvar) == (0.1, 0.05)
    assert rtt.rto == pytest.approx(0.1 + 0.2)  # srtt + max(4 * rttvar, rto_min)


def test_rtt_backoff_doubles_up_to_rto_max_and_an_ack_restores_it() -> None:
    rtt = RttEstimator(TcpConfig())
    rtt.sample(0.1)
    for _ in range(12):
        rtt.back_off()
    assert (rtt.backoff, rtt.rto) == (12, 120.0)
    rtt.reset_backoff()
    assert (rtt.backoff, rtt.rto) == (0, pytest.approx(0.3))


def test_rtt_without_a_sample_data_starts_at_the_3s_fallback() -> None:
    rtt = RttEstimator(TcpConfig())
    rtt.back_off()
    rtt.on_established()
    assert (rtt.backoff, rtt.rto) == (0, 3.0)


def test_rtt_model_timeout_is_linux_tcp_model_timeout() -> None:
    config = TcpConfig()
    assert model_timeout(15, config) == pytest.approx(924.6)
    assert model_timeout(3, config) == pytest.approx(3.0)


# -- delayed ACK (Linux icsk_ack) ----------------------------------------------------------------


def test_delack_first_data_starts_quickack_mode() -> None:
    delack = DelayedAck(TcpConfig())
    delack.on_established(536, now=0.0)
    delack.on_data(MSS, mss=MSS, window=65535, rto=1.0, now=0.01)
    assert (delack.rcv_mss, delack.ato) == (MSS, 0.04)
    assert delack.quick == 16  # min(window / (2 * rcv_mss), quickack_segments), at least 2
    assert delack.ack_due(filled_hole=False)
    delack.on_ack_sent()
    assert delack.quick == 15


def test_delack_timeout_bounded_by_the_rtt_once_it_grew() -> None:
    delack = DelayedAck(TcpConfig())
    delack.ato = 0.04
    assert delack.timeout(srtt=0.001) == 0.04
    delack.on_timer(rto=1.0)  # fired: the ATO doubles
    assert delack.ato == 0.08
    assert delack.timeout(srtt=0.06) == 0.06
    delack.pingpong = True
    delack.on_timer(rto=1.0)  # interactive mode ends instead
    assert (delack.pingpong, delack.ato) == (False, 0.04)


# -- the send buffer ---------------------------------------------------------------------------


def test_sendbuf_payload_is_not_copied_within_one_chunk() -> None:
    buf = SendBuffer()
    first = b"a" * 100
    buf.append(first)
    buf.append(bytearray(b"b" * 100))
    assert buf.payload(0, 100) is first
    piece = buf.payload(10, 20)
    assert isinstance(piece, memoryview) and piece.obj is first
    assert buf.payload(90, 20) == b"a" * 10 + b"b" * 10  # across chunks: one join
    buf.release(150)
    assert (buf.head, buf.queued(150)) == (1, 50)


# -- reassembly ----------------------------------------------------------------------------------


def test_reassembly_out_of_order_overlaps_kept_once_then_drained() -> None:
    rcvd = Reassembly()
    rcvd.queue_out_of_order(11, b"klmno")
    rcvd.queue_out_of_order(9, b"ijklm")  # overlaps: only "ij" is new
    assert rcvd.ooo_bytes == 7
    rcvd.append(b"abcdefgh")
    assert rcvd.drain(9) == 16
    assert (rcvd.ooo_bytes, rcvd.readable) == (0, 15)
    assert rcvd.take(4) == b"abcd"
    assert rcvd.take(100) == b"efghijklmno"


# -- timers ----------------------------------------------------------------------------------------


def test_timers_next_deadline_and_wake_ups_only_when_earlier() -> None:
    timers = Timers()
    assert timers.next_deadline() is None
    timers.linger_at = 60.0
    timers.ack_at = 0.04
    assert timers.next_deadline() == 0.04
    assert timers.reschedule() == 0.04
    timers.rtx_at = 1.0
    assert timers.reschedule() is None  # a wake-up at 0.04 is already asked for
    timers.ack_at = None
    assert timers.wake_time(0.04) == 1.0  # moved to the next deadline
    timers.cancel_all()
    assert timers.wake_time(1.0) is None
