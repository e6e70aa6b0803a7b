"""Textbook 9: a delayed segment of an old connection and TIME-WAIT.

The server's first reply segment wanders in the network for 30 s (a rule
delays it); TCP retransmits it, the transfer completes and the client closes
first, so it holds the 4-tuple in TIME-WAIT.  At 30 s the old segment
arrives: TIME-WAIT absorbs it (answers with an ACK), no application ever
sees it, and meanwhile the client cannot open a new connection from the same
port (EADDRINUSE).  Once TIME-WAIT is over, the port is reused normally.

Run: ``python examples/old_segment_time_wait.py``
"""

from __future__ import annotations

from types import SimpleNamespace

from _sim import PORT, SERVER_IP, App, drive, pair, show

from aiotcpsim.connection import State

REPLY = b"r" * 1000


def scenario() -> SimpleNamespace:
    net, client, server = pair(delay=0.01)
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
    closed_at = net.now
    again = App(net, client.connect(SERVER_IP, PORT, local_port=40000))
    b2 = App(net, listener=listener)
    drive(net, [again, b2], until=net.now + 1.0)
    return SimpleNamespace(
        net=net, client=a, server=b, rule=rule, errors=errors, state_at_31=state_at_31,
        closed_at=closed_at, again=again,
    )  # fmt: skip


def main() -> None:
    run = scenario()
    show(run.net, "an old segment arrives during TIME-WAIT")
    print(f"reconnect during TIME-WAIT: {run.errors}; reconnected after {run.closed_at:.3f} s")


if __name__ == "__main__":
    main()
