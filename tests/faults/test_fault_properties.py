"""Faults keep TCP's promises, and runs with faults are reproducible.

A hypothesis property extends tests/test_properties.py: whatever the mix of
random impairments (loss, Gilbert-Elliott bursts, jitter distributions,
duplication, reordering, corruption, bandwidth with a queue) and of events
(partitions that heal in time, held links, delayed or duplicated segments),
the bytes an application reads are exactly the bytes sent, once, in order,
and both ends close.
"""

from __future__ import annotations

import hashlib
import runpy
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import Side, drive

from aiotcpsim import TcpConfig
from aiotcpsim.net import Network
from aiotcpsim.tcp import State

PATIENT = TcpConfig(syn_retries=30, synack_retries=30, retries2=40, orphan_retries=40)
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


events = st.lists(
    st.tuples(
        st.sampled_from(["partition", "partition-oneway", "hold", "delay", "duplicate", "burst"]),
        st.floats(0.0, 3.0),  # start
        st.floats(0.05, 20.0),  # duration
    ),
    max_size=4,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    loss=st.floats(0.0, 0.3),
    burst=st.none() | st.tuples(st.floats(0.0, 0.1), st.floats(0.3, 1.0)),
    delay=st.floats(0.0, 0.05),
    jitter=st.floats(0.0, 0.02),
    distribution=st.sampled_from(["uniform", "normal", "pareto", "paretonormal"]),
    duplicate=st.floats(0.0, 0.2),
    reorder=st.floats(0.0, 0.2),
    corrupt=st.floats(0.0, 0.1),
    rate=st.none() | st.floats(20_000, 2_000_000),
    queue_limit=st.integers(5, 200),
    a_bytes=st.integers(0, 30_000),
    b_bytes=st.integers(0, 30_000),
    plan=events,
)
def test_faults_never_lose_duplicate_or_reorder_application_bytes(
    seed: int,
    loss: float,
    burst: tuple[float, float] | None,
    delay: float,
    jitter: float,
    distribution: str,
    duplicate: float,
    reorder: float,
    corrupt: float,
    rate: float | None,
    queue_limit: int,
    a_bytes: int,
    b_bytes: int,
    plan: list[tuple[str, float, float]],
) -> None:
    net = Network(
        seed=seed,
        tcp=PATIENT,
        loss=loss,
        burst=burst,
        delay=delay,
        jitter=jitter,
        distribution=distribution,
        duplicate=duplicate,
        reorder=reorder,
        corrupt=corrupt,
        rate=rate,
        queue_limit=queue_limit,
    )
    a_host = net.add_host("a")
    b_host = net.add_host("b")
    for kind, start, duration in plan:
        _schedule(net, a_host.name, b_host.name, kind, start, duration)
    listener = b_host.listen(9000)
    payload_a = hashlib.shake_128(b"a%d" % seed).digest(a_bytes)
    payload_b = hashlib.shake_128(b"b%d" % seed).digest(b_bytes)
    a = Side(a_host.connect(b_host.ip, 9000), payload_a, shutdown_first=True)
    b = Side(None, payload_b, shutdown_first=False)
    drive(net, a, b, listener)
    assert bytes(b.received) == payload_a
    assert bytes(a.received) == payload_b
    assert a.eof and b.eof
    assert a.conn is not None and b.conn is not None
    assert a.conn.state is State.CLOSED
    assert b.conn.state is State.CLOSED
    assert net.next_deadline() is None


def _schedule(net: Network, a: str, b: str, kind: str, start: float, duration: float) -> None:
    """One timed event; every one of them ends (heals, releases) in time."""
    faults = net.faults
    if kind in ("partition", "partition-oneway"):
        box: list[object] = []
        net.call_at(
            start, lambda: box.append(faults.partition(a, b, oneway=kind == "partition-oneway"))
        )
        net.call_at(start + duration, lambda: box[0].heal())  # type: ignore[attr-defined]
    elif kind == "hold":
        held: list[object] = []
        net.call_at(start, lambda: held.append(faults.hold_link(a, b)))
        net.call_at(start + duration, lambda: held[0].release())  # type: ignore[attr-defined]
    elif kind == "delay":
        net.call_at(start, lambda: faults.delay(min(duration, 5.0), src=b, payload=True, count=3))
    elif kind == "duplicate":
        net.call_at(start, lambda: faults.duplicate(2, src=a, count=5))
    elif kind == "burst":
        link = net.link(a, b)
        net.call_at(start, lambda: link.update(burst=(0.3, 0.3)))
        net.call_at(start + min(duration, 5.0), lambda: link.reset("burst"))


def _lifecycle_with_faults(seed: int) -> str:
    net = Network(
        seed=seed,
        loss=0.05,
        burst=(0.02, 0.4),
        delay=0.01,
        jitter=0.005,
        distribution="paretonormal",
        duplicate=0.05,
        reorder=0.05,
        corrupt=0.02,
        rate=500_000,
        queue_limit=40,
    )
    client = net.add_host("client")
    server = net.add_host("server")
    net.faults.drop(flags="SYN|ACK", count=1)
    net.faults.delay(0.5, src="server", payload=True, nth=3, count=2)
    net.faults.duplicate(1, src="client", with_flags="FIN")
    net.call_at(0.5, lambda: parts.append(net.faults.partition(client, server)))
    net.call_at(3.5, lambda: parts[0].heal())
    net.call_at(5.0, lambda: holds.append(net.faults.hold_link(client, server)))
    net.call_at(6.0, lambda: holds[0].release())
    net.call_at(2.0, lambda: net.link(client, server).update(delay=0.03, loss=0.1))
    parts: list[object] = []
    holds: list[object] = []
    listener = server.listen(80)
    a = Side(client.connect(server.ip, 80), b"x" * 50_000, shutdown_first=True)
    b = Side(None, b"y" * 70_000, shutdown_first=False)
    drive(net, a, b, listener)
    assert bytes(b.received) == b"x" * 50_000
    return net.trace.digest()


def test_same_seed_same_trace_with_faults_on() -> None:
    assert _lifecycle_with_faults(21) == _lifecycle_with_faults(21)
    assert _lifecycle_with_faults(21) != _lifecycle_with_faults(22)


# examples/test_*.py are pytest files (tests/test_examples.py runs them under pytest).
SCRIPTS = sorted(p.name for p in EXAMPLES.glob("[a-z]*.py") if not p.name.startswith("test_"))


@pytest.mark.parametrize("script", SCRIPTS)
def test_example_runs(
    script: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "argv", [script])
    old = list(sys.path)
    try:
        runpy.run_path(str(EXAMPLES / script), run_name="__main__")
    finally:
        sys.path[:] = old
    out = capsys.readouterr().out
    assert "time (s)" in out  # a ladder was printed
