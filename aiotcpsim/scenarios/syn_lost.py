"""Textbook 1: the SYN is lost.

The first three SYNs are dropped by a rule; the client retransmits on Linux's
(>= 6.5) schedule -- 1 s apart for the first retransmissions
(``tcp_syn_linear_timeouts``) -- and connects with the fourth, at 3 s + 1 RTT.

Run: ``python -m aiotcpsim scenario syn_lost``
"""

from __future__ import annotations

from types import SimpleNamespace

from .kit import PORT, SERVER_IP, App, Scenario, drive, pair


def scenario() -> SimpleNamespace:
    net, client, server = pair(delay=0.01)
    listener = server.listen(PORT)
    rule = net.faults.drop(flags="SYN", count=3)
    app = App(net, client.connect(SERVER_IP, PORT))
    peer = App(net, listener=listener)
    drive(net, [app, peer], stop=lambda: peer.conn is not None)
    return SimpleNamespace(net=net, client=app, server=peer, rule=rule)


SCENARIOS = [
    Scenario(
        "syn_lost",
        "the SYN is lost three times",
        scenario,
        lambda run: f"client connected at {run.client.connected_at:.3f} s",
    ),
]
