"""Textbook 2: the server is down.

Nothing answers (the server host crashed: a black hole).  Linux >= 6.5 sends
the SYN at 0, 1, 2, 3, 4, 5, 7, 11, 19, 35, 67 s and connect fails with
ETIMEDOUT at 131 s; the legacy profile (Linux <= 6.4) at 0, 1, 3, 7, 15, 31,
63 s and 127 s.  With ``mode="reject"`` a router answers ICMP host
unreachable instead and connect fails at once with EHOSTUNREACH.

Run: ``python examples/server_down.py``
"""

from __future__ import annotations

import errno
from types import SimpleNamespace

from _sim import PORT, SERVER_IP, App, drive, pair, show

from aiotcpsim import TcpConfig


def scenario(tcp: TcpConfig | None = None, *, reject: bool = False) -> SimpleNamespace:
    net, client, server = pair(delay=0.01, tcp=tcp)
    if reject:
        net.faults.partition(client, server, mode="reject")
    else:
        net.faults.crash(server)
    app = App(net, client.connect(SERVER_IP, PORT))
    drive(net, [app], stop=lambda: app.error is not None)
    return SimpleNamespace(net=net, client=app)


def main() -> None:
    for title, run in (
        ("server down, Linux >= 6.5", scenario()),
        ("server down, legacy Linux", scenario(TcpConfig.legacy_linux())),
        ("partition with reject (ICMP host unreachable)", scenario(reject=True)),
    ):
        show(run.net, title)
        err = run.client.error
        print(f"connect failed at {run.client.error_at} s: {errno.errorcode.get(err or 0, err)}")
        print()


if __name__ == "__main__":
    main()
