"""Textbook 9: a delayed segment of an old connection and TIME-WAIT.

The server's first reply segment wanders in the network for 30 s (a rule
delays it); TCP retransmits it, the transfer completes and the client closes
first, so it holds the 4-tuple in TIME-WAIT, and meanwhile cannot open a new
connection from the same port (EADDRINUSE).  At 30.11 s the old segment
arrives: TIME-WAIT absorbs it -- no application ever sees it -- and answers
with an ACK (restarting its timer).

That ACK reaches the server, which has no connection any more and answers
with a RST carrying exactly the sequence number TIME-WAIT expects.  With
Linux's default ``tcp_rfc1337 = 0`` the RST kills TIME-WAIT ("TIME-WAIT
assassination", RFC 1337 hazard H1) and the port is free at 30.13 s; with
``rfc1337=True`` TIME-WAIT ignores it and lasts until 90.11 s.

Run: ``python -m aiotcpsim scenario old_segment_time_wait``
"""

from __future__ import annotations

from types import SimpleNamespace

from ..config import TcpConfig
from ..tcp import State
from .kit import PORT, SERVER_IP, App, Scenario, drive, pair

REPLY = b"r" * 1000


def scenario(*, rfc1337: bool = False) -> SimpleNamespace:
    net, client, server = pair(delay=0.01, tcp=TcpConfig(rfc1337=rfc1337))
    listener = server.listen(PORT)
    rule = net.faults.delay(30.0, src="server", payload=True, count=1)
    a = App(net, client.connect(SERVER_IP, PORT, local_port=40000))
    b = App(net, listener=listener)
    drive(net, [a, b], until=0.1)
    b.write(REPLY)
    drive(net, [a, b], until=5.0)
    a.close()
    b.close_on_eof = True
    drive(net, [a, b], until=20.0)
    errors = []
    try:
        client.connect(SERVER_IP, PORT, local_port=40000)
    except OSError as exc:
        errors.append((net.now, exc.errno))
    drive(net, [a, b], until=31.0)
    state_at_31 = a.conn.state if a.conn else None
    drive(net, [a, b], stop=lambda: a.conn is not None and a.conn.state is State.CLOSED)
    closed_at = max(t for t, host, state in net.trace.states("client") if state is State.CLOSED)
    reconnect_at = net.now
    again = App(net, client.connect(SERVER_IP, PORT, local_port=40000))
    b2 = App(net, listener=listener)
    drive(net, [again, b2], until=net.now + 1.0)
    return SimpleNamespace(
        net=net, client=a, server=b, rule=rule, errors=errors, state_at_31=state_at_31,
        closed_at=closed_at, again=again, reconnect_at=reconnect_at,
    )  # fmt: skip


def _summary(run: SimpleNamespace) -> str:
    return f"reconnect during TIME-WAIT: {run.errors}; TIME-WAIT ended at {run.closed_at:.3f} s"


SCENARIOS = [
    Scenario(
        "old_segment_time_wait",
        "an old segment arrives during TIME-WAIT (rfc1337=False)",
        scenario,
        _summary,
        last=16,
    ),
    Scenario(
        "old_segment_rfc1337",
        "an old segment arrives during TIME-WAIT (rfc1337=True)",
        lambda: scenario(rfc1337=True),
        _summary,
        last=16,
    ),
]
