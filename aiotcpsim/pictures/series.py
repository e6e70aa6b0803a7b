"""The curves the trace gives, per connection, as (time, value) samples.

Rule owned here: **what each curve means**, for one connection seen as
``a -> b`` (the direction of its first segment) and ``b -> a``:

* *time-sequence graph* (tcptrace's, Wireshark's "Stevens" graph), one per
  direction: a point per segment occupying sequence space, at its send time
  and the relative sequence number of its end (retransmissions apart); the
  highest acknowledgment the sender has *received* (a step, at delivery
  time); and that acknowledgment plus the window the receiver advertised in
  the same segment (the most the sender may have sent);
* *bytes in flight* per direction: the highest sequence number sent minus
  the highest acknowledgment received, sampled at every send and every ACK
  arrival (the sender's view; SYN and FIN count one);
* *advertised receive window* per side: the ``window`` field of every
  segment it sent.

The trace records neither cwnd nor RTO; :mod:`aiotcpsim.pictures.report`
takes extra :class:`~aiotcpsim.pictures.plot.Series` for them.
Sequence numbers are relative to each side's ISN (:class:`.model.SequenceBase`).
"""

from __future__ import annotations

from collections.abc import Iterable

from ..segment import ACK, FIN, SYN, Segment
from .model import DELIVER, SEND, Connection4, Endpoint, SequenceBase, TraceRecord, owners
from .plot import Plot, Series

__all__ = ["connection_plots", "endpoint_name"]


def endpoint_name(endpoint: Endpoint, owner: dict[Endpoint, str]) -> str:
    """``host:port`` when the host is known, else ``ip:port``."""
    host = owner.get(endpoint)
    return f"{host}:{endpoint[1]}" if host else f"{endpoint[0]}:{endpoint[1]}"


class _Direction:
    """Samples of one direction, ``src -> dst``."""

    def __init__(self) -> None:
        self.sent: list[tuple[float, float]] = []
        self.resent: list[tuple[float, float]] = []
        self.acked: list[tuple[float, float]] = []
        self.limit: list[tuple[float, float]] = []
        self.flight: list[tuple[float, float]] = []
        self.window: list[tuple[float, float]] = []
        self.high = 0
        self.una = 0

    def on_send(self, t: float, rel: int, seg: Segment, n: int, retransmission: bool) -> None:
        """``seg``, which carried ``n`` payload bytes, was sent at ``t``."""
        length = n + (1 if seg.flags & SYN else 0) + (1 if seg.flags & FIN else 0)
        if length:
            (self.resent if retransmission else self.sent).append((t, float(rel + length)))
            self.high = max(self.high, rel + length)
            self.flight.append((t, float(max(0, self.high - self.una))))

    def on_ack(self, t: float, ack: int, window: int) -> None:
        self.una = max(self.una, ack)
        self.acked.append((t, float(self.una)))
        self.limit.append((t, float(self.una + window)))
        self.flight.append((t, float(max(0, self.high - self.una))))


def connection_plots(records: Iterable[TraceRecord], connection: Connection4) -> list[Plot]:
    """The plots of one connection over virtual time, from its trace records."""
    records = list(records)
    a, b = (connection[0], connection[1]), (connection[2], connection[3])
    owner = owners(records)
    name = {a: endpoint_name(a, owner), b: endpoint_name(b, owner)}
    dirs = {(a, b): _Direction(), (b, a): _Direction()}
    base = SequenceBase()
    for r in records:
        seg = r.segment
        if seg is None or r.kind not in (SEND, DELIVER):
            continue
        key = ((seg.src_ip, seg.src_port), (seg.dst_ip, seg.dst_port))
        if key not in dirs:
            continue
        if r.kind == SEND:
            base.learn(seg)
            dirs[key].on_send(r.time, base.seq(seg), seg, r.payload_len, "retransmission" in r.text)
            dirs[key].window.append((r.time, float(seg.window)))
        elif seg.flags & ACK:  # an ACK reaching the sender of the other direction
            base.learn(seg)
            dirs[(key[1], key[0])].on_ack(r.time, base.ack(seg), seg.window)
    plots = [_time_sequence(dirs[(x, y)], name[x], name[y]) for x, y in ((a, b), (b, a))]
    plots.append(Plot("Bytes in flight (highest sent - highest ACK received)", "bytes", [
        Series(f"{name[a]} -> {name[b]}", dirs[(a, b)].flight),
        Series(f"{name[b]} -> {name[a]}", dirs[(b, a)].flight),
    ]))  # fmt: skip
    plots.append(Plot("Advertised receive window", "bytes", [
        Series(f"advertised by {name[b]}", dirs[(b, a)].window),
        Series(f"advertised by {name[a]}", dirs[(a, b)].window),
    ]))  # fmt: skip
    return plots


def _time_sequence(d: _Direction, src: str, dst: str) -> Plot:
    # A large window would squash the segments into the bottom line: clip it.
    seen = max([v for _, v in (*d.sent, *d.resent, *d.acked)] or [1.0])
    clip = 1.25 * seen if any(v > 2 * seen for _, v in d.limit) else None
    return Plot(f"Time-sequence graph, {src} -> {dst}", "relative sequence number", [
        Series("sent", d.sent, "points", "#111111"),
        Series("retransmitted", d.resent, "points", "#c00000"),
        Series("ACK received", d.acked, "step", "#2a8a3a"),
        Series("ACK + window" + (" (clipped)" if clip else ""), d.limit, "step", "#1f5fa8"),
    ], clip)  # fmt: skip
