"""The network layer's own rules: event order, the bounded trace, the send tap,
bare flights on loss-and-delay links, faults as a send filter, one-way imports."""

from __future__ import annotations

import ast
import pathlib

import pytest

import aiotcpsim
from aiotcpsim.net import Network
from aiotcpsim.net.events import EventQueue
from aiotcpsim.net.network import BaseNetwork
from aiotcpsim.pictures import html_report, ladder_svg
from aiotcpsim.segment import ACK, SYN, Segment
from aiotcpsim.stack.host import Host
from aiotcpsim.trace import DEFAULT_LIMIT, DEFAULT_SNAPLEN, Trace, TraceRecord

PACKAGE = pathlib.Path(aiotcpsim.__file__).parent


def seg(seq: int, src: str = "10.0.0.1", dst: str = "10.0.0.2") -> Segment:
    return Segment(src, 1000, dst, 2000, seq, 0, ACK, 0)


# -- the event queue --------------------------------------------------------------


def test_events_due_together_run_in_push_order_across_heap_and_ready_fifo() -> None:
    q = EventQueue()
    ran: list[str] = []
    q.push(1.0, ran.append, "heap-1")
    assert q.can_push_ready(0.0)
    q.push_ready(0.0, ran.append, "ready-0")
    q.push(0.0, ran.append, "heap-0")
    q.push_ready(1.0, ran.append, "ready-1")
    assert not q.can_push_ready(0.5)  # would break the FIFO's time order
    while (entry := q.pop_due(1.0)) is not None:
        entry[2](entry[3])
    assert ran == ["ready-0", "heap-0", "heap-1", "ready-1"]
    assert len(q) == 0 and q.peek() is None


def test_push_says_when_the_next_deadline_moved_earlier() -> None:
    q = EventQueue()
    assert q.push(2.0, print, None)
    assert not q.push(3.0, print, None)
    assert not q.push(2.0, print, None)  # a tie does not move it
    assert q.push(1.0, print, None)


# -- the trace ------------------------------------------------------------------------


def test_trace_is_a_bounded_ring_by_default() -> None:
    # (BaseNetwork: the same constructor, and tools that make every Network keep
    # its whole trace leave it alone.)
    assert BaseNetwork().trace.limit == DEFAULT_LIMIT
    assert Trace().limit == DEFAULT_LIMIT
    small = BaseNetwork(trace_limit=3)
    for i in range(5):
        small.note("localhost", f"n{i}")
    assert [r.text for r in small.trace] == ["n2", "n3", "n4"]
    assert len(small.trace) == 3
    assert "limit 3" in repr(small.trace)


def test_full_trace_on_request() -> None:
    assert Network(trace="full").trace.limit is None
    assert Network(trace_limit=None).trace.limit is None
    off = Network(trace=False)
    off.note("localhost", "x")
    assert len(off.trace) == 0
    with pytest.raises(ValueError, match="trace must be True, False or 'full'"):
        Network(trace="yes")


def test_keep_all_keeps_what_follows() -> None:
    trace = Trace(limit=2)
    for i in range(3):
        trace.append(TraceRecord(float(i), "note", "h", text=str(i)))
    trace.keep_all()
    for i in range(3, 6):
        trace.append(TraceRecord(float(i), "note", "h", text=str(i)))
    assert [r.text for r in trace] == ["1", "2", "3", "4", "5"]
    with pytest.raises(ValueError, match="trace limit must be an int >= 1"):
        Trace(limit=0)


def loopback_transfer(size: int, **trace: object) -> Network:
    """``size`` bytes over 127.0.0.1 (MSS 65483), then both ends closed."""
    net = Network(seed=1, **trace)  # type: ignore[arg-type]
    listener = net.localhost.listen(8000)
    conn = net.localhost.connect("127.0.0.1", 8000)
    net.run_until_idle(limit=1.0)
    child = listener.accept()
    assert child is not None
    data = bytes(range(256)) * (size // 256)
    assert conn.send(data, net.now) == len(data)
    net.run_until_idle(limit=2.0)
    assert child.recv(size, net.now) == data
    conn.close(net.now)
    child.close(net.now)
    net.run_until_idle(limit=200.0)
    return net


def test_trace_keeps_the_head_of_a_long_payload() -> None:
    net = loopback_transfer(256 * 1024)
    sent = [r for r in net.trace if r.kind == "send" and r.segment and r.payload_len]
    assert {r.payload_len for r in sent} == {65483, 256 * 1024 - 4 * 65483}
    (tail,) = [r for r in sent if r.payload_len == 212]  # short: kept whole
    assert tail.segment is not None and len(tail.segment.payload) == 212
    assert tail.orig_len is None
    first = min(r.segment.seq for r in sent if r.segment)
    for r in sent:
        assert r.segment is not None
        if r is tail:
            continue
        # A copy of the first bytes: the record does not keep the written data alive.
        assert type(r.segment.payload) is bytes
        off = (r.segment.seq - first) % 256
        assert r.segment.payload == (bytes(range(256)) * 9)[off : off + DEFAULT_SNAPLEN]
        assert r.orig_len == r.payload_len
        assert f"len={r.payload_len} [TS val" in str(r)  # the timestamps option follows
    assert ":65484(65483)" in net.trace.ladder()
    assert ":65484(65483)" in ladder_svg(net.trace)
    assert '<td class="n">262144</td>' in html_report(net)  # bytes sent, as on the wire
    assert net.trace.snaplen == DEFAULT_SNAPLEN


def test_full_trace_keeps_whole_payloads() -> None:
    for net in (loopback_transfer(256 * 1024, trace="full"),
                loopback_transfer(256 * 1024, trace_snaplen=None)):  # fmt: skip
        assert net.trace.snaplen is None
        sent = [r for r in net.trace if r.kind == "send" and r.segment and r.payload_len]
        assert sum(len(r.segment.payload) for r in sent) == 256 * 1024
        assert all(r.orig_len is None for r in sent)


def test_short_payloads_are_kept_whole_and_the_snap_length_is_checked() -> None:
    net = loopback_transfer(1024)
    sent = [r for r in net.trace if r.kind == "send" and r.segment and r.payload_len]
    assert [len(r.segment.payload) for r in sent] == [1024]
    assert sent[0].orig_len is None
    small = loopback_transfer(1024, trace_snaplen=100)
    (r,) = [r for r in small.trace if r.kind == "send" and r.segment and r.payload_len]
    assert (len(r.segment.payload), r.payload_len) == (100, 1024)
    with pytest.raises(ValueError, match="trace snap length must be an int >= 0 or None"):
        Trace(snaplen=-1)


# -- public hooks for tests --------------------------------------------------------------


def at_b(net: Network) -> list[int]:
    """Sequence numbers of the segments delivered to host b, in order."""
    return [r.segment.seq for r in net.trace if r.kind == "deliver" and r.host == "b" and r.segment]


def two(**impairments: object) -> tuple[Network, Host, Host]:
    net = Network(seed=3, trace="full", **impairments)  # type: ignore[arg-type]
    return net, net.add_host("a", "10.0.0.1"), net.add_host("b", "10.0.0.2")


def test_send_tap_sees_every_segment_and_may_take_it() -> None:
    net, a, _b = two()
    seen: list[int] = []

    def tap(src: Host, segment: Segment, retransmission: bool) -> bool:
        if src is not a:
            return True  # b's resets (the port is closed) pass
        seen.append(segment.seq)
        return segment.seq != 2  # the tap keeps seq 2

    net.set_send_tap(tap)
    for i in range(3):
        net.transmit(a, seg(i))
    net.run_until_idle()
    assert seen == [0, 1, 2]
    assert at_b(net) == [0, 1]
    assert net.statistics()["segments_sent"] == 4  # 2 from a, 2 resets from b
    net.set_send_tap(None)
    net.transmit(a, seg(2))
    net.run_until_idle()
    assert at_b(net) == [0, 1, 2]


def test_isn_generator_chooses_the_isn() -> None:
    net, a, b = two()
    b.listen(2000)
    a.isn_generator = lambda: 1000
    conn = a.connect(b.ip, 2000)
    assert conn.iss == 1000
    (syn,) = net.trace.segments()
    assert syn.flags & SYN and syn.seq == 1000


# -- bare flights ---------------------------------------------------------------------------


@pytest.mark.parametrize("impairments", [{}, {"delay": 0.1}, {"loss": 0.3, "delay": 0.1}])
def test_bare_flights_become_flights_when_the_link_changes(impairments: dict[str, float]) -> None:
    net, a, _b = two(**impairments)
    for i in range(20):
        net.transmit(a, seg(i))
    link = net.link("a", "b")
    in_flight = link.in_flight
    assert net.statistics()["segments_in_flight"] == in_flight
    link.update(delay=0.2)  # in-flight segments now take 0.2 s from when they were sent
    assert link.in_flight == in_flight
    net.run_until_idle()
    times = {round(r.time, 9) for r in net.trace if r.kind == "deliver" and r.host == "b"}
    assert times == {0.2}
    assert link.in_flight == 0


def test_bare_flights_wait_on_a_held_link_in_send_order() -> None:
    net, a, _b = two(delay=0.1, loss=0.2)
    hold = net.faults.hold_link("a", "b", oneway=True)
    for i in range(10):
        net.transmit(a, seg(i))
    net.advance(1.0)
    sent = [s.seq for s in net.trace.segments("send")]
    lost = {s.seq for s in net.trace.segments("drop")}
    assert hold.held == len(sent) - len(lost)
    hold.release()
    net.run_until_idle()
    assert at_b(net) == [s for s in sent if s not in lost]


# -- faults as a send filter ------------------------------------------------------------------


def test_faults_install_the_send_filter_only_while_a_rule_is_in_force() -> None:
    net, a, _b = two()
    with net.faults.drop(src="a", count=1) as rule:
        net.transmit(a, seg(0))
        net.transmit(a, seg(1))
        assert not rule.active  # spent: it left the network by itself
    net.run_until_idle()
    assert at_b(net) == [1]


def test_base_network_has_no_faults() -> None:
    assert not hasattr(BaseNetwork(), "faults")
    assert isinstance(Network(), BaseNetwork)


def _imports(path: pathlib.Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.add("." * node.level + node.module)
    return out


def test_layers_import_one_way() -> None:
    stack = _imports(PACKAGE / "stack" / "host.py")
    assert not any("net" in m.split(".") for m in stack), stack
    for name in ("events.py", "impairments.py", "link.py", "network.py"):
        found = _imports(PACKAGE / "net" / name)
        assert not any("faults" in m or "compose" in m for m in found), (name, found)
