"""Raw segments between two hosts, for link tests that need no TCB.

A segment with RST draws no answer from a host that has no socket for it,
so the network's behaviour can be observed alone.
"""

from __future__ import annotations

from typing import Any

from aiotcpsim.net import Network
from aiotcpsim.segment import RST, Segment
from aiotcpsim.stack.host import Host
from aiotcpsim.trace import DELIVER, DROP


def two_hosts(seed: int = 1, **impairments: Any) -> tuple[Network, Host, Host]:
    net = Network(seed=seed, trace="full", **impairments)
    a = net.add_host("a", "10.0.0.1")
    b = net.add_host("b", "10.0.0.2")
    return net, a, b


def raw(i: int, n: int = 0, flags: int = RST, *, reverse: bool = False) -> Segment:
    ends = ("10.0.0.1", 1000, "10.0.0.2", 2000)
    if reverse:
        ends = ("10.0.0.2", 2000, "10.0.0.1", 1000)
    return Segment(*ends, i, 0, flags, 0, b"x" * n)


def send(net: Network, host: Host, seg: Segment) -> None:
    net.transmit(host, seg)


def delivered(net: Network, host: str = "b") -> list[tuple[float, int]]:
    """(time, seq) of every segment delivered to ``host``."""
    return [
        (round(r.time, 9), r.segment.seq)
        for r in net.trace
        if r.kind == DELIVER and r.host == host and r.segment is not None
    ]


def dropped(net: Network) -> list[tuple[float, int, str]]:
    return [
        (round(r.time, 9), r.segment.seq, r.text)
        for r in net.trace
        if r.kind == DROP and r.segment is not None
    ]
