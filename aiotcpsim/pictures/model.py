"""Reading the trace for pictures: which segment went where, and what became of it.

Rule owned here: **a sent segment's fate**.  Every SEND record becomes one
:class:`Flight`; it has ``1 + (DUPLICATE records)`` copies, and each copy ends,
in record order, at the next DELIVER or DROP of the same segment.  Records are
matched by identity (the trace keeps every segment alive, so ``id()`` is
unique); a segment a link rewrote on its way (MSS clamping) is matched by its
4-tuple, sequence number, flags and length instead.  A copy that meets neither
is still in flight when the trace ends.

Also owned here: **segment labels**, with sequence numbers relative to each
side's ISN, written exactly as :meth:`aiotcpsim.trace.Trace.ladder` writes
them (``SYN|ACK 0 ack 1``, ``ACK 1:101(100) ack 1``, `` (rtx)``, `` +dup``),
so a picture and the text ladder of one run can be compared word for word.

Only the public trace API is read: :class:`~aiotcpsim.trace.TraceRecord`
fields and :class:`~aiotcpsim.segment.Segment` fields.  This is the only
module of the package that imports the trace's vocabulary (the record kinds
and :class:`TraceRecord`); the others take it from here, so a move of the
trace module is a one-line change.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence

from ..segment import ACK, FIN, RST, SYN, Segment, flag_names
from ..trace import DELIVER, DROP, DUPLICATE, NOTE, SEND, STATE, TraceRecord

__all__ = [
    "DELIVER",
    "DROP",
    "DUPLICATE",
    "NOTE",
    "SEND",
    "STATE",
    "Connection4",
    "Copy",
    "Endpoint",
    "Flight",
    "SequenceBase",
    "connections",
    "flights",
    "one_way_delays",
    "owners",
    "segment_label",
    "selects",
    "TraceRecord",
]

Endpoint = tuple[str, int]
"""``(ip, port)`` of one end of a connection."""
Connection4 = tuple[str, int, str, int]
"""``(ip, port, ip, port)``: a connection, in either direction."""

_MASK = 0xFFFFFFFF


class Copy:
    """One copy of a sent segment on the wire and where it ended."""

    __slots__ = ("duplicate", "end", "end_index", "why")

    def __init__(self, duplicate: bool) -> None:
        self.duplicate = duplicate
        self.end: str | None = None
        """DELIVER, DROP, or None while still in flight when the trace ends."""
        self.end_index = -1
        """Index in the records of the DELIVER or DROP record (-1: none)."""
        self.why = ""
        """The DROP record's reason."""


class Flight:
    """A SEND record, its label and the fate of each of its copies."""

    __slots__ = ("copies", "index", "label", "record", "retransmission", "segment")

    def __init__(self, index: int, record: TraceRecord, segment: Segment, label: str) -> None:
        self.index = index
        self.record = record
        self.segment = segment
        self.label = label
        self.retransmission = "retransmission" in record.text
        self.copies = [Copy(False)]

    @property
    def time(self) -> float:
        return self.record.time

    @property
    def src(self) -> Endpoint:
        return (self.segment.src_ip, self.segment.src_port)

    @property
    def dst(self) -> Endpoint:
        return (self.segment.dst_ip, self.segment.dst_port)

    @property
    def duplicated(self) -> bool:
        return len(self.copies) > 1

    @property
    def lost(self) -> bool:
        return any(c.end == DROP for c in self.copies)


class SequenceBase:
    """Each direction's initial sequence number, learnt in record order as the
    text ladder learns it: from the SYN, or, when the handshake is not in the
    trace, as if the first segment seen came right after it."""

    def __init__(self) -> None:
        self.isn: dict[Connection4, int] = {}

    def learn(self, seg: Segment) -> None:
        key = (seg.src_ip, seg.src_port, seg.dst_ip, seg.dst_port)
        if seg.flags & SYN:
            self.isn[key] = seg.seq
        elif key not in self.isn:
            self.isn[key] = (seg.seq - 1) & _MASK
            back = (seg.dst_ip, seg.dst_port, seg.src_ip, seg.src_port)
            if seg.flags & ACK and back not in self.isn:
                self.isn[back] = (seg.ack - 1) & _MASK

    def seq(self, seg: Segment) -> int:
        """The segment's sequence number relative to its sender's ISN."""
        key = (seg.src_ip, seg.src_port, seg.dst_ip, seg.dst_port)
        return (seg.seq - self.isn.get(key, seg.seq)) & _MASK

    def ack(self, seg: Segment) -> int:
        """The segment's acknowledgment number relative to the peer's ISN
        (absolute when the peer's ISN is unknown)."""
        back = (seg.dst_ip, seg.dst_port, seg.src_ip, seg.src_port)
        peer = self.isn.get(back)
        return seg.ack if peer is None else (seg.ack - peer) & _MASK


def segment_label(seg: Segment, base: SequenceBase, length: int | None = None) -> str:
    """``FLAGS seq[:end(len)] [ack N] [win W]``, as the text ladder writes it
    (``base`` must already have learnt ``seg``); ``length`` is the payload
    length on the wire when the trace kept only its head (``record.payload_len``)."""
    rel = base.seq(seg)
    text = f"{flag_names(seg.flags)} {rel}"
    n = len(seg.payload) if length is None else length
    if n:
        text += f":{(rel + n) & _MASK}({n})"
    if seg.flags & ACK:
        text += f" ack {base.ack(seg)}"
    if not seg.flags & (SYN | FIN | RST) and not n:
        text += f" win {seg.window}"
    return text


def _loose_key(r: TraceRecord, seg: Segment) -> tuple[str, int, str, int, int, int, int]:
    return (
        seg.src_ip,
        seg.src_port,
        seg.dst_ip,
        seg.dst_port,
        seg.seq,
        seg.flags,
        r.payload_len,
    )


def flights(records: Sequence[TraceRecord]) -> tuple[list[Flight], dict[int, Flight]]:
    """Every SEND of ``records`` as a :class:`Flight` with its copies' fates,
    in send order, and the flight each DELIVER/DROP record index ended."""
    base = SequenceBase()
    out: list[Flight] = []
    by_id: dict[int, list[Flight]] = {}
    by_key: dict[tuple[str, int, str, int, int, int, int], list[Flight]] = {}
    ended: dict[int, Flight] = {}
    for i, r in enumerate(records):
        seg = r.segment
        if seg is None:
            continue
        if r.kind == SEND:
            base.learn(seg)
            flight = Flight(i, r, seg, segment_label(seg, base, r.payload_len))
            out.append(flight)
            by_id.setdefault(id(seg), []).append(flight)
            by_key.setdefault(_loose_key(r, seg), []).append(flight)
        elif r.kind == DUPLICATE:
            known = by_id.get(id(seg)) or by_key.get(_loose_key(r, seg))
            if known:
                known[-1].copies.append(Copy(True))
        elif r.kind in (DELIVER, DROP):
            # By identity when the segment is known; by value only for a
            # segment a link rewrote or a trace cut again (never mixing the
            # two: a retransmission has the same value as the original).
            same = by_id.get(id(seg))
            ending = _open_flight(same if same is not None else by_key.get(_loose_key(r, seg)))
            if ending is None:
                continue
            copy = next(c for c in ending.copies if c.end is None)
            copy.end, copy.end_index = r.kind, i
            copy.why = r.text if r.kind == DROP else ""
            ended[i] = ending
    for flight in out:
        if flight.retransmission:
            flight.label += " (rtx)"
        if flight.duplicated:
            flight.label += " +dup"
    return out, ended


def one_way_delays(
    records: Sequence[TraceRecord], sent: Iterable[Flight]
) -> tuple[list[float], dict[int, float]]:
    """The one-way delay of every delivered copy of ``sent``, and the copies
    that came late: ``id(copy)`` -> seconds later than usual on their link.

    A copy is late (a delay fault, a held segment, a slow queue) when it took
    more than twice the median delay of its link (sender to receiver, among
    ``sent``) and at least a microsecond more."""
    by_link: dict[tuple[Endpoint, Endpoint], list[tuple[Copy, float]]] = {}
    for f in sent:
        for c in f.copies:
            if c.end == DELIVER:
                delay = records[c.end_index].time - f.time
                by_link.setdefault((f.src, f.dst), []).append((c, delay))
    delays: list[float] = []
    late: dict[int, float] = {}
    for pairs in by_link.values():
        usual = statistics.median(d for _, d in pairs)
        for c, d in pairs:
            if d > 2 * usual and d - usual > 1e-6:
                late[id(c)] = d - usual
        delays.extend(d for _, d in pairs)
    return delays, late


def _open_flight(candidates: list[Flight] | None) -> Flight | None:
    """The earliest of ``candidates`` with a copy still on the wire."""
    for flight in candidates or ():
        if any(c.end is None for c in flight.copies):
            return flight
    return None


def selects(connection: Connection4 | None, r: TraceRecord) -> bool:
    """True when record ``r`` concerns ``connection`` (either direction); every
    record is selected when ``connection`` is None.  Records that name no
    connection (host-wide notes) are not selected by a connection."""
    if connection is None:
        return True
    a, b = (connection[0], connection[1]), (connection[2], connection[3])
    if r.segment is not None:
        src = (r.segment.src_ip, r.segment.src_port)
        dst = (r.segment.dst_ip, r.segment.dst_port)
        return (src, dst) in ((a, b), (b, a))
    if r.endpoint is not None:
        here = (r.endpoint[0], r.endpoint[1])
        there = (r.endpoint[2], r.endpoint[3])
        return (here, there) in ((a, b), (b, a))
    return False


def connections(records: Iterable[TraceRecord]) -> list[Connection4]:
    """The connections of the trace, in order of their first sent segment,
    each oriented as that segment went (the client first, for a handshake)."""
    seen: set[frozenset[Endpoint]] = set()
    out: list[Connection4] = []
    for r in records:
        seg = r.segment
        if r.kind != SEND or seg is None:
            continue
        ends = frozenset(((seg.src_ip, seg.src_port), (seg.dst_ip, seg.dst_port)))
        if ends not in seen:
            seen.add(ends)
            out.append((seg.src_ip, seg.src_port, seg.dst_ip, seg.dst_port))
    return out


def owners(records: Iterable[TraceRecord]) -> dict[Endpoint, str]:
    """Which host each endpoint belongs to: the host a STATE record names for
    its local end, the host a segment was delivered to, the host that sent it
    (injected segments, whose sender may be a fault, come last)."""
    strong: dict[Endpoint, str] = {}
    weak: dict[Endpoint, str] = {}
    for r in records:
        if r.kind == STATE and r.endpoint is not None:
            strong.setdefault((r.endpoint[0], r.endpoint[1]), r.host)
        elif r.kind == NOTE and r.endpoint is not None:
            weak.setdefault((r.endpoint[0], r.endpoint[1]), r.host)
        elif r.segment is not None and r.kind == DELIVER:
            strong.setdefault((r.segment.dst_ip, r.segment.dst_port), r.host)
        elif r.segment is not None and r.kind == SEND:
            src = (r.segment.src_ip, r.segment.src_port)
            if r.text in ("", "retransmission"):
                strong.setdefault(src, r.host)
            else:
                weak.setdefault(src, r.host)
    return {**weak, **strong}
