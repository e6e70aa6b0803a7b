"""Events against real connections: injected resets (RFC 5961 decides),
reject partitions (ICMP host unreachable, Linux tcp_v4_err), hold and release."""

from __future__ import annotations

import errno

import pytest

from aiotcpsim.net import Network
from aiotcpsim.scenarios.kit import PORT, SERVER_IP, App, drive, pair, send_times
from aiotcpsim.segment import RST
from aiotcpsim.tcp import State
from aiotcpsim.trace import DELIVER, SEND


def established() -> tuple[Network, App, App]:
    net, client, server = pair(delay=0.01)
    listener = server.listen(PORT)
    a = App(net, client.connect(SERVER_IP, PORT))
    b = App(net, listener=listener)
    drive(net, [a, b], until=1.0)
    assert a.conn is not None and a.conn.state is State.ESTABLISHED
    return net, a, b


def test_injected_reset_with_the_exact_sequence_number_resets() -> None:
    net, a, b = established()
    assert a.conn is not None
    net.faults.inject_reset(a.conn, seq="exact", after=1.0)
    drive(net, [a, b], until=3.0)
    assert a.error == errno.ECONNRESET
    assert a.error_at == pytest.approx(2.0)
    assert a.conn.state is State.CLOSED
    injected = [r for r in net.trace if r.kind == SEND and r.text.startswith("middlebox")]
    assert [(r.host, r.segment.flags & RST) for r in injected] == [("server", RST)]
    assert b.conn is not None and b.conn.state is State.ESTABLISHED  # the server knows nothing


def test_injected_reset_in_window_draws_a_challenge_ack() -> None:
    net, a, b = established()
    assert a.conn is not None
    net.faults.inject_reset(a.conn, seq="in-window", after=1.0)
    drive(net, [a, b], until=3.0)
    assert a.error is None
    assert a.conn.state is State.ESTABLISHED
    assert send_times(net, "client", "ACK")[-1] == 2.0
    assert any("challenge ACK" in r.text for r in net.trace)


def test_injected_stale_reset_is_dropped_silently() -> None:
    net, a, b = established()
    assert a.conn is not None
    before = len(send_times(net, "client", "ACK"))
    net.faults.inject_reset(a.conn, seq="stale", after=1.0)
    drive(net, [a, b], until=3.0)
    assert a.conn.state is State.ESTABLISHED
    assert len(send_times(net, "client", "ACK")) == before


def test_reject_partition_is_a_soft_error_for_an_established_connection() -> None:
    net, a, b = established()
    assert a.conn is not None
    a.conn.user_timeout = 10.0
    net.faults.partition("client", "server", mode="reject")
    a.write(b"hello")
    drive(net, [a, b], until=30.0)
    # Linux: ICMP host unreachable is soft in ESTABLISHED; it replaces ETIMEDOUT.
    assert a.error == errno.EHOSTUNREACH
    assert a.error_at == pytest.approx(11.0)
    assert net.statistics()["icmp_unreachable"] >= 1


def test_hold_link_then_release_delivers_the_request_in_order() -> None:
    net, a, b = established()
    hold = net.faults.hold_link("client", "server", oneway=True)
    a.write(b"one")
    drive(net, [a, b], until=1.1)
    a.write(b"two")
    drive(net, [a, b], until=1.15)
    assert bytes(b.received) == b""
    hold.release()
    drive(net, [a, b], until=5.0)
    assert bytes(b.received) == b"onetwo"
    arrivals = [r.time for r in net.trace if r.kind == DELIVER and r.host == "server"
                and r.segment is not None and r.segment.payload]  # fmt: skip
    assert arrivals[0] == pytest.approx(1.15)


def test_inject_reset_refuses_a_foreign_connection() -> None:
    net, a, _ = established()
    other_net, _, _ = pair()
    with pytest.raises(ValueError, match="is not an open connection of this network"):
        other_net.faults.inject_reset(a.conn)
    with pytest.raises(ValueError, match="seq must be 'exact', 'in-window', 'stale' or an int"):
        net.faults.inject_reset(a.conn, seq="soon")  # type: ignore[attr-defined, arg-type]
