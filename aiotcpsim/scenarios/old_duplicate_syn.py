"""Textbook 4: an old duplicate SYN (RFC 9293 section 3.5, Figure 8).

A first connection from port 40000 is captured and reset.  Ten seconds later
the client opens a new connection from the same port; its SYN is delayed in
the network, and a copy of the *old* SYN arrives at the server first.  The
server answers it with a SYN-ACK; the client, in SYN-SENT, sees an ACK of a
sequence number it never sent and answers with a RST; the server's half-open
connection goes back to LISTEN.  The real SYN then completes a normal
handshake: the old duplicate never becomes a connection.

Run: ``python -m aiotcpsim scenario old_duplicate_syn``
"""

from __future__ import annotations

from types import SimpleNamespace

from .kit import PORT, SERVER_IP, App, Scenario, drive, pair


def scenario() -> SimpleNamespace:
    net, client, server = pair(delay=0.01)
    listener = server.listen(PORT)
    capture = net.faults.capture(flags="SYN", count=1)
    first = client.connect(SERVER_IP, PORT, local_port=40000)
    net.run_until_idle(limit=1.0)
    old_child = listener.accept()
    first.abort(net.now)  # RST: no TIME-WAIT, the port is free again
    net.run_until_idle(limit=2.0)
    old_syn = capture.segments[0]

    net.advance(10.0)
    net.faults.delay(0.1, flags="SYN", src="client", count=1)  # the new SYN dawdles
    net.faults.replay(old_syn, at=10.0)  # ... and the old one shows up
    app = App(net, client.connect(SERVER_IP, PORT, local_port=40000))
    accepted = []
    peer = App(net, listener=listener)
    drive(net, [app, peer], until=11.0)
    if peer.conn is not None:
        accepted.append(peer.conn)
    while (more := listener.accept()) is not None:
        accepted.append(more)
    return SimpleNamespace(
        net=net, client=app, accepted=accepted, old_syn=old_syn, old_child=old_child
    )


SCENARIOS = [
    Scenario(
        "old_duplicate_syn",
        "an old duplicate SYN",
        scenario,
        lambda run: f"accepted connections: {len(run.accepted)}",
        last=14,
    ),
]
