"""The textbook as executable scenarios (issue 4): each runs the scenario of
the same name in aiotcpsim/scenarios/ (``python -m aiotcpsim scenario NAME``,
``examples/``) and asserts exact states, segments and virtual times.

One-way delay d = 10 ms; client 10.0.0.1, server 10.0.0.2:8080; Linux >= 6.5
timing unless a scenario says otherwise.
"""

from __future__ import annotations

import errno

import pytest

from aiotcpsim import TcpConfig
from aiotcpsim.scenarios import (
    close,
    half_close,
    last_ack_lost,
    no_time_wait,
    old_duplicate_syn,
    old_segment_time_wait,
    partition_heals,
    peer_crash,
    port_exhaustion,
    server_down,
    simultaneous,
    syn_flood,
    syn_lost,
    synack_lost,
)
from aiotcpsim.scenarios.kit import send_times, state_times
from aiotcpsim.tcp import Connection, State
from aiotcpsim.trace import DELIVER, DROP, SEND


def test_01_lost_syns_are_retransmitted_on_linux_schedule() -> None:
    run = syn_lost.scenario()
    assert send_times(run.net, "client", "SYN") == [0.0, 1.0, 2.0, 3.0]
    assert run.rule.hits == 3
    assert run.client.connected_at == pytest.approx(3.02)
    assert run.client.conn.state is State.ESTABLISHED
    assert run.server.conn.state is State.ESTABLISHED
    assert run.net.now == pytest.approx(3.03)


@pytest.mark.parametrize(
    ("tcp", "syns", "fails_at"),
    [
        (None, [0, 1, 2, 3, 4, 5, 7, 11, 19, 35, 67], 131.0),
        (TcpConfig.legacy_linux(), [0, 1, 3, 7, 15, 31, 63], 127.0),
        (TcpConfig(syn_retries=3), [0, 1, 2, 3, 4, 5, 7, 11], 19.0),
    ],
)
def test_02_server_down_connect_times_out(
    tcp: TcpConfig | None, syns: list[float], fails_at: float
) -> None:
    run = server_down.scenario(tcp)
    assert send_times(run.net, "client", "SYN") == syns
    assert run.client.error == errno.ETIMEDOUT
    assert run.client.error_at == pytest.approx(fails_at)
    assert run.client.conn.state is State.CLOSED
    drops = [r.text for r in run.net.trace if r.kind == DROP]
    assert drops == ["host down"] * len(syns)


@pytest.mark.skipif(
    not hasattr(Connection, "icmp_error"), reason="needs Connection.icmp_error(err, now)"
)
def test_02_server_unreachable_connect_fails_with_ehostunreach() -> None:
    run = server_down.scenario(reject=True)
    assert run.client.error == errno.EHOSTUNREACH
    assert run.client.error_at == pytest.approx(0.01)
    assert send_times(run.net, "client", "SYN") == [0.0]
    assert run.net.statistics()["icmp_unreachable"] == 1


def test_03a_lost_syn_ack_is_healed_by_the_syn_retransmission() -> None:
    run = synack_lost.synack_lost()
    assert send_times(run.net, "client", "SYN") == [0.0, 1.0]
    synacks = send_times(run.net, "server", "SYN|ACK")
    assert synacks[0] == 0.01
    assert 1.01 in synacks
    assert run.client.connected_at == pytest.approx(1.02)
    assert run.net.now == pytest.approx(1.03)
    assert run.server.conn.state is State.ESTABLISHED


def test_03b_lost_third_ack_is_covered_by_the_first_data_segment() -> None:
    run = synack_lost.third_ack_lost()
    assert run.rule.hits == 1
    assert run.client.connected_at == pytest.approx(0.02)
    data = [r for r in run.net.trace if r.kind == SEND and r.host == "client" and r.segment
            and r.segment.payload]  # fmt: skip
    assert [round(r.time, 6) for r in data] == [0.02]
    assert (0.03, "ESTABLISHED") in state_times(run.net, "server")
    assert bytes(run.server.received) == b"GET / HTTP/1.0\r\n\r\n"
    assert send_times(run.net, "server", "SYN|ACK") == [0.01]
    assert run.net.statistics()["retransmissions"] == 0


def test_04_old_duplicate_syn_is_reset_and_never_becomes_a_connection() -> None:
    run = old_duplicate_syn.scenario()
    new_conn = run.client.conn
    assert run.old_syn.seq != new_conn.iss
    # The old SYN's SYN-ACK reaches the client in SYN-SENT: RST seq = SEG.ACK.
    rsts = [
        r.segment for r in run.net.trace
        if r.kind == SEND and r.host == "client" and r.time >= 10 and r.segment
        and r.segment.flags & 0x04
    ]  # fmt: skip
    assert len(rsts) == 1
    assert rsts[0].seq == (run.old_syn.seq + 1) & 0xFFFFFFFF
    assert send_times(run.net, "server", "SYN|ACK")[-2:] == [10.0, 10.11]
    assert run.client.connected_at == pytest.approx(10.12)
    assert len(run.accepted) == 1
    assert run.accepted[0].irs == new_conn.iss
    assert run.accepted[0].state is State.ESTABLISHED


def test_05_simultaneous_open_and_simultaneous_close() -> None:
    run = simultaneous.scenario()
    assert run.established == (State.ESTABLISHED, State.ESTABLISHED)
    for host in ("client", "server"):
        assert send_times(run.net, host, "SYN") == [0.0]
        assert send_times(run.net, host, "SYN|ACK") == [0.01]
        assert send_times(run.net, host, "FIN|ACK") == [1.0]
        assert state_times(run.net, host)[-6:] == [
            (0.01, "SYN-RECEIVED"),
            (0.02, "ESTABLISHED"),
            (1.0, "FIN-WAIT-1"),
            (1.01, "CLOSING"),
            (1.02, "TIME-WAIT"),
            (61.02, "CLOSED"),
        ]


def test_06a_four_way_close() -> None:
    run = close.scenario(server_closes_after=1.0)
    sent = [(round(r.time, 6), r.host, r.segment.flag_text()) for r in run.net.trace
            if r.kind == SEND and r.segment]  # fmt: skip
    assert [(host, flags) for _, host, flags in sent] == [
        ("client", "FIN|ACK"),
        ("server", "ACK"),
        ("server", "FIN|ACK"),
        ("client", "ACK"),
    ]
    # The ACK of the FIN goes at once (quick-ACK) or after 40 ms (Linux's
    # delayed ACK in pingpong mode); the application closes 1 s later either way.
    ack = sent[1][0]
    assert ack in (1.01, 1.05)
    assert [t for t, _, _ in sent] == [1.0, ack, 2.0, 2.01]
    assert state_times(run.net, "client") == [
        (1.0, "FIN-WAIT-1"),
        (round(ack + 0.01, 6), "FIN-WAIT-2"),
        (2.01, "TIME-WAIT"),
        (62.01, "CLOSED"),
    ]
    assert state_times(run.net, "server") == [
        (1.01, "CLOSE-WAIT"),
        (2.0, "LAST-ACK"),
        (2.02, "CLOSED"),
    ]


def test_06b_three_segment_close() -> None:
    run = close.scenario(server_closes_after=None)
    arrived = [(round(r.time, 6), r.host, r.segment.flag_text()) for r in run.net.trace
               if r.kind == DELIVER and r.segment]  # fmt: skip
    assert arrived == [
        (1.01, "server", "FIN|ACK"),
        (1.02, "client", "FIN|ACK"),
        (1.03, "server", "ACK"),
    ]
    # FIN-WAIT-1 -> TIME-WAIT on one segment (RFC 9293 Figure 5, "rcv FIN, ACK");
    # like Linux the TCB passes FIN-WAIT-2 within the same instant.
    client = [x for x in state_times(run.net, "client") if x != (1.02, "FIN-WAIT-2")]
    assert client == [(1.0, "FIN-WAIT-1"), (1.02, "TIME-WAIT"), (61.02, "CLOSED")]
    assert state_times(run.net, "server") == [
        (1.01, "CLOSE-WAIT"),
        (1.01, "LAST-ACK"),
        (1.03, "CLOSED"),
    ]


def test_07_lost_final_ack_fin_retransmitted_time_wait_re_acks_and_restarts() -> None:
    run = last_ack_lost.scenario()
    net = run.net
    assert run.rule.hits == 1
    fins = send_times(net, "server", "FIN|ACK")
    assert len(fins) == 2
    first, again = fins
    assert again - first >= 0.2  # one RTO, never below rto_min
    acks = [t for t in send_times(net, "client", "ACK") if t >= first]
    assert acks == [pytest.approx(first + 0.01), pytest.approx(again + 0.01)]
    client_states = state_times(net, "client")
    assert client_states[-2][1] == "TIME-WAIT"
    assert client_states[-1] == (pytest.approx(again + 0.01 + 60.0), "CLOSED")
    assert state_times(net, "server")[-1] == (pytest.approx(again + 0.02), "CLOSED")
    assert run.client.conn.state is State.CLOSED
    assert run.server.conn.state is State.CLOSED


def test_08_without_time_wait_the_old_connection_meets_the_new_one() -> None:
    run = no_time_wait.scenario(time_wait=0.0)
    assert run.reconnect_error is None
    t = run.reconnect_at
    # New SYN -> challenge ACK from the old LAST-ACK connection -> RST from SYN-SENT.
    rsts = [x for x in send_times(run.net, "client", "RST") if x >= t]
    assert rsts == [pytest.approx(t + 0.02)]
    assert run.old_server_conn.state is State.CLOSED
    assert run.new.connected_at == pytest.approx(t + 1.02)  # after the SYN retransmission
    assert run.new_server.conn is not None
    assert run.new_server.conn.state is State.ESTABLISHED


def test_08_with_time_wait_the_port_cannot_be_reused() -> None:
    run = no_time_wait.scenario(time_wait=60.0)
    assert run.reconnect_error == errno.EADDRINUSE


def test_09_old_segment_is_absorbed_by_time_wait_which_then_is_assassinated() -> None:
    run = old_segment_time_wait.scenario()
    net = run.net
    assert run.rule.hits == 1
    assert run.errors == [(20.0, errno.EADDRINUSE)]
    old = run.rule.segments[0]
    arrivals = [round(r.time, 6) for r in net.trace
                if r.kind == DELIVER and r.host == "client" and r.segment is old]  # fmt: skip
    assert arrivals == [30.11]
    assert bytes(run.client.received) == old_segment_time_wait.REPLY  # once, never again
    # TIME-WAIT re-ACKs; the server (no socket) answers RST seq = RCV.NXT: with
    # tcp_rfc1337 = 0 (Linux) that RST ends TIME-WAIT (RFC 1337 hazard H1).
    assert send_times(net, "server", "RST") == [30.12]
    assert run.closed_at == pytest.approx(30.13)
    assert run.again.connected_at == pytest.approx(run.reconnect_at + 0.02)


def test_09_with_rfc1337_time_wait_holds_the_four_tuple_to_the_end() -> None:
    run = old_segment_time_wait.scenario(rfc1337=True)
    assert run.errors == [(20.0, errno.EADDRINUSE)]
    assert run.state_at_31 is State.TIME_WAIT
    assert bytes(run.client.received) == old_segment_time_wait.REPLY
    # The old segment restarted the 60 s timer (tcp_timewait_state_process).
    assert run.closed_at == pytest.approx(30.11 + 60.0)
    assert run.again.connected_at == pytest.approx(run.closed_at + 0.02)


def test_10_half_close_peer_keeps_sending_a_large_reply() -> None:
    run = half_close.scenario()
    assert bytes(run.server.received) == half_close.REQUEST
    assert run.server.eof_at == pytest.approx(0.03, abs=0.05)
    assert bytes(run.client.received) == half_close.REPLY
    assert run.client.eof_at is not None
    assert {a for a, _ in run.states_during_reply} == {"FIN-WAIT-2"}
    assert {b for _, b in run.states_during_reply} <= {"CLOSE-WAIT", "LAST-ACK"}
    assert run.client.conn.state is State.CLOSED
    assert run.server.conn.state is State.CLOSED
    assert "TIME-WAIT" in [s for _, s in state_times(run.net, "client")]
    assert "TIME-WAIT" not in [s for _, s in state_times(run.net, "server")]


def test_11_ephemeral_ports_exhausted_by_time_wait_then_recovered() -> None:
    run = port_exhaustion.scenario()
    assert sorted(run.ports) == list(range(40000, 40010))
    assert [e for _, e in run.failures] == [errno.EADDRNOTAVAIL]
    first_tw = next(t for t, s in state_times(run.net, "client") if s == "TIME-WAIT")
    assert run.first_free_at == pytest.approx(first_tw + run.time_wait)


def test_12a_write_to_crashed_peer_times_out_at_user_timeout() -> None:
    run = peer_crash.write_to_crashed(30.0)
    assert run.a.error == errno.ETIMEDOUT
    assert run.a.error_at == pytest.approx(35.0)
    data = [r for r in run.net.trace if r.kind == SEND and r.host == "client" and r.segment
            and r.segment.payload]  # fmt: skip
    assert len(data) > 3
    assert all(r.time <= 35.0 for r in data)
    assert all(r.text == "host down" for r in run.net.trace if r.kind == DROP)


def test_12b_write_to_restarted_peer_gets_a_reset() -> None:
    run = peer_crash.write_to_restarted()
    assert run.a.error == errno.ECONNRESET
    assert run.a.error_at == pytest.approx(5.02)
    assert send_times(run.net, "server", "RST") == [5.01]
    assert run.a.conn.state is State.CLOSED


def test_12c_keepalive_detects_an_idle_dead_peer() -> None:
    run = peer_crash.idle_keepalive()
    probes = [t for t in send_times(run.net, "client", "ACK") if t > 1.0]
    # Linux: SO_KEEPALIVE set at 1.0 arms the timer 60 s from then.
    assert probes == [61.0, 71.0, 81.0]
    assert run.a.error == errno.ETIMEDOUT
    assert run.a.error_at == pytest.approx(91.0)


def test_13_partition_heals_before_the_retransmission_limit() -> None:
    run = partition_heals.scenario()
    net = run.net
    assert bytes(run.server.received) == partition_heals.DATA
    assert run.client.eof_at is not None
    assert run.client.error is None and run.server.error is None
    cut = [r.time for r in net.trace if r.kind == DROP and r.text.startswith("partitioned")]
    assert cut and min(cut) >= 1.0 and max(cut) < 31.0
    assert net.statistics()["retransmissions"] > 0
    data_after = [r.time for r in net.trace if r.kind == SEND and r.host == "client"
                  and r.segment and r.segment.payload and r.time >= 31.0]  # fmt: skip
    assert data_after


def test_14a_syn_flood_with_cookies_the_client_connects_at_once() -> None:
    run = syn_flood.scenario()
    assert run.client.connected_at == pytest.approx(5.02)
    assert bytes(run.client.received) == b"200 OK"
    assert run.listener.requests() == 17  # the flood's: backlog + 1
    netstat = run.netstat
    assert netstat["SyncookiesRecv"] == 1 and netstat["SyncookiesFailed"] == 0
    # The 18th SYN (1.7 s) overflowed: every later one, the client's too, got a cookie.
    assert netstat["SyncookiesSent"] == 35 and netstat["ListenDrops"] == 0
    notes = [(round(r.time, 6), r.text) for r in run.net.trace if r.text.startswith("Possible")]
    assert notes == [(1.7, "Possible SYN flooding on port 0.0.0.0:8080. Sending cookies.")]
    ladder = run.net.trace.ladder(left="client", right="server")
    assert "(server: Possible SYN flooding on port 0.0.0.0:8080. Sending cookies.)" in ladder
    assert state_times(run.net, "server")[-2:] == [(5.03, "SYN-RECEIVED"), (5.03, "ESTABLISHED")]


def test_14b_syn_flood_without_cookies_the_client_times_out() -> None:
    run = syn_flood.scenario(syncookies=0)
    assert send_times(run.net, "client", "SYN") == [
        5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 12.0, 16.0, 24.0, 40.0, 72.0
    ]  # fmt: skip
    assert run.client.error == errno.ETIMEDOUT
    assert run.client.error_at == pytest.approx(136.0)
    assert not [r for r in run.net.trace if r.kind == SEND and r.host == "server"
                and r.segment and r.segment.dst_ip == "10.0.0.1"]  # fmt: skip
    assert run.netstat["TCPReqQFullDrop"] == run.netstat["ListenDrops"] > 700
    assert run.netstat["SyncookiesSent"] == 0
