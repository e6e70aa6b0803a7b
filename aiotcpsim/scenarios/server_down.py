"""Textbook 2: the server is down.

Nothing answers (the server host crashed: a black hole).  Linux >= 6.5 sends
the SYN at 0, 1, 2, 3, 4, 5, 7, 11, 19, 35, 67 s and connect fails with
ETIMEDOUT at 131 s; the legacy profile (Linux <= 6.4) at 0, 1, 3, 7, 15, 31,
63 s and 127 s.  With ``mode="reject"`` a router answers ICMP host
unreachable instead and connect fails at once with EHOSTUNREACH.

Run: ``python -m aiotcpsim scenario server_down``
"""

from __future__ import annotations

import errno
from types import SimpleNamespace

from ..config import TcpConfig
from .kit import PORT, SERVER_IP, App, Scenario, drive, pair


def scenario(tcp: TcpConfig | None = None, *, reject: bool = False) -> SimpleNamespace:
    net, client, server = pair(delay=0.01, tcp=tcp)
    if reject:
        net.faults.partition(client, server, mode="reject")
    else:
        net.faults.crash(server)
    app = App(net, client.connect(SERVER_IP, PORT))
    drive(net, [app], stop=lambda: app.error is not None)
    return SimpleNamespace(net=net, client=app)


def _failed(run: SimpleNamespace) -> str:
    err = run.client.error or 0
    return f"connect failed at {run.client.error_at} s: {errno.errorcode.get(err, err)}"


SCENARIOS = [
    Scenario("server_down", "server down, Linux >= 6.5", scenario, _failed),
    Scenario(
        "server_down_legacy",
        "server down, legacy Linux",
        lambda: scenario(TcpConfig.legacy_linux()),
        _failed,
    ),
    Scenario(
        "server_down_reject",
        "partition with reject (ICMP host unreachable)",
        lambda: scenario(reject=True),
        _failed,
    ),
]
