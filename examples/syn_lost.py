"""Textbook 1: the SYN is lost.

The first three SYNs are dropped by a rule; the client retransmits on Linux's
(>= 6.5) schedule -- 1 s apart for the first retransmissions
(``tcp_syn_linear_timeouts``) -- and connects with the fourth, at 3 s + 1 RTT.

Run: ``python examples/syn_lost.py``
"""

from __future__ import annotations

from types import SimpleNamespace

from _sim import PORT, SERVER_IP, App, drive, pair, show


def scenario() -> SimpleNamespace:
    net, client, server = pair(delay=0.01)
    listener = server.listen(PORT)
    rule = net.faults.drop(flags="SYN", count=3)
    app = App(net, client.connect(SERVER_IP, PORT))
    peer = App(net, listener=listener)
    drive(net, [app, peer], stop=lambda: peer.conn is not None)
    return SimpleNamespace(net=net, client=app, server=peer, rule=rule)


def main() -> None:
    run = scenario()
    show(run.net, "the SYN is lost three times")
    print(f"client connected at {run.client.connected_at:.3f} s")


if __name__ == "__main__":
    main()
