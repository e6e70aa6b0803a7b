"""Textbook 10: half-close.

The client sends a request and shuts down its sending side
(``shutdown(SHUT_WR)`` / ``write_eof()``); it sits in FIN-WAIT-2 while the
server, in CLOSE-WAIT, reads the end of stream and sends a 200 kB reply, then
closes.  The client reads every byte of the reply, then the end of stream.

Run: ``python -m aiotcpsim scenario half_close``
"""

from __future__ import annotations

import hashlib
from types import SimpleNamespace

from .kit import PORT, SERVER_IP, App, Scenario, drive, pair

REQUEST = b"GET /big HTTP/1.0\r\n\r\n"
REPLY = hashlib.shake_128(b"reply").digest(200_000)


def scenario() -> SimpleNamespace:
    net, client, server = pair(delay=0.01)
    listener = server.listen(PORT)
    a = App(net, client.connect(SERVER_IP, PORT))
    b = App(net, listener=listener)
    a.write(REQUEST)
    a.shutdown()
    states_during_reply: set[tuple[str, str]] = set()

    def watch() -> bool:
        if b.eof_at is not None and not b.close_wanted and bytes(b.received) == REQUEST:
            b.write(REPLY)
            b.close_wanted = True
        if a.conn is not None and b.conn is not None and 0 < len(a.received) < len(REPLY):
            states_during_reply.add((str(a.conn.state), str(b.conn.state)))
        return False

    drive(net, [a, b], stop=watch)
    return SimpleNamespace(net=net, client=a, server=b, states_during_reply=states_during_reply)


SCENARIOS = [
    Scenario(
        "half_close",
        "half-close: the client shuts down writing and reads a large reply",
        scenario,
        lambda run: f"client read {len(run.client.received)} bytes, then end of stream",
        last=12,
    ),
]
