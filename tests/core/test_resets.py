"""Ladders of resets and aborts (``../shared/CONFORMANCE.md`` section C), the
errno each state reports after a RST, and RFC 5961's blind-reset defences.

Each test starts from an established connection; times are relative to the
end of the handshake, d = 10 ms, seq/ack relative to the ISNs.
"""

from __future__ import annotations

import errno

import pytest
from ladder import App, Pair

from aiotcpsim.segment import ACK, RST, SYN
from aiotcpsim.tcp import Connection, State

# -- 42. close with unread data sends RST ------------------------------------------------------


def test_established_close_with_unread_data_sends_rst() -> None:
    p = Pair()
    a, b = p.establish()
    a.send(b"unread", p.net.now)
    p.at(0.5)
    b.close(p.net.now)  # the application never read the 6 bytes
    p.idle()
    assert p.rows() == [
        ("c>s", 0.0, "P.", 1, 1, 6),
        ("s>c", 0.01, ".", 1, 7, 0),
        ("s>c", 0.5, "R.", 1, 7, 0),  # no FIN, RFC 9293 3.10.4 / RFC 2525 2.17
    ]
    assert p.states() == [(0.5, "s", "CLOSED"), (0.51, "c", "CLOSED")]  # no TIME-WAIT
    with pytest.raises(ConnectionResetError):
        a.recv(10, p.net.now)
    with pytest.raises(BrokenPipeError):
        a.send(b"x", p.net.now)
    assert p.net.next_deadline() is None


# -- 44. abort -----------------------------------------------------------------------------------


def test_established_abort_sends_rst_at_snd_nxt() -> None:
    p = Pair()
    a, b = p.establish()
    a_app = App(p)
    a.user = a_app
    b.send(b"y" * 3000, p.net.now)
    b.abort(p.net.now)
    assert b.state is State.CLOSED
    p.idle()
    assert [row for row in p.rows() if row[0] == "s>c" and row[1] == 0.0] == [
        ("s>c", 0.0, ".", 1, 1, 1448),  # 1460 - 12 (timestamps)
        ("s>c", 0.0, ".", 1449, 1, 1448),
        ("s>c", 0.0, "P.", 2897, 1, 104),
        ("s>c", 0.0, "R.", 3001, 1, 0),  # <SEQ=SND.NXT><ACK=RCV.NXT>
    ]
    assert p.states() == [(0.0, "s", "CLOSED"), (0.01, "c", "CLOSED")]  # no TIME-WAIT
    assert recv_all_then_error(a, p.net.now) == (b"y" * 3000, ConnectionResetError)
    assert a_app.first("closed") == 0.01


def test_established_abort_before_any_data() -> None:
    p = Pair()
    a, b = p.establish()
    b.abort(p.net.now)
    p.idle()
    assert p.rows() == [("s>c", 0.0, "R.", 1, 1, 0)]
    assert a.take_error() == errno.ECONNRESET
    assert a.take_error() is None


def recv_all_then_error(conn: Connection, now: float) -> tuple[bytes, type[BaseException] | None]:
    out = bytearray()
    while True:
        try:
            chunk = conn.recv(1 << 20, now)
        except OSError as exc:
            return bytes(out), type(exc)
        if not chunk:
            return bytes(out), None
        out += chunk


# -- 47. RST with data still queued at the receiver -------------------------------------------


def test_established_rst_leaves_queued_data_readable_then_econnreset_once() -> None:
    p = Pair()
    a, b = p.establish()
    b.send(b"twelve bytes", p.net.now)
    p.at(0.005)
    b.abort(p.net.now)
    p.idle()
    assert p.rows()[:2] == [
        ("s>c", 0.0, "P.", 1, 1, 12),
        ("s>c", 0.005, "R.", 13, 1, 0),
    ]
    assert a.state is State.CLOSED
    assert a.readable_bytes == 12
    assert a.recv(100, p.net.now) == b"twelve bytes"
    with pytest.raises(ConnectionResetError) as info:
        a.recv(100, p.net.now)
    assert info.value.errno == errno.ECONNRESET
    assert a.recv(100, p.net.now) == b""  # reported once
    with pytest.raises(BrokenPipeError):
        a.send(b"x", p.net.now)
    assert a.error == errno.ECONNRESET


# -- errno by state after a RST (Linux tcp_reset) --------------------------------------------


def test_syn_sent_rst_reports_econnrefused() -> None:
    p = Pair()
    conn = p.connect()  # no listener
    p.idle()
    assert conn.error == errno.ECONNREFUSED
    with pytest.raises(ConnectionRefusedError):
        conn.send(b"x", p.net.now)


def test_close_wait_rst_reports_epipe_and_reads_eof() -> None:
    p = Pair()
    a, b = p.establish()
    b.send(b"last", p.net.now)
    b.shutdown(p.net.now)
    p.at(0.05)
    assert a.state is State.CLOSE_WAIT
    b.abort(p.net.now)
    p.at(0.06)
    assert a.state is State.CLOSED
    assert a.error == errno.EPIPE
    assert a.recv(100, p.net.now) == b"last"
    assert a.recv(100, p.net.now) == b""  # it already had the FIN
    with pytest.raises(BrokenPipeError):
        a.send(b"x", p.net.now)


@pytest.mark.parametrize("state", ["ESTABLISHED", "FIN-WAIT-1", "FIN-WAIT-2"])
def test_synchronized_rst_reports_econnreset(state: str) -> None:
    p = Pair()
    a, _b = p.establish()
    if state == "FIN-WAIT-1":
        p.drop("c>s", "F.")
        a.shutdown(p.net.now)
    elif state == "FIN-WAIT-2":
        a.shutdown(p.net.now)
    p.at(0.05)
    assert str(a.state) == state
    p.send("s>c", RST, 1)
    p.at(0.06)
    assert a.state is State.CLOSED
    assert a.take_error() == errno.ECONNRESET
    assert a.take_error() is None


# -- 49. blind RST at the four window positions (RFC 5961 section 3) ----------------------------


def test_established_rst_window_positions() -> None:
    p = Pair(rcvbuf=32768)
    a, _b = p.establish()
    w = 32768  # A's receive window, RCV.NXT = 1
    p.send("s>c", RST, 0)  # RCV.NXT - 1: outside, dropped silently
    p.at(1.0)
    p.send("s>c", RST, w)  # RCV.NXT + W - 1: in window, not exact -> challenge ACK
    p.at(2.0)
    p.send("s>c", RST, w + 1)  # RCV.NXT + W: outside, dropped silently
    p.at(3.0)
    assert a.state is State.ESTABLISHED
    p.send("s>c", RST, 1)  # exact: the connection is reset
    p.at(4.0)
    assert [row for row in p.rows() if row[0] == "c>s"] == [("c>s", 1.01, ".", 1, 1, 0)]
    assert p.states("c") == [(3.01, "c", "CLOSED")]
    assert a.take_error() == errno.ECONNRESET


def test_established_challenge_acks_are_rate_limited() -> None:
    p = Pair()
    a, _b = p.establish()
    p.send("s>c", RST, 100)
    p.at(0.1)
    p.send("s>c", RST, 200)  # within 500 ms of the first challenge ACK: silent
    p.at(0.6)
    p.send("s>c", RST, 300)  # tcp_invalid_ratelimit has passed
    p.at(1.0)
    assert [row for row in p.rows() if row[0] == "c>s"] == [
        ("c>s", 0.01, ".", 1, 1, 0),
        ("c>s", 0.61, ".", 1, 1, 0),
    ]
    assert a.state is State.ESTABLISHED


@pytest.mark.parametrize("state", ["FIN-WAIT-2", "CLOSE-WAIT", "LAST-ACK"])
def test_closing_states_inexact_rst_draws_challenge_ack(state: str) -> None:
    p = Pair()
    if state == "FIN-WAIT-2":
        a, _b = p.fin_wait_2()
    elif state == "CLOSE-WAIT":
        a, _b = p.close_wait()
    else:
        a, b = p.establish()
        b.shutdown(p.net.now)
        p.at(0.05)
        p.drop("s>c", ".")  # B's ACK of A's FIN is lost
        a.shutdown(p.net.now)
    p.at(0.1)
    assert str(a.state) == state
    rcv_nxt = 1 if state == "FIN-WAIT-2" else 2
    p.send("s>c", RST, rcv_nxt + 10)  # in window, not exact
    p.at(0.2)
    challenge = [row for row in p.rows(since=0.1) if row[0] == "c>s"]
    assert len(challenge) == 1
    assert challenge[0][:3] == ("c>s", 0.11, ".")
    assert str(a.state) == state


# -- 50. SYN on an established 4-tuple (peer restarted) ---------------------------------------


def test_established_syn_draws_challenge_ack_then_restarted_peer_connects() -> None:
    p = Pair()
    a, b = p.establish()
    b_app = App(p)
    b.user = b_app
    port = a.local[1]
    p.c.crash()
    p.at(1.0)
    p.c.restart()
    a2 = p.c.connect("10.0.0.2", 8080, local_port=port)  # new ISN x
    x = (a2.iss - a.iss) & 0xFFFFFFFF
    p.at(2.5)
    new = p.listener.accept()  # type: ignore[union-attr]
    assert new is not None and new.remote == a2.local and new.irs == a2.iss
    y = (new.iss - b.iss) & 0xFFFFFFFF
    assert p.rows() == [
        ("c>s", 1.0, "S", x, None, 0),
        ("s>c", 1.01, ".", 1, 1, 0),  # challenge ACK: <SEQ=SND.NXT><ACK=RCV.NXT>
        ("c>s", 1.02, "R", 1, None, 0),  # bad ACK in SYN-SENT: RST seq = SEG.ACK
        ("c>s", 2.0, "S", x, None, 0),  # SYN retransmission reaches the listener
        ("s>c", 2.01, "S.", y, (x + 1) & 0xFFFFFFFF, 0),
        ("c>s", 2.02, ".", (x + 1) & 0xFFFFFFFF, (y + 1) & 0xFFFFFFFF, 0),
    ]
    assert b.state is State.CLOSED
    assert p.states("s")[0] == (1.03, "s", "CLOSED")  # the exact RST is accepted
    with pytest.raises(ConnectionResetError):
        b.recv(10, p.net.now)
    assert a2.state is State.ESTABLISHED


# -- 51. peer crash --------------------------------------------------------------------------


def test_established_peer_crashed_and_restarted_resets_on_next_write() -> None:
    p = Pair()
    a, _b = p.establish()
    p.s.crash()
    p.at(3.0)
    p.s.restart()
    p.at(5.0)
    a.send(b"0123456789", p.net.now)
    p.at(5.02)
    assert p.rows() == [
        ("c>s", 5.0, "P.", 1, 1, 10),
        ("s>c", 5.01, "R", 1, None, 0),  # the new stack knows nothing: RST seq = SEG.ACK
    ]
    assert p.states() == [(0.0, "s", "CLOSED"), (5.02, "c", "CLOSED")]  # the crash, the RST
    with pytest.raises(ConnectionResetError):
        a.recv(10, p.net.now)


def test_established_peer_crashed_reader_waits_forever() -> None:
    # The half-open hazard: a connection that only reads learns nothing.
    p = Pair()
    a, _b = p.establish()
    p.s.crash()
    p.idle()
    assert a.state is State.ESTABLISHED
    assert a.recv(10, p.net.now) is None
    assert p.rows() == []


def test_established_data_to_crashed_peer_is_retransmitted() -> None:
    p = Pair()
    a, _b = p.establish()
    p.s.crash()
    a.send(b"0123456789", p.net.now)
    p.at(10.0)
    # A tail loss probe first: 2 SRTT + rto_min (one segment out) = 0.24,
    # capped at the RTO, SRTT + max(4 * RTTVAR, rto_min) = 0.02 + 0.2; the RTO
    # restarts from the probe without backing off, then doubles (Linux 6.18
    # through a blackhole: 0.206, 0.414, 0.838, 1.67, 3.33 s).
    assert [row[:2] for row in p.rows()] == [
        ("c>s✗", 0.0),
        ("c>s✗", 0.22),  # the probe
        ("c>s✗", 0.44),
        ("c>s✗", 0.88),
        ("c>s✗", 1.76),
        ("c>s✗", 3.52),
        ("c>s✗", 7.04),
    ]
    assert a.snapshot()["congestion"]["loss_probes"] == 1
    assert a.state is State.ESTABLISHED


# -- RST never answers a RST ---------------------------------------------------------------


def test_closed_rst_is_never_answered() -> None:
    p = Pair()
    a, _b = p.establish()
    a.abort(p.net.now)
    p.at(0.1)
    p.send("s>c", RST | ACK, 1, ack=1)
    p.send("s>c", ACK | SYN, 1, ack=1)
    p.idle()
    answers = [row for row in p.rows() if row[0] == "c>s" and row[1] > 0.05]
    assert answers == [("c>s", 0.11, "R", 1, None, 0)]  # to the SYN|ACK only
