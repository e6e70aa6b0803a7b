"""Ladders of data transfer: segmentation, cumulative and delayed ACKs, 32-bit
sequence wraparound, and the local-misuse errors of the connection API.

Each test starts from an established connection; times are relative to the
end of the handshake, seq/ack relative to the ISNs.
"""

from __future__ import annotations

import errno

import pytest
from ladder import Pair, only, recv_all

from aiotcpsim.segment import FIN
from aiotcpsim.tcp import State

# -- segmentation and ACKs -------------------------------------------------------------------


def test_established_send_segments_by_mss() -> None:
    p = Pair()
    a, b = p.establish()
    assert a.send(b"s" * 5000, p.net.now) == 5000
    p.at(0.1)
    # 1460 - 12: every segment carries the timestamps option (tcp_current_mss).
    assert [row for row in p.rows() if row[0] == "c>s"] == [
        ("c>s", 0.0, ".", 1, 1, 1448),
        ("c>s", 0.0, ".", 1449, 1, 1448),
        ("c>s", 0.0, ".", 2897, 1, 1448),
        ("c>s", 0.0, "P.", 4345, 1, 656),  # PSH on the last segment of the write
    ]
    assert recv_all(b, p.net.now) == b"s" * 5000
    assert a.send_queued == 0


def test_established_peer_mss_limits_segments() -> None:
    p = Pair()
    p.s.config = p.config.replace(mss=536)
    p.listen()
    a, b = p.establish()
    a.send(b"m" * 1200, p.net.now)
    p.at(0.1)
    # 536 - 12 for the timestamps option.
    assert [row[5] for row in p.rows() if row[0] == "c>s"] == [524, 524, 152]
    assert recv_all(b, p.net.now) == b"m" * 1200


def test_established_quick_acks_at_start() -> None:
    # Linux's quick-ACK mode: the first segments are acknowledged at once.
    p = Pair()
    a, _b = p.establish()
    a.send(b"q" * 100, p.net.now)
    p.at(0.1)
    assert p.rows() == [
        ("c>s", 0.0, "P.", 1, 1, 100),
        ("s>c", 0.01, ".", 1, 101, 0),
    ]


def test_established_delayed_ack_40ms() -> None:
    p = Pair(quickack_segments=0)
    a, _b = p.establish()
    a.send(b"q" * 100, p.net.now)
    p.at(0.1)
    assert p.rows() == [
        ("c>s", 0.0, "P.", 1, 1, 100),
        ("s>c", 0.05, ".", 1, 101, 0),  # d + TCP_DELACK_MIN
    ]


def test_established_delayed_ack_every_second_full_segment() -> None:
    p = Pair(quickack_segments=0)
    a, _b = p.establish()
    a.send(b"q" * 2896, p.net.now)  # two full-sized segments (1460 - 12 for timestamps)
    p.at(0.1)
    assert [row for row in p.rows() if row[0] == "s>c"] == [("s>c", 0.01, ".", 1, 2897, 0)]


def test_established_ack_rides_on_reply_data() -> None:
    p = Pair(quickack_segments=0)
    a, b = p.establish()
    a.send(b"ping", p.net.now)
    p.at(0.02)
    assert recv_all(b, p.net.now) == b"ping"
    b.send(b"pong", p.net.now)  # within the delayed-ACK window
    p.at(0.2)
    assert [row for row in p.rows() if row[0] == "s>c"] == [("s>c", 0.02, "P.", 1, 5, 4)]


# -- 32-bit wraparound ----------------------------------------------------------------------


def test_established_transfer_across_sequence_wraparound() -> None:
    p = Pair()
    isn = 2**32 - 1000
    p.c.isn_generator = lambda: isn
    p.s.isn_generator = lambda: isn
    a, b = p.establish()
    assert a.iss == b.iss == isn
    up = bytes(range(256)) * 40  # 10240 bytes: the numbers wrap after 999
    down = bytes(range(255, -1, -1)) * 30
    a.send(up, p.net.now)
    b.send(down, p.net.now)
    p.at(1.0)
    assert recv_all(b, p.net.now) == up
    assert recv_all(a, p.net.now) == down
    assert a.snd_nxt == b.rcv_nxt == (isn + 1 + len(up)) % 2**32
    assert b.snd_nxt == a.rcv_nxt == (isn + 1 + len(down)) % 2**32
    wrapped = [s for s in p.net.trace.segments() if s.payload and s.seq < 2**31]
    assert wrapped  # some segments carried sequence numbers past 2**32
    a.close(p.net.now)
    p.at(1.01)
    b.close(p.net.now)
    p.idle()
    assert p.rows()[-2:] == [
        ("s>c", 1.01, "F.", 1 + len(down), 2 + len(up), 0),
        ("c>s", 1.02, ".", 2 + len(up), 2 + len(down), 0),
    ]
    assert a.state is State.CLOSED and b.state is State.CLOSED


# -- local misuse ----------------------------------------------------------------------------


def test_established_send_after_shutdown_raises_and_changes_nothing() -> None:
    p = Pair()
    a, _b = p.establish()
    a.shutdown(p.net.now)
    before = (a.state, a.snd_nxt, a.send_queued)
    with pytest.raises(BrokenPipeError, match="Broken pipe") as info:
        a.send(b"late", p.net.now)
    assert info.value.errno == errno.EPIPE
    assert (a.state, a.snd_nxt, a.send_queued) == before


def test_closed_send_after_peer_reset_raises_broken_pipe() -> None:
    p = Pair()
    a, b = p.establish()
    b.abort(p.net.now)
    p.at(0.1)
    assert a.take_error() == errno.ECONNRESET
    with pytest.raises(BrokenPipeError):
        a.send(b"x", p.net.now)


def test_established_pending_error_raised_once_by_send() -> None:
    p = Pair()
    a, b = p.establish()
    b.abort(p.net.now)
    p.at(0.1)
    with pytest.raises(ConnectionResetError):
        a.send(b"x", p.net.now)
    with pytest.raises(BrokenPipeError):
        a.send(b"x", p.net.now)


def test_established_recv_would_block_returns_none() -> None:
    p = Pair()
    a, _b = p.establish()
    assert a.recv(10, p.net.now) is None
    assert a.readable_bytes == 0
    assert not a.eof_received


def test_closed_abort_twice_is_harmless() -> None:
    p = Pair()
    a, _b = p.establish()
    a.abort(p.net.now)
    a.abort(p.net.now)
    p.idle()
    assert [row for row in p.rows() if row[0] == "c>s"] == [("c>s", 0.0, "R.", 1, 1, 0)]


def test_established_recv_of_nothing_is_a_value_error() -> None:
    p = Pair()
    a, _b = p.establish()
    with pytest.raises(ValueError, match="max_bytes must be >= 1, got 0"):
        a.recv(0, p.net.now)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"idle": 0}, "keep-alive idle must be > 0 seconds"),
        ({"interval": -1.0}, "keep-alive interval must be > 0 seconds"),
        ({"idle": 30.0, "count": 0}, "keep-alive count must be >= 1"),
    ],
)
def test_established_bad_keepalive_settings_raise(kwargs: dict[str, float], message: str) -> None:
    p = Pair()
    a, _b = p.establish()
    with pytest.raises(ValueError, match=message):
        a.set_keepalive(True, **kwargs)  # type: ignore[arg-type]
    assert not a.keepalive
    assert a.keepalive_idle == 7200.0  # nothing changed
    p.idle()
    assert p.rows() == []


# -- data released by an ACK goes out after the whole segment is processed ------------------


def test_established_nagle_held_data_released_by_reply_carries_the_new_ack() -> None:
    # Linux tcp_rcv_established: tcp_ack, tcp_data_queue, then tcp_data_snd_check
    # and tcp_ack_snd_check: one segment with ack 201, no separate pure ACK.
    p = Pair()
    a, _b = p.establish()
    p.drop("c>s", "P.", length=100)  # keep the real server out of the ladder
    a.send(b"q" * 100, p.net.now)
    a.send(b"w" * 50, p.net.now)  # Nagle: a small segment is outstanding
    p.at(0.05)
    p.send("s>c", 0, 1, ack=101, payload=b"r" * 200)  # the response, ACKing the request
    p.at(0.06)
    assert only(lambda r: r[0].startswith("c>s"), p.rows()) == [
        ("c>s✗", 0.0, "P.", 1, 1, 100),
        ("c>s", 0.06, "P.", 101, 201, 50),
    ]


def test_fin_wait_1_held_data_and_fin_released_by_the_peers_fin_carry_its_ack() -> None:
    p = Pair()
    a, _b = p.establish()
    p.send("s>c", 0, 1, ack=1, window=100)  # the peer's window: 100 bytes
    p.at(0.01)
    p.drop("c>s", ".", length=100)
    a.send(b"q" * 150, p.net.now)  # 50 bytes wait for the window
    a.shutdown(p.net.now)  # and the FIN behind them
    p.at(0.05)
    p.send("s>c", FIN, 1, ack=101)  # simultaneous close: the peer's FIN ACKs our data
    p.at(0.06)
    assert only(lambda r: r[0].startswith("c>s"), p.rows()) == [
        ("c>s✗", 0.01, ".", 1, 1, 100),
        ("c>s", 0.06, "FP.", 101, 2, 50),
    ]
    assert a.state is State.CLOSING
