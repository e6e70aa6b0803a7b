"""Properties of whole connections over impaired networks (hypothesis).

Whatever the seed, loss (up to 50 %), duplication, reordering and delay:
every byte arrives exactly once and in order, end of stream is seen once and
after the last byte, both ends reach CLOSED after TIME-WAIT, and the network
is left with no pending timer.
"""

from __future__ import annotations

import hashlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import Side, drive

from aiotcpsim import TcpConfig
from aiotcpsim.net import Network
from aiotcpsim.tcp import State

# Generous retry limits: the property is about what TCP delivers, and at 50 %
# loss each way Linux's default limits give up on a few percent of runs.
PATIENT = TcpConfig(syn_retries=30, synack_retries=30, retries2=40, orphan_retries=40)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    loss=st.floats(0.0, 0.5),
    duplicate=st.floats(0.0, 0.3),
    reorder=st.floats(0.0, 0.3),
    delay=st.floats(0.0, 0.05),
    jitter=st.floats(0.0, 0.02),
    a_bytes=st.integers(0, 40_000),
    b_bytes=st.integers(0, 40_000),
    a_first=st.booleans(),
)
def test_bytes_arrive_exactly_once_in_order_and_both_sides_close(
    seed: int,
    loss: float,
    duplicate: float,
    reorder: float,
    delay: float,
    jitter: float,
    a_bytes: int,
    b_bytes: int,
    a_first: bool,
) -> None:
    net = Network(
        seed=seed,
        tcp=PATIENT,
        loss=loss,
        duplicate=duplicate,
        reorder=reorder,
        delay=delay,
        jitter=jitter,
    )
    a_host = net.add_host("a")
    b_host = net.add_host("b")
    listener = b_host.listen(9000)
    payload_a = hashlib.shake_128(b"a%d" % seed).digest(a_bytes)
    payload_b = hashlib.shake_128(b"b%d" % seed).digest(b_bytes)
    a = Side(a_host.connect(b_host.ip, 9000), payload_a, shutdown_first=a_first)
    b = Side(None, payload_b, shutdown_first=not a_first)
    drive(net, a, b, listener)
    assert bytes(b.received) == payload_a
    assert bytes(a.received) == payload_b
    assert a.eof and b.eof
    assert a.conn is not None and b.conn is not None
    assert a.conn.state is State.CLOSED
    assert b.conn.state is State.CLOSED
    assert net.next_deadline() is None
    assert a_host.connection_count() == 0
    assert b_host.connection_count() == 0


def _lifecycle(seed: int) -> str:
    net = Network(seed=seed, loss=0.2, duplicate=0.1, reorder=0.1, delay=0.01, jitter=0.005)
    client = net.add_host("client")
    server = net.add_host("server")
    listener = server.listen(80)
    a = Side(client.connect(server.ip, 80), b"x" * 5000, shutdown_first=True)
    b = Side(None, b"y" * 7000, shutdown_first=False)
    drive(net, a, b, listener)
    return net.trace.digest()


def test_same_seed_same_trace_different_seed_different_trace() -> None:
    assert _lifecycle(11) == _lifecycle(11)
    assert _lifecycle(11) != _lifecycle(12)
