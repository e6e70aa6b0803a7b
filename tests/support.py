"""Helpers for tests that drive the sans-I/O network by hand."""

from __future__ import annotations

import hashlib

from aiotcpsim.net import Network
from aiotcpsim.stack.host import Listener
from aiotcpsim.tcp import Connection, State


class Recorder:
    """A ConnectionUser / ListenerUser that records what happened, with times."""

    def __init__(self, now: list[float] | None = None) -> None:
        self.events: list[str] = []

    def tcp_connected(self, conn: Connection) -> None:
        self.events.append("connected")

    def tcp_readable(self, conn: Connection) -> None:
        self.events.append("readable")

    def tcp_writable(self, conn: Connection) -> None:
        self.events.append("writable")

    def tcp_closed(self, conn: Connection) -> None:
        self.events.append("closed")

    def tcp_acceptable(self, listener: Listener) -> None:
        self.events.append("acceptable")


def read_all(conn: Connection, now: float) -> bytes:
    """Everything readable now (stops at would-block or end of stream)."""
    out = bytearray()
    while True:
        chunk = conn.recv(1 << 20, now)
        if not chunk:
            return bytes(out)
        out += chunk


class Side:
    """One application: writes its payload, shuts down, reads to EOF, closes."""

    def __init__(self, conn: Connection | None, payload: bytes, shutdown_first: bool) -> None:
        self.conn = conn
        self.payload = payload
        self.sent = 0
        self.received = bytearray()
        self.eof = False
        self.shut = False
        self.closed = False
        self.shutdown_first = shutdown_first

    def step(self, now: float) -> None:
        conn = self.conn
        if conn is None or self.closed or conn.state in (State.SYN_SENT, State.SYN_RECEIVED):
            return
        while self.sent < len(self.payload):
            n = conn.send(memoryview(self.payload)[self.sent :], now)
            if n == 0:
                break
            self.sent += n
        if self.sent == len(self.payload) and not self.shut and (self.shutdown_first or self.eof):
            conn.shutdown(now)
            self.shut = True
        while not self.eof:
            chunk = conn.recv(65536, now)
            if chunk is None:
                break
            if chunk == b"":
                self.eof = True
                break
            self.received += chunk
        if self.eof and self.shut:
            conn.close(now)
            self.closed = True


def drive(net: Network, a: Side, b: Side, listener: Listener, steps: int = 300_000) -> None:
    """Run two applications over ``net`` until nothing is left to happen; ``b``
    takes its connection from ``listener`` once it is accepted."""
    for _ in range(steps):
        if b.conn is None:
            b.conn = listener.accept()
        a.step(net.now)
        b.step(net.now)
        deadline = net.next_deadline()
        if deadline is None:
            # Nothing pending: the applications may still have a step to take
            # (reading an end of stream that just arrived, then shutting down).
            a.step(net.now)
            b.step(net.now)
            deadline = net.next_deadline()
            if deadline is None:
                return
        net.advance(deadline)
    raise AssertionError(f"the run did not finish: {net!r}")


def bulk_transfer(
    net: Network, seed: int, size: int, *, shutdown: bool = False
) -> tuple[Connection, Connection]:
    """Hosts ``a`` and ``b``: ``a`` sends ``size`` bytes (derived from
    ``seed``) to ``b``:80 (then shuts down, if asked), the network driven
    deadline by deadline until ``b`` has read them all and checked them.
    Returns (sender, receiver)."""
    a = net.add_host("a")
    b = net.add_host("b")
    listener = b.listen(80)
    conn = a.connect("b", 80)
    net.run_until_idle(limit=1.0)
    child = listener.accept()
    assert child is not None
    data = hashlib.shake_128(b"%d" % seed).digest(size)
    sent = 0
    got = bytearray()
    while len(got) < size:
        if sent < size:
            sent += conn.send(data[sent:], net.now)
            if sent == size and shutdown:
                conn.shutdown(net.now)
        while (chunk := child.recv(1 << 20, net.now)) not in (None, b""):
            got += chunk
        deadline = net.next_deadline()
        assert deadline is not None
        net.advance(deadline)
    assert bytes(got) == data
    return conn, child
