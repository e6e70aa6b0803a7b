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


def test_syn_flood_sends_spoofed_syns_at_the_rate() -> None:
    net, _client, server = pair(delay=0.01)
    server.listen(PORT, backlog=3)
    net.faults.syn_flood(server, PORT, count=6, rate=4.0, after=1.0)
    net.run_until_idle(limit=3.0)
    syns = [r for r in net.trace if r.kind == SEND and r.host == "flood"]
    assert [r.time for r in syns] == [1.0, 1.25, 1.5, 1.75, 2.0, 2.25]
    sources = {r.segment.src_ip for r in syns if r.segment is not None}
    assert len(sources) == 6 and all(ip.startswith(("198.18.", "198.19.")) for ip in sources)
    assert all(r.segment is not None and r.segment.options.mss == 1460 for r in syns)
    # 4 requests fill listen(3)'s SYN queue; the 5th and 6th SYN get cookies.
    assert server.netstat["SyncookiesSent"] == 2
    # The SYN-ACKs have no route to the spoofed addresses.
    assert net.statistics()["segments_injected"] == 6


def test_syn_flood_from_given_sources_in_turn() -> None:
    net, _client, server = pair(delay=0.01)
    net.faults.syn_flood("server", PORT, count=3, rate=100.0, sources=["10.0.5.1", "10.0.5.2"])
    net.run_until_idle(limit=0.1)
    syns = [r.segment for r in net.trace if r.kind == SEND and r.host == "flood"]
    assert [s.src_ip for s in syns if s is not None] == ["10.0.5.1", "10.0.5.2", "10.0.5.1"]
    assert server.netstat["SyncookiesSent"] == 0  # nobody listens: RSTs


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"count": 0, "rate": 1.0}, ValueError, "count must be an int >= 1, got 0"),
        ({"count": 1, "rate": 0.0}, ValueError, r"rate must be > 0 and finite, got 0.0"),
        ({"count": 1, "rate": "fast"}, TypeError, "rate must be a number|float object expected"),
        ({"count": 1, "rate": 1.0, "sources": []}, ValueError, "sources must be a non-empty"),
        ({"count": 1, "rate": 1.0, "sources": "10.0.0.9"}, ValueError, "sources must be"),
        ({"count": 1, "rate": 1.0, "after": -1.0}, ValueError, "after must be a finite"),
    ],
)
def test_syn_flood_bad_arguments(kwargs: dict[str, object], error: type, match: str) -> None:
    net, _client, server = pair()
    with pytest.raises(error, match=match):
        net.faults.syn_flood(server, PORT, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"port must be an int within 1\.\.65535, got 0"):
        net.faults.syn_flood(server, 0, count=1, rate=1.0)
    with pytest.raises(ValueError, match="target='nobody': no such host"):
        net.faults.syn_flood("nobody", PORT, count=1, rate=1.0)
