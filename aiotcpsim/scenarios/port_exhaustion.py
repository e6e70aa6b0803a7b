"""Textbook 11: ephemeral ports exhausted by TIME-WAIT.

The client's ephemeral range is cut to 10 ports.  It opens ten short
connections to the server and closes each first, so each leaves its 4-tuple
in TIME-WAIT for 60 s.  The eleventh connect fails at once with
EADDRNOTAVAIL; once the first TIME-WAIT has drained the client connects again.

Run: ``python -m aiotcpsim scenario port_exhaustion``
"""

from __future__ import annotations

from types import SimpleNamespace

from ..config import TcpConfig
from .kit import PORT, SERVER_IP, App, Scenario, drive, pair


def scenario() -> SimpleNamespace:
    net, client, server = pair(delay=0.01, tcp=TcpConfig(ephemeral_ports=(40000, 40009)))
    listener = server.listen(PORT)
    ports = []
    for _ in range(10):
        a = App(net, client.connect(SERVER_IP, PORT))
        b = App(net, listener=listener)
        b.close_on_eof = True
        drive(net, [a, b], until=net.now + 0.1)
        a.close()
        drive(net, [a, b], until=net.now + 0.1)
        ports.append(a.conn.local[1] if a.conn else None)
    failures = []
    try:
        client.connect(SERVER_IP, PORT)
    except OSError as exc:
        failures.append((round(net.now, 6), exc.errno))
    first_free_at = None
    while first_free_at is None:
        deadline = net.next_deadline()
        if deadline is None:
            break
        net.advance(deadline)
        try:
            conn = client.connect(SERVER_IP, PORT)
        except OSError:
            continue
        first_free_at = net.now
        recovered = App(net, conn)
        drive(net, [recovered, App(net, listener=listener)], until=net.now + 0.1)
    return SimpleNamespace(
        net=net, ports=ports, failures=failures, first_free_at=first_free_at,
        time_wait=client.config.time_wait,
    )  # fmt: skip


def _summary(run: SimpleNamespace) -> str:
    return (
        f"ten connections used ports {sorted(p for p in run.ports if p)}\n"
        f"eleventh connect: {run.failures}\n"
        f"a port is free again at {run.first_free_at:.3f} s"
    )


SCENARIOS = [
    Scenario(
        "port_exhaustion",
        "ephemeral port exhaustion through TIME-WAIT",
        scenario,
        _summary,
        last=10,
    ),
]
