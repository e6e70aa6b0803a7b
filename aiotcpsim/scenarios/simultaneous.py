"""Textbook 5: simultaneous open and simultaneous close (RFC 9293 Figures 7 and 13).

Two hosts connect to each other at the same instant from fixed ports, without
any listener: the SYNs cross, each side goes SYN-SENT -> SYN-RECEIVED and
answers with a SYN-ACK; four segments and both are ESTABLISHED after 2 d.
Later both close at the same instant: the FINs cross, both go FIN-WAIT-1 ->
CLOSING -> TIME-WAIT, and both hold TIME-WAIT for 60 s.

Run: ``python -m aiotcpsim scenario simultaneous``
"""

from __future__ import annotations

from types import SimpleNamespace

from .kit import CLIENT_IP, SERVER_IP, App, Scenario, drive, pair


def scenario() -> SimpleNamespace:
    net, client, server = pair(delay=0.01)
    a = App(net, client.connect(SERVER_IP, 5000, local_port=6000))
    b = App(net, server.connect(CLIENT_IP, 6000, local_port=5000))
    drive(net, [a, b], until=1.0)
    established = (a.conn.state, b.conn.state) if a.conn and b.conn else None
    a.close()
    b.close()
    drive(net, [a, b])
    return SimpleNamespace(net=net, a=a, b=b, established=established)


SCENARIOS = [
    Scenario("simultaneous", "simultaneous open, then simultaneous close", scenario),
]
