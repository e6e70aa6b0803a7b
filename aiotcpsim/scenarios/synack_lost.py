"""Textbook 3: the SYN-ACK is lost; the third ACK is lost while the client sends data.

(a) The server's first SYN-ACK is dropped.  The client retransmits its SYN
after 1 s; the server, in SYN-RECEIVED, answers it with a SYN-ACK (and its own
SYN-ACK timer fires at the same moment); the client connects at 1 s + 1 RTT.

(b) The client's third ACK (the bare ACK of the handshake) is dropped, but the
client -- ESTABLISHED already -- sends its request at once: the data segment
carries the same acknowledgment, so the server becomes ESTABLISHED when it
arrives and nothing is retransmitted.

Run: ``python -m aiotcpsim scenario synack_lost``
"""

from __future__ import annotations

from types import SimpleNamespace

from .kit import PORT, SERVER_IP, App, Scenario, drive, pair


def synack_lost() -> SimpleNamespace:
    net, client, server = pair(delay=0.01)
    listener = server.listen(PORT)
    net.faults.drop(flags="SYN|ACK", count=1)
    app = App(net, client.connect(SERVER_IP, PORT))
    peer = App(net, listener=listener)
    drive(net, [app, peer], stop=lambda: peer.conn is not None)
    return SimpleNamespace(net=net, client=app, server=peer)


def third_ack_lost() -> SimpleNamespace:
    net, client, server = pair(delay=0.01)
    listener = server.listen(PORT)
    rule = net.faults.drop(src="client", flags="ACK", payload=False, count=1)
    app = App(net, client.connect(SERVER_IP, PORT))
    app.write(b"GET / HTTP/1.0\r\n\r\n")  # queued until ESTABLISHED
    peer = App(net, listener=listener)
    drive(net, [app, peer], until=0.5)
    return SimpleNamespace(net=net, client=app, server=peer, rule=rule)


SCENARIOS = [
    Scenario("synack_lost", "the SYN-ACK is lost", synack_lost),
    Scenario("third_ack_lost", "the third ACK is lost; data follows at once", third_ack_lost),
]
