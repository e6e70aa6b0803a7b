"""Textbook 7: the final ACK of the close is lost.

The client closes first; the server closes on end of stream.  A rule drops
the client's ACK sent in TIME-WAIT.  The server, in LAST-ACK, retransmits its
FIN on RTO; the client, still in TIME-WAIT, acknowledges it again and
restarts its 60 s timer; both end CLOSED.

Run: ``python -m aiotcpsim scenario last_ack_lost``
"""

from __future__ import annotations

from types import SimpleNamespace

from .kit import PORT, SERVER_IP, App, Scenario, drive, pair


def scenario() -> SimpleNamespace:
    net, client, server = pair(delay=0.01)
    listener = server.listen(PORT)
    a = App(net, client.connect(SERVER_IP, PORT))
    b = App(net, listener=listener)
    drive(net, [a, b], until=1.0)
    rule = net.faults.drop(src="client", flags="ACK", state="TIME-WAIT", count=1)
    b.close_on_eof = True
    a.close()
    drive(net, [a, b])
    return SimpleNamespace(net=net, client=a, server=b, rule=rule)


SCENARIOS = [
    Scenario("last_ack_lost", "the final ACK is lost", scenario),
]
