"""Textbook 12: the peer crashes.

(a) The server crashes; the client writes.  Nothing comes back, the client
retransmits, and with ``TCP_USER_TIMEOUT`` = 30 s the write ends in ETIMEDOUT
30 s after it was sent.
(b) The server crashes and restarts; the client's next write reaches a stack
that knows nothing of the connection, which answers with a RST: ECONNRESET
after one round trip.
(c) The client only reads (idle); keep-alive (idle 60 s, 10 s interval,
3 probes), turned on at 1 s, sends probes at 61, 71 and 81 s and the
connection fails with ETIMEDOUT at 91 s (Linux arms the timer when
``SO_KEEPALIVE`` is set).

Run: ``python -m aiotcpsim scenario crash_write``
"""

from __future__ import annotations

import errno
from types import SimpleNamespace

from .kit import PORT, SERVER_IP, App, Scenario, drive, pair


def _established() -> SimpleNamespace:
    net, client, server = pair(delay=0.01)
    listener = server.listen(PORT)
    a = App(net, client.connect(SERVER_IP, PORT))
    b = App(net, listener=listener)
    drive(net, [a, b], until=1.0)
    return SimpleNamespace(net=net, client=client, server=server, a=a, b=b)


def write_to_crashed(user_timeout: float = 30.0) -> SimpleNamespace:
    run = _established()
    assert run.a.conn is not None
    run.a.conn.user_timeout = user_timeout
    run.net.faults.crash(run.server)
    run.net.advance(5.0)
    run.a.write(b"hello?")
    drive(run.net, [run.a], stop=lambda: run.a.error is not None)
    return run


def write_to_restarted() -> SimpleNamespace:
    run = _established()
    run.net.faults.crash(run.server)
    run.net.faults.restart(run.server, at=3.0)
    run.net.advance(5.0)
    run.a.write(b"hello?")
    drive(run.net, [run.a], stop=lambda: run.a.error is not None)
    return run


def idle_keepalive() -> SimpleNamespace:
    run = _established()
    assert run.a.conn is not None
    run.a.conn.set_keepalive(True, idle=60.0, interval=10.0, count=3, now=run.net.now)
    run.net.faults.crash(run.server)
    drive(run.net, [run.a], stop=lambda: run.a.error is not None)
    return run


def _failed(run: SimpleNamespace) -> str:
    err = run.a.error or 0
    return f"client error at {run.a.error_at:.3f} s: {errno.errorcode.get(err, err)}"


SCENARIOS = [
    Scenario(
        "crash_write",
        "write to a crashed peer (TCP_USER_TIMEOUT 30 s)",
        write_to_crashed,
        _failed,
        last=14,
    ),
    Scenario("crash_restarted", "write to a restarted peer", write_to_restarted, _failed, last=14),
    Scenario(
        "crash_keepalive", "keep-alive finds an idle dead peer", idle_keepalive, _failed, last=14
    ),
]
