"""Textbook 8: the final ACK is lost and there is no TIME-WAIT.

As in ``last_ack_lost.py``, but the client's TIME-WAIT lasts 0 s, so the
4-tuple is free at once, and the client opens a new connection from the
same port right away.  The server still holds the old connection in LAST-ACK:
the new SYN meets it (RFC 5961 challenge ACK), the client's SYN-SENT socket
answers the stray ACK with a RST, and the old connection ends by reset instead
of a clean close -- the new connection succeeds only after its SYN is
retransmitted.  With TIME-WAIT (the default) the client cannot reuse the
port at all until the old segments are gone (EADDRINUSE).

Run: ``python -m aiotcpsim scenario no_time_wait``
"""

from __future__ import annotations

from types import SimpleNamespace

from ..config import TcpConfig
from ..tcp import State
from .kit import PORT, SERVER_IP, App, Scenario, drive, pair


def scenario(time_wait: float = 0.0) -> SimpleNamespace:
    net, client, server = pair(delay=0.01, tcp=TcpConfig(time_wait=time_wait))
    listener = server.listen(PORT)
    a = App(net, client.connect(SERVER_IP, PORT, local_port=40000))
    b = App(net, listener=listener)
    drive(net, [a, b], until=1.0)
    old_server_conn = b.conn
    net.faults.drop(src="client", flags="ACK", payload=False, count=1,
                    state=("TIME-WAIT", "CLOSED"))  # fmt: skip
    b.close_on_eof = True
    a.close()
    drive(
        net,
        [a, b],
        stop=lambda: a.conn is not None and a.conn.state in (State.TIME_WAIT, State.CLOSED),
    )
    reconnect_error = None
    new = None
    try:
        new = App(net, client.connect(SERVER_IP, PORT, local_port=40000))
    except OSError as exc:
        reconnect_error = exc.errno
    reconnect_at = net.now
    b2 = App(net, listener=listener)
    drive(net, [b] + ([new, b2] if new else []), until=reconnect_at + 5.0)
    return SimpleNamespace(
        net=net,
        client=a,
        server=b,
        new=new,
        new_server=b2,
        old_server_conn=old_server_conn,
        reconnect_at=reconnect_at,
        reconnect_error=reconnect_error,
    )


SCENARIOS = [
    Scenario(
        "no_time_wait",
        "TIME-WAIT = 0: the old connection meets the new one",
        scenario,
        last=16,
    ),
    Scenario(
        "time_wait",
        "TIME-WAIT = 60 s: the 4-tuple cannot be reused",
        lambda: scenario(time_wait=60.0),
        lambda run: f"the reconnect fails at once: errno {run.reconnect_error}",
        last=16,
    ),
]
