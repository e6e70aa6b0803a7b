"""What an idle connection costs: the Python heap of established connections
in the sans-I/O core (no event loop), per end.

The bound is the project's budget, with some room for the differences
between Python versions and between the pure and the compiled build: a
kernel socket under asyncio costs its transport and streams only, so every
byte a simulated TCB holds while idle shows in the memory benchmark
(``benchmarks/memory.py``).
"""

from __future__ import annotations

import gc
import tracemalloc

from aiotcpsim import Network
from aiotcpsim.segment import ACK, Segment
from aiotcpsim.trace import Trace

N = 100
BUDGET_PER_END = 2240
"""Bytes of heap per idle established end (the TCB, its engines, the host's tables)."""


def heap_per_end(trace: bool) -> float:
    net = Network(seed=1, trace=trace)
    a = net.add_host("a")
    b = net.add_host("b")
    listener = b.listen(80, backlog=2 * N)
    first = a.connect("b", 80)  # one-time costs (caches, table growth) paid before
    net.run_until_idle(limit=1.0)
    kept = [first, listener.accept()]
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        kept += [a.connect("b", 80) for _ in range(N)]
        net.run_until_idle(limit=net.now + 1.0)
        kept += [listener.accept() for _ in range(N)]
        gc.collect()
        used = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    assert all(c is not None and c.state.name == "ESTABLISHED" for c in kept)
    return used / (2 * N)


def test_an_idle_established_end_fits_the_budget() -> None:
    assert heap_per_end(trace=False) <= BUDGET_PER_END


def test_the_trace_and_the_host_share_the_connections_four_tuple() -> None:
    net = Network(seed=1)
    a = net.add_host("a")
    listener = net.add_host("b").listen(80)
    conn = a.connect("b", 80)
    net.run_until_idle(limit=1.0)
    child = listener.accept()
    assert child is not None
    assert conn.key == (*conn.local, *conn.remote)
    assert conn.key.remote_port == 80
    assert child.key == (*child.local, *child.remote)
    # One tuple per connection, not one per record or per table.
    ends = {id(c.key): c for c in (conn, child)}
    states = [r for r in net.trace if r.kind == "state"]
    assert len(states) >= 4
    assert all(id(r.endpoint) in ends for r in states)


def test_a_long_trace_holds_no_object_per_record_for_the_collector() -> None:
    # The garbage collector walks every container it tracks at each full
    # collection: a record must not be one (the segment it names is the
    # sender's anyway).
    segments = [Segment("10.0.0.1", 1000, "10.0.0.2", 80, i, 0, ACK, 0) for i in range(2000)]
    trace = Trace(limit=1000)
    gc.collect()
    before = len(gc.get_objects())
    for i, seg in enumerate(segments):
        trace.record(float(i), "send", "a", seg)
        trace.record(float(i), "state", "a", None, ("10.0.0.1", 1000, "10.0.0.2", 80))
    gc.collect()
    assert len(gc.get_objects()) - before < 50
    assert len(trace) == 1000
    assert [r.segment.seq for r in trace.records[-4::2] if r.segment] == [1998, 1999]
