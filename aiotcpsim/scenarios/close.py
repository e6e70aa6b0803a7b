"""Textbook 6: the four-way close, and the three-segment close.

Four-way: the client closes; the server acknowledges the FIN (Linux delays
that ACK by up to 40 ms), its application closes a second later and sends its
own FIN; the client, the active closer, holds TIME-WAIT for 60 s.

Three segments: the server's application closes as soon as it reads the end
of stream.  Linux delays the ACK of a FIN (``tcp_fin`` enters pingpong mode),
so the server's FIN carries that ACK: the client receives a single FIN|ACK
and goes FIN-WAIT-1 -> TIME-WAIT directly.

Run: ``python -m aiotcpsim scenario close_four_way``
"""

from __future__ import annotations

from types import SimpleNamespace

from .kit import PORT, SERVER_IP, App, Scenario, drive, pair


def scenario(*, server_closes_after: float | None) -> SimpleNamespace:
    net, client, server = pair(delay=0.01)
    listener = server.listen(PORT)
    a = App(net, client.connect(SERVER_IP, PORT))
    b = App(net, listener=listener)
    drive(net, [a, b], until=0.5)
    a.write(b"request")  # the server's delayed-ACK engine starts with its first data
    drive(net, [a, b], until=1.0)
    net.trace.clear()
    a.close()
    if server_closes_after is None:
        b.close_on_eof = True
    else:
        net.call_at(1.0 + server_closes_after, b.close)
    drive(net, [a, b])
    return SimpleNamespace(net=net, client=a, server=b)


SCENARIOS = [
    Scenario("close_four_way", "four-way close", lambda: scenario(server_closes_after=1.0)),
    Scenario("close_three_way", "three-segment close", lambda: scenario(server_closes_after=None)),
]
