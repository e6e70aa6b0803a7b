"""Scaffolding of the textbook scenarios: two hosts and tiny sans-I/O applications.

Rule owned here: **how a scenario is driven**.  A scenario builds a network,
runs on virtual time by calling :func:`drive`, which lets every :class:`App`
react after each step of the network, and returns what happened (a namespace
with at least ``net``), so ``tests/faults/test_textbook.py`` asserts on the
very run that ``python -m aiotcpsim scenario NAME`` prints.  A
:class:`Scenario` names one such run for the command line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from types import SimpleNamespace
from typing import Any, NamedTuple

from ..config import TcpConfig
from ..net import Network
from ..stack.host import Host, Listener
from ..tcp import Connection, State

__all__ = [
    "CLIENT_IP",
    "PORT",
    "SERVER_IP",
    "App",
    "Scenario",
    "drive",
    "pair",
    "send_times",
    "state_times",
]

CLIENT_IP = "10.0.0.1"
SERVER_IP = "10.0.0.2"
PORT = 8080


def pair(
    seed: int = 1, delay: float = 0.01, tcp: TcpConfig | None = None, **impairments: Any
) -> tuple[Network, Host, Host]:
    """A client (10.0.0.1) and a server (10.0.0.2), ``delay`` seconds apart each way."""
    net = Network(seed=seed, delay=delay, tcp=tcp, **impairments)
    return net, net.add_host("client", CLIENT_IP), net.add_host("server", SERVER_IP)


class App:
    """An application on one connection: writes what it is given, reads
    everything, half-closes and closes when told, remembers errors and times."""

    def __init__(
        self, net: Network, conn: Connection | None = None, *, listener: Listener | None = None
    ) -> None:
        self.net = net
        self.conn = conn
        self.listener = listener
        self.outbox = bytearray()
        self.received = bytearray()
        self.reading = True
        self.eof_at: float | None = None
        self.connected_at: float | None = None
        self.error: int | None = None
        self.error_at: float | None = None
        self.shutdown_wanted = False
        self.close_wanted = False
        self.close_on_eof = False
        self.closed = False

    def write(self, data: bytes) -> None:
        self.outbox += data
        self.pump()

    def shutdown(self) -> None:
        self.shutdown_wanted = True
        self.pump()

    def close(self) -> None:
        self.close_wanted = True
        self.pump()

    def pump(self) -> None:
        """React to whatever happened, at the network's current time."""
        net = self.net
        now = net.now
        if self.conn is None and self.listener is not None and not self.listener.closed:
            self.conn = self.listener.accept()
        conn = self.conn
        if conn is None or self.closed:
            return
        if self.connected_at is None and conn.state not in (
            State.SYN_SENT,
            State.SYN_RECEIVED,
            State.CLOSED,
        ):
            self.connected_at = now
        try:
            if self.error is None and conn.state not in (State.SYN_SENT, State.SYN_RECEIVED):
                while self.outbox:
                    n = conn.send(bytes(self.outbox[:65536]), now)
                    if n == 0:
                        break
                    del self.outbox[:n]
                if self.shutdown_wanted and not self.outbox:
                    self.shutdown_wanted = False
                    conn.shutdown(now)
            while self.reading and self.eof_at is None:
                chunk = conn.recv(65536, now)
                if chunk is None:
                    break
                if chunk == b"":
                    self.eof_at = now
                    break
                self.received += chunk
        except OSError as exc:
            if self.error is None:
                self.error, self.error_at = exc.errno, now
        if self.error is None and conn.error is not None and conn.state is State.CLOSED:
            err = conn.take_error()
            if err is not None:
                self.error, self.error_at = err, now
        if (
            self.close_wanted or (self.close_on_eof and self.eof_at is not None)
        ) and not self.outbox:
            self.closed = True
            conn.close(now)


def drive(
    net: Network,
    apps: Iterable[App],
    *,
    until: float | None = None,
    stop: Callable[[], bool] | None = None,
) -> float:
    """Run the network from deadline to deadline, letting the applications react
    after every step, until nothing is pending, ``until`` or ``stop()``."""
    apps = list(apps)
    while True:
        for app in apps:
            app.pump()
        if stop is not None and stop():
            return net.now
        deadline = net.next_deadline()
        if deadline is None or (until is not None and deadline > until):
            break
        net.advance(deadline)
    if until is not None and until > net.now:
        net.advance(until)
        for app in apps:
            app.pump()
    return net.now


def send_times(net: Network, host: str, flags: str) -> list[float]:
    """When ``host`` sent segments with exactly these flags (PSH ignored)."""
    from ..net.faults import parse_flags
    from ..segment import PSH

    want = parse_flags(flags)
    return [
        round(r.time, 6)
        for r in net.trace
        if r.kind == "send" and r.host == host and r.segment is not None
        and r.segment.flags & ~PSH == want
    ]  # fmt: skip


def state_times(net: Network, host: str) -> list[tuple[float, str]]:
    """(time, new state) of every state change on ``host``."""
    return [(round(t, 6), str(s)) for t, _, s in net.trace.states(host)]


class Scenario(NamedTuple):
    """One textbook run, as ``python -m aiotcpsim scenario NAME`` shows it."""

    name: str
    title: str
    run: Callable[[], SimpleNamespace]
    """Runs the scenario; the result has at least ``net``, the network."""
    summary: Callable[[SimpleNamespace], str] | None = None
    """A line or two about the result, printed after the ladder."""
    last: int | None = None
    """Rows of the ladder printed by default (None: all)."""
