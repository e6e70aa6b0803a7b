"""Textbook 13: a partition during a transfer heals in time.

The client sends 1 MB over a 200 kB/s link.  At 1 s a partition cuts both directions (a silent
black hole); at 31 s it heals.  The sender backs off exponentially while the
link is cut, retransmits after the heal, and the transfer completes with
every byte intact, in order, exactly once.

Run: ``python -m aiotcpsim scenario partition_heals``
"""

from __future__ import annotations

import hashlib
from types import SimpleNamespace

from .kit import PORT, SERVER_IP, App, Scenario, drive, pair

DATA = hashlib.shake_128(b"payload").digest(1_000_000)


def scenario() -> SimpleNamespace:
    net, client, server = pair(delay=0.01, rate=200_000)
    listener = server.listen(PORT)
    a = App(net, client.connect(SERVER_IP, PORT))
    b = App(net, listener=listener)
    b.close_on_eof = True
    a.write(DATA)
    a.shutdown()
    partitions = []
    net.call_at(1.0, lambda: partitions.append(net.faults.partition(client, server)))
    net.call_at(31.0, lambda: partitions[0].heal())
    drive(net, [a, b], until=600.0, stop=lambda: a.eof_at is not None and b.closed)
    return SimpleNamespace(net=net, client=a, server=b)


def _summary(run: SimpleNamespace) -> str:
    stats = run.net.statistics()
    return (
        f"server received {len(run.server.received)} bytes intact: "
        f"{bytes(run.server.received) == DATA}; retransmissions {stats['retransmissions']}"
    )


SCENARIOS = [
    Scenario(
        "partition_heals",
        "a partition from 1 s to 31 s during a 1 MB transfer",
        scenario,
        _summary,
        last=16,
    ),
]
