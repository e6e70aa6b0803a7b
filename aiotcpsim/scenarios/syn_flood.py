"""Textbook: a SYN flood, and SYN cookies.

An attacker sends 10 SYNs a second from spoofed addresses
(:meth:`net.faults.syn_flood <aiotcpsim.net.faults.Faults.syn_flood>`) to a
server that listens with a backlog of 16, for 80 s.  Each SYN makes a
half-open request whose SYN-ACK goes nowhere, and which the server keeps for
63 s while it retransmits that SYN-ACK: after 17 SYNs (1.6 s) the SYN queue
is full.  A legitimate client connects at 5 s.

* ``syn_flood`` (``tcp_syncookies=1``, Linux's default): from then on the
  server answers every SYN with a SYN cookie and keeps nothing ("Possible SYN
  flooding on port 0.0.0.0:8080. Sending cookies."); the client gets a
  cookie, and its ACK opens the connection: it sends its request and gets
  the answer as if nothing happened.
* ``syn_flood_no_cookies`` (``tcp_syncookies=0``): the client's SYNs are
  dropped like the attacker's for as long as the flood lasts; connect fails
  with ETIMEDOUT at 136 s (131 s after it began).

Run: ``python -m aiotcpsim scenario syn_flood``
"""

from __future__ import annotations

import errno
from types import SimpleNamespace

from ..config import TcpConfig
from .kit import PORT, SERVER_IP, App, Scenario, drive, pair

BACKLOG = 16
RATE = 10.0
"""SYNs a second from the attacker."""
FLOOD_SECONDS = 80.0
"""Long enough to outlast the client's last SYN (at 72 s)."""
CLIENT_AT = 5.0


def scenario(syncookies: int = 1) -> SimpleNamespace:
    """The flood against a server with ``tcp_syncookies`` = ``syncookies``."""
    net, client, server = pair(delay=0.01, tcp=TcpConfig(syncookies=syncookies))
    listener = server.listen(PORT, backlog=BACKLOG)
    net.faults.syn_flood(server, PORT, count=int(RATE * FLOOD_SECONDS), rate=RATE)
    server_app = App(net, listener=listener)
    drive(net, [server_app], until=CLIENT_AT)
    client_app = App(net, client.connect(SERVER_IP, PORT))
    client_app.write(b"GET /")

    def done() -> bool:
        if server_app.received == b"GET /" and not server_app.outbox:
            if not client_app.received:
                server_app.write(b"200 OK")
            return client_app.received == b"200 OK"
        return client_app.error is not None

    drive(net, [client_app, server_app], stop=done)
    return SimpleNamespace(
        net=net, client=client_app, server=server_app, listener=listener, netstat=server.netstat
    )


def _summary(run: SimpleNamespace) -> str:
    counters = ", ".join(f"{name} {value}" for name, value in run.netstat.items() if value)
    if run.client.error is not None:
        err = errno.errorcode.get(run.client.error, run.client.error)
        outcome = f"the client's connect failed at {run.client.error_at} s: {err}"
    else:
        outcome = (
            f"the client connected at {run.client.connected_at} s "
            f"and got {bytes(run.client.received)!r}"
        )
    return f"{outcome}; server counters: {counters}"


SCENARIOS = [
    Scenario(
        "syn_flood", "a SYN flood, with SYN cookies (Linux's default)", scenario, _summary, 30
    ),
    Scenario(
        "syn_flood_no_cookies",
        "a SYN flood, tcp_syncookies=0",
        lambda: scenario(syncookies=0),
        _summary,
        30,
    ),
]
