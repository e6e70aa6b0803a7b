"""Targeted rules and injected segments, on raw segments (no TCB needed)."""

from __future__ import annotations

import pytest
from faultwire import delivered, dropped, raw, send, two_hosts

from aiotcpsim.net.faults import parse_flags
from aiotcpsim.segment import ACK, FIN, PSH, RST, SYN, Flags
from aiotcpsim.tcp import State
from aiotcpsim.trace import DELIVER, SEND


def test_drop_first_match_only() -> None:
    net, a, _ = two_hosts(delay=0.1)
    rule = net.faults.drop(flags="ACK", count=1)
    for i in range(3):
        send(net, a, raw(i, flags=ACK))
    net.run_until_idle()
    assert [s for _, s in delivered(net)] == [1, 2]
    assert (rule.matched, rule.hits, rule.active) == (1, 1, False)
    assert net.faults.rules == []


def test_nth_and_count_pick_one_segment() -> None:
    net, a, _ = two_hosts(delay=0.1)
    net.faults.drop(payload=True, nth=2, count=1)
    for i in range(4):
        send(net, a, raw(i, 10, flags=PSH | ACK))
    net.run_until_idle()
    assert [s for _, s in delivered(net)] == [0, 2, 3]


def test_every_match_from_the_fourth_on() -> None:
    net, a, _ = two_hosts()
    rule = net.faults.drop(src="a", payload=True, nth=4)
    for i in range(6):
        send(net, a, raw(i, 1, flags=ACK))
    net.run_until_idle()
    assert [s for _, s in delivered(net)] == [0, 1, 2]
    assert rule.hits == 3 and rule.active


def test_exact_flags_ignore_psh_unless_named() -> None:
    net, a, _ = two_hosts()
    ack = net.faults.capture(flags="ACK")
    psh = net.faults.capture(flags="PSH|ACK")
    send(net, a, raw(0, flags=ACK))
    send(net, a, raw(1, 5, flags=PSH | ACK))
    send(net, a, raw(2, flags=FIN | ACK))
    assert [s.seq for s in ack.segments] == [0, 1]
    assert [s.seq for s in psh.segments] == [1]


def test_with_and_without_flags() -> None:
    net, a, _ = two_hosts()
    fin = net.faults.capture(with_flags="FIN")
    bare = net.faults.capture(with_flags="ACK", without_flags="FIN|PSH")
    send(net, a, raw(0, flags=ACK))
    send(net, a, raw(1, flags=FIN | ACK))
    send(net, a, raw(2, 3, flags=PSH | ACK))
    assert [s.seq for s in fin.segments] == [1]
    assert [s.seq for s in bare.segments] == [0]


def test_direction_and_ports() -> None:
    net, a, b = two_hosts()
    to_b = net.faults.capture(src="a", dst=b, dst_port=2000)
    either = net.faults.capture(host="10.0.0.2", port=1000)
    wrong_port = net.faults.capture(src_port=2000)
    send(net, a, raw(0))
    send(net, b, raw(1, reverse=True))
    assert [s.seq for s in to_b.segments] == [0]
    assert [s.seq for s in either.segments] == [0, 1]
    assert [s.seq for s in wrong_port.segments] == [1]


def test_sender_state_follows_a_real_connection() -> None:
    net, a, _ = two_hosts()
    rule = net.faults.drop(src="a", flags="ACK", state="SYN-SENT", count=1)
    send(net, a, raw(0, flags=ACK))  # no connection on this 4-tuple: CLOSED
    conn = a.connect("10.0.0.2", 2000, local_port=1000)
    send(net, a, raw(1, flags=ACK))  # the 4-tuple's connection is in SYN-SENT
    conn.abort(net.now)
    send(net, a, raw(2, flags=ACK))  # gone again: CLOSED
    net.run_until_idle()
    assert [s for _, s in delivered(net) if s in (0, 1, 2)] == [0, 2]
    assert rule.segments[0].seq == 1


def test_segments_of_no_tcb_count_as_closed_or_syn_received() -> None:
    net, a, _ = two_hosts()
    closed = net.faults.capture(state="CLOSED")
    synrcvd = net.faults.capture(state=State.SYN_RECEIVED)
    send(net, a, raw(0, flags=RST))
    send(net, a, raw(1, flags=SYN | ACK))
    assert [s.seq for s in closed.segments] == [0]
    assert [s.seq for s in synrcvd.segments] == [1]


def test_delay_rule_adds_to_the_link_delay_and_scopes_with_with() -> None:
    net, a, _ = two_hosts(delay=0.1)
    with net.faults.delay(10.0, with_flags="FIN") as rule:
        send(net, a, raw(0, flags=FIN | ACK))
        send(net, a, raw(1, flags=ACK))
    send(net, a, raw(2, flags=FIN | ACK))
    net.run_until_idle()
    assert delivered(net) == [(0.1, 1), (0.1, 2), (10.1, 0)]
    assert not rule.active


def test_duplicate_rule() -> None:
    net, a, _ = two_hosts(delay=0.1)
    net.faults.duplicate(2, count=1)
    send(net, a, raw(0))
    net.run_until_idle()
    assert delivered(net) == [(0.1, 0)] * 3


def test_hold_rule_keeps_segments_until_released_in_order() -> None:
    net, a, _ = two_hosts(delay=0.1)
    rule = net.faults.hold(src="a", count=2)
    for i in range(3):
        send(net, a, raw(i))
    net.advance(1.0)
    assert delivered(net) == [(0.1, 2)]
    assert rule.held == 2
    rule.release()
    net.run_until_idle()
    assert delivered(net) == [(0.1, 2), (1.1, 0), (1.1, 1)]


def test_removing_a_hold_rule_releases_what_it_holds() -> None:
    net, a, _ = two_hosts()
    rule = net.faults.hold()
    send(net, a, raw(0))
    rule.remove()
    rule.remove()  # idempotent
    net.run_until_idle()
    assert delivered(net) == [(0.0, 0)]


def test_corrupt_rule() -> None:
    net, a, _ = two_hosts(delay=0.1)
    net.faults.corrupt(count=1)
    send(net, a, raw(0))
    send(net, a, raw(1))
    net.run_until_idle()
    assert delivered(net) == [(0.1, 1)]
    assert dropped(net) == [(0.1, 0, "corrupted: bad checksum")]
    assert net.statistics()["segments_corrupted"] == 1


def test_reset_rule_answers_the_sender_like_its_destination() -> None:
    net, a, _ = two_hosts(delay=0.1)
    net.faults.reset(flags="ACK", count=1)
    net.faults.reset(flags="SYN", count=1)
    send(net, a, raw(0)._replace(flags=ACK, ack=777))
    send(net, a, raw(5)._replace(flags=SYN))
    net.run_until_idle()
    resets = [r.segment for r in net.trace if r.kind == DELIVER and r.host == "a"]
    assert [(s.flags, s.seq, s.ack) for s in resets if s is not None] == [
        (RST, 777, 0),
        (RST | ACK, 0, 6),
    ]
    assert delivered(net, "a") == [(0.1, 777), (0.1, 0)]
    assert delivered(net) == []


def test_capture_and_replay_later() -> None:
    net, a, _ = two_hosts(delay=0.1)
    cap = net.faults.capture(flags="SYN")
    send(net, a, raw(9, flags=SYN))
    net.run_until_idle()
    net.faults.replay(cap.segments[0], at=30.0)
    net.run_until_idle()
    assert [(t, s) for t, s in delivered(net)] == [(0.1, 9), (30.0, 9)]
    replayed = [r for r in net.trace if r.kind == SEND and r.text == "replayed"]
    assert [r.time for r in replayed] == [30.0]
    assert net.statistics()["segments_injected"] == 1


def test_replay_via_link_crosses_the_link() -> None:
    net, _a, _ = two_hosts(delay=0.1)
    net.faults.replay(raw(1), after=2.0, via_link=True)
    net.run_until_idle()
    assert delivered(net) == [(2.1, 1)]


def test_rules_apply_in_creation_order_and_stop_at_a_drop() -> None:
    net, a, _ = two_hosts()
    first = net.faults.drop(count=1)
    second = net.faults.capture()
    send(net, a, raw(0))
    send(net, a, raw(1))
    assert first.hits == 1
    assert [s.seq for s in second.segments] == [1]


def test_clear_removes_rules_heals_and_releases() -> None:
    net, a, b = two_hosts()
    net.faults.drop()
    net.faults.partition(a, b)
    net.faults.hold_link(a, b)
    net.faults.clear()
    send(net, a, raw(0))
    net.run_until_idle()
    assert delivered(net) == [(0.0, 0)]
    assert "rules=0 partitions=0 holds=0" in repr(net.faults)


def test_flag_spellings() -> None:
    assert parse_flags("SYN|ACK") == SYN | ACK
    assert parse_flags("syn, ack") == SYN | ACK
    assert parse_flags("S.") == SYN | ACK
    assert parse_flags("F.") == FIN | ACK
    assert parse_flags(Flags.RST | Flags.ACK) == RST | ACK


@pytest.mark.parametrize(
    ("match", "message"),
    [
        ({"flags": "SYN|FIN"}, "rule can never match flags='SYN|FIN': SYN with FIN is never sent"),
        ({"flags": "SYN|RST"}, "SYN with RST is never sent"),
        ({"with_flags": "FIN|RST"}, "FIN with RST is never sent"),
        ({"flags": "FIN"}, "after the SYN every segment carries ACK"),
        ({"flags": "PSH"}, "after the SYN every segment carries ACK"),
        ({"flags": "SYN", "payload": True}, "this TCP sends no data on a SYN"),
        ({"with_flags": "RST", "payload": True}, "no data on a RST"),
        ({"flags": "SYN", "state": "ESTABLISHED"}, "a TCP in ESTABLISHED never sends a SYN"),
        ({"payload": True, "state": "TIME-WAIT"}, "a TCP in TIME-WAIT never sends data"),
        ({"with_flags": "FIN", "state": "FIN-WAIT-2"}, "never sends a FIN"),
        ({"flags": "ACK", "state": "CLOSED"}, "only resets are sent in CLOSED"),
        ({"state": "LISTEN"}, "a socket in LISTEN sends no segment"),
        ({"state": "BOGUS"}, "unknown TCP state 'BOGUS'"),
        ({"flags": "SYNACK"}, "unknown TCP flag 'SYNACK'"),
        ({"with_flags": "ACK", "without_flags": "ACK"}, "share a flag"),
        ({"flags": "ACK", "with_flags": "FIN"}, "asks for a flag that flags='ACK' excludes"),
        ({"src": "nowhere"}, "src='nowhere': no such host"),
        ({"port": 0}, "port must be a port within 1..65535"),
        ({"nth": 0}, "nth must be an int >= 1"),
        ({"count": 0}, "count must be an int >= 1"),
    ],
)
def test_rules_that_can_never_match_raise(match: dict[str, object], message: str) -> None:
    net, _, _ = two_hosts()
    with pytest.raises(ValueError, match=message.replace("|", r"\|")):
        net.faults.drop(**match)


def test_states_that_can_match_are_accepted() -> None:
    net, _, _ = two_hosts()
    net.faults.drop(flags="SYN", state=("SYN-SENT", "ESTABLISHED"))
    net.faults.drop(flags="SYN|ACK", state="SYN_RECEIVED")
    net.faults.drop(with_flags="FIN", state="LAST-ACK")
    net.faults.drop(flags="RST", state="CLOSED")
    assert len(net.faults.rules) == 4  # none refused


def test_bad_actions_and_parameters() -> None:
    net, a, b = two_hosts()
    with pytest.raises(ValueError, match="unknown rule action 'explode'"):
        net.faults.rule("explode")
    with pytest.raises(ValueError, match="delay must be a finite number of seconds >= 0, got -1"):
        net.faults.delay(-1)
    with pytest.raises(ValueError, match="mode must be 'blackhole' or 'reject'"):
        net.faults.partition(a, b, mode="drop")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="cannot partition host 'a' from itself"):
        net.faults.partition(a, a)
    with pytest.raises(ValueError, match="cannot replay in the past"):
        net.faults.replay(raw(0), at=-1.0)
    with pytest.raises(RuntimeError, match="is not held"):
        net.link(a, b).release()


def test_crash_and_restart_through_faults() -> None:
    net, a, b = two_hosts(delay=0.1)
    net.faults.crash("b")
    assert not b.up
    send(net, a, raw(0))
    net.faults.restart(b, at=5.0)
    net.run_until_idle()
    assert b.up
    assert dropped(net) == [(0.1, 0, "host down")]
