"""What happened, when: the network's trace.

Rule owned here: what is remembered of a run, and how it reads.  Every
segment sent, dropped, duplicated and delivered, and every state change of
every connection, becomes one :class:`TraceRecord` stamped with virtual
time.  Records are cheap tuples appended to a ring; formatting happens only
when a trace is rendered (:meth:`Trace.ladder`), hashed (:meth:`Trace.digest`)
or exported (:meth:`Trace.to_pcap`).

The trace is bounded by default: it keeps the :data:`DEFAULT_LIMIT` most
recent records (a long run costs no more memory than a short one, and the
tail is what a failing test shows), and of each segment's payload at most
:data:`DEFAULT_SNAPLEN` bytes, as ``tcpdump -s`` does.  A longer payload is
kept as a copy of its head and the record says how long it was
(:attr:`TraceRecord.orig_len`): ladders, pictures and pcap files show the
lengths sent, and the trace does not keep the written data alive (a bulk
transfer over loopback would otherwise pin tens of megabytes of 64 KiB
segments).  ``Network(trace="full")`` or :meth:`Trace.keep_all` keep
everything; ``trace_limit=None`` every record, ``trace_snaplen=None`` every
payload byte.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, BinaryIO, Final, NamedTuple

from .addresses import endpoint as ip_port
from .segment import ACK, FIN, RST, SYN, Segment, flag_names

if TYPE_CHECKING:
    from .tcp import State

__all__ = ["DEFAULT_LIMIT", "DEFAULT_SNAPLEN", "Trace", "TraceRecord"]

DEFAULT_LIMIT = 10_000
"""Records a trace keeps by default (the most recent ones)."""
DEFAULT_SNAPLEN = 2048
"""Payload bytes a trace keeps of each segment by default: a LAN segment
(MSS 1460) whole, the head of a loopback one (MSS 65483)."""

SEND: Final = "send"
"""A segment left a host (``retransmission`` in ``text`` when it was one)."""
DROP: Final = "drop"
"""A segment was lost on its way (``text`` says why)."""
DUPLICATE: Final = "duplicate"
"""The network made an extra copy of a segment."""
DELIVER: Final = "deliver"
"""A segment reached its destination host."""
STATE: Final = "state"
"""A connection changed state."""
NOTE: Final = "note"
"""Anything else worth knowing: a challenge ACK, a timer restart, a fault."""


_FIELDS: Final = 9
"""Fields of a :class:`TraceRecord`."""


class TraceRecord(NamedTuple):
    """One line of the trace."""

    time: float
    """Virtual time in seconds."""
    kind: str
    """``"send"``, ``"drop"``, ``"duplicate"``, ``"deliver"``, ``"state"`` or ``"note"``."""
    host: str
    """The name of the host concerned: the sender of a segment sent, the
    receiver of one delivered, the end where a dropped one was lost."""
    segment: Segment | None = None
    """The segment, for every kind but ``state`` and ``note``."""
    endpoint: tuple[str, int, str, int] | None = None
    """(local ip, local port, remote ip, remote port) of the connection concerned."""
    old: State | None = None
    """The state left (``state`` records)."""
    new: State | None = None
    """The state entered (``state`` records)."""
    text: str = ""
    """Why a segment was dropped, or a note's text."""
    orig_len: int | None = None
    """The payload length on the wire when ``segment.payload`` holds only its
    first bytes (the trace's snap length cut it); None when it is whole."""

    @property
    def payload_len(self) -> int:
        """Payload bytes the segment carried on the wire (0 without a segment)."""
        if self.orig_len is not None:
            return self.orig_len
        return 0 if self.segment is None else len(self.segment.payload)

    def __str__(self) -> str:
        head = f"{self.time:12.6f} {self.host:>10} {self.kind:<9}"
        if self.kind == STATE:
            return f"{head} {_endpoint_text(self.endpoint)} {self.old} -> {self.new}"
        if self.segment is not None:
            tail = f" ({self.text})" if self.text else ""
            return f"{head} {self.segment.describe(self.orig_len)}{tail}"
        return f"{head} {_endpoint_text(self.endpoint)} {self.text}".rstrip()


def _endpoint_text(endpoint: tuple[str, int, str, int] | None) -> str:
    if endpoint is None:
        return "-"
    lip, lport, rip, rport = endpoint
    return f"{ip_port(lip, lport)}<->{ip_port(rip, rport)}"


class Trace:
    """The ordered records of one network: the most recent ``limit`` of them,
    with at most ``snaplen`` payload bytes of each segment.

    ``Trace(enabled=False)`` records nothing (for benchmarks);
    ``Trace(limit=None)`` keeps every record, ``Trace(snaplen=None)`` every
    payload byte.
    """

    def __init__(
        self,
        *,
        enabled: bool = True,
        limit: int | None = DEFAULT_LIMIT,
        snaplen: int | None = DEFAULT_SNAPLEN,
    ) -> None:
        if limit is not None and (not isinstance(limit, int) or limit < 1):
            raise ValueError(f"trace limit must be an int >= 1 or None (keep all), got {limit!r}")
        if snaplen is not None and (not isinstance(snaplen, int) or snaplen < 0):
            raise ValueError(
                f"trace snap length must be an int >= 0 or None (keep all), got {snaplen!r}"
            )
        self.enabled = enabled
        """False: nothing is recorded (``Network(trace=False)``)."""
        self.snaplen: int | None = snaplen
        """Payload bytes kept of each segment (its head); None: all of them."""
        self._limit = limit
        # The fields of the records in one flat list, _FIELDS a record in
        # TraceRecord's order, a ring once ``limit`` records are kept (the
        # oldest at record index _head).  Recording builds no object, so a
        # long trace holds no object per record that the garbage collector
        # walks (it did, a tuple per record: a tenth of a connection's cost);
        # TraceRecords are made when the trace is read.
        self._fields: list[Any] = []
        self._head = 0
        # The last segment cut and its cut copy: the records of one segment
        # sent and dropped or duplicated at once share one copy, as the
        # ladder matches them by identity.
        self._cut_from: Segment | None = None
        self._cut: Segment | None = None

    @property
    def limit(self) -> int | None:
        """How many records are kept (the most recent); None: all."""
        return self._limit

    def keep_all(self) -> None:
        """Keep every record and every payload byte from now on (what was
        already dropped or cut stays so)."""
        self._fields = self._in_order()
        self._head = 0
        self._limit = None
        self.snaplen = None
        self._cut_from = self._cut = None

    def append(self, record: TraceRecord) -> None:
        """Add ``record`` (when the trace is enabled), as :meth:`record` would."""
        if not self.enabled:
            return
        if record.orig_len is not None:  # already cut (by another trace)
            self._store(tuple(record))
            return
        r = record
        self.record(r.time, r.kind, r.host, r.segment, r.endpoint, r.old, r.new, r.text)

    def record(
        self,
        time: float,
        kind: str,
        host: str,
        segment: Segment | None = None,
        endpoint: tuple[str, int, str, int] | None = None,
        old: State | None = None,
        new: State | None = None,
        text: str = "",
    ) -> None:
        """Add a record from its fields (when the trace is enabled): what the
        network and the hosts call on every segment, so it stores a plain tuple.
        A payload longer than the snap length is kept as a copy of its head."""
        if not self.enabled:
            return
        orig_len = None
        if segment is not None and self.snaplen is not None:
            n = len(segment.payload)
            if n > self.snaplen:
                orig_len = n
                segment = self._cut_copy(segment, self.snaplen)
        self._store((time, kind, host, segment, endpoint, old, new, text, orig_len))

    def _store(self, fields: tuple[Any, ...]) -> None:
        """Keep one record's fields, in place of the oldest when the ring is full."""
        limit = self._limit
        if limit is None or len(self._fields) < limit * _FIELDS:
            self._fields.extend(fields)
            return
        at = self._head * _FIELDS
        ring = self._fields
        for i in range(_FIELDS):  # (a slice assignment costs twice as much)
            ring[at + i] = fields[i]
        self._head = (self._head + 1) % limit

    def _in_order(self) -> list[Any]:
        """The fields of the records kept, oldest first."""
        at = self._head * _FIELDS
        return self._fields[at:] + self._fields[:at]

    def _cut_copy(self, segment: Segment, snaplen: int) -> Segment:
        """``segment`` with a copy of the first ``snaplen`` bytes of its payload."""
        if segment is not self._cut_from or self._cut is None:
            self._cut = segment._replace(payload=bytes(segment.payload[:snaplen]))
            self._cut_from = segment
        return self._cut

    @property
    def records(self) -> list[TraceRecord]:
        """The records kept, oldest first (a copy)."""
        make = TraceRecord._make
        fields = self._in_order()
        return [make(fields[i : i + _FIELDS]) for i in range(0, len(fields), _FIELDS)]

    def __iter__(self) -> Iterator[TraceRecord]:
        return iter(self.records)

    def __len__(self) -> int:
        return len(self._fields) // _FIELDS

    def clear(self) -> None:
        self._fields.clear()
        self._head = 0

    def segments(self, kind: str = SEND) -> list[Segment]:
        """The segments of every record of ``kind`` (default: sent), in order."""
        return [r.segment for r in self.records if r.kind == kind and r.segment is not None]

    def states(self, host: str | None = None) -> list[tuple[float, str, State | None]]:
        """``(time, host, new state)`` of every state change, optionally of one host."""
        return [
            (r.time, r.host, r.new)
            for r in self.records
            if r.kind == STATE and (host is None or r.host == host)
        ]

    def digest(self) -> str:
        """A SHA-256 over the records kept, payload bytes included (those kept:
        a run traced with another snap length has another digest); equal for
        equal runs (the same seed and calls)."""
        h = hashlib.sha256()
        for record in self.records:
            h.update(str(record).encode())
            if record.segment is not None:
                h.update(bytes(record.segment.payload))
            h.update(b"\n")
        return h.hexdigest()

    def to_pcap(self, file: str | os.PathLike[str] | BinaryIO, *, kind: str = SEND) -> None:
        """Write the segments of ``kind`` (default: as sent) as a pcap file for
        Wireshark/tshark, stamped with virtual time."""
        from .pcap import write_pcap

        write_pcap([r for r in self.records if r.kind == kind and r.segment], file)

    def to_svg(self, path: str | os.PathLike[str], **options: Any) -> None:
        """Write an SVG ladder diagram of the records kept to ``path``; the
        options are those of :func:`aiotcpsim.pictures.ladder_svg`."""
        from .pictures import write_svg

        write_svg(path, self, **options)

    def to_html(self, path: str | os.PathLike[str], *, title: str = "aiotcpsim run") -> None:
        """Write a self-contained HTML report (ladder, counts, per-connection
        plots) of the records kept to ``path``."""
        from .pictures import write_html

        write_html(path, self, title=title)

    def ladder(
        self,
        *,
        left: str | None = None,
        right: str | None = None,
        last: int | None = None,
        width: int = 44,
    ) -> str:
        """A text ladder diagram, like the figures of a TCP textbook.

        One row per segment (arrow from sender to receiver, ending in ``X``
        when it was lost, ``+dup`` when the network duplicated it) and per
        state change.
        Sequence numbers are shown relative to each side's ISN (tcpdump's
        default; ``tcpdump -S`` shows them absolute).  ``left``/``right`` name
        the hosts of the two columns (default: the first two hosts seen);
        ``last`` keeps only the last rows.
        """
        return _render_ladder(self.records, left, right, last, width)

    def __repr__(self) -> str:
        limit = "" if self.limit is None else f" (limit {self.limit})"
        return f"<Trace {len(self)} records{limit}>"


def _render_ladder(
    records: Iterable[TraceRecord],
    left: str | None,
    right: str | None,
    last: int | None,
    width: int,
) -> str:
    records = list(records)
    hosts: list[str] = []
    for r in records:
        if r.kind in (SEND, STATE) and r.host not in hosts:
            hosts.append(r.host)
    if left is None and right is None and len(hosts) == 1:
        loopback = _loopback_sides(records, hosts[0])
        if loopback is not None:
            return _render_ladder(loopback[0], loopback[1], loopback[2], last, width)
    if left is None:
        left = hosts[0] if hosts else "A"
    if right is None:
        right = next((h for h in hosts if h != left), left)
    isn: dict[tuple[str, int, str, int], int] = {}
    states: dict[str, str] = {left: "", right: ""}
    # Index which sent segments were lost or duplicated, by identity.
    fate: dict[int, list[str]] = {}
    for r in records:
        if r.segment is not None and r.kind in (DROP, DUPLICATE):
            fate.setdefault(id(r.segment), []).append(r.kind)
    col = 14
    rows: list[str] = []
    header = f"{'time (s)':>11}  {left:<{col}}{'':^{width}}{right:>{col}}"
    for r in records:
        if r.kind == STATE and r.host in states:
            states[r.host] = str(r.new)
            ls = states[left] if r.host == left else ""
            rs = states[right] if r.host == right else ""
            rows.append(f"{r.time:11.6f}  {ls:<{col}}{'':^{width}}{rs:>{col}}")
        elif r.kind == SEND and r.segment is not None and r.host in states:
            arrow = _arrow(r, r.segment, isn, fate, r.host == left, width)
            rows.append(f"{r.time:11.6f}  {'':<{col}}{arrow:^{width}}{'':>{col}}")
        elif r.kind == NOTE and r.host in states and r.text:
            rows.append(
                f"{r.time:11.6f}  {'':<{col}}{('(' + r.host + ': ' + r.text + ')'):^{width}}"
            )
    if last is not None:
        rows = rows[-last:]
    return "\n".join([header, *rows])


def _arrow(
    r: TraceRecord,
    seg: Segment,
    isn: dict[tuple[str, int, str, int], int],
    fate: dict[int, list[str]],
    rightwards: bool,
    width: int,
) -> str:
    """The arrow of one sent segment: its label, ``X`` at the head when lost."""
    label = _relative_label(seg, r.payload_len, isn)
    if "retransmission" in r.text:
        label += " (rtx)"
    marks = fate.get(id(seg), [])
    lost = DROP in marks
    if DUPLICATE in marks:
        label += " +dup"
    line = f" {label} ".center(width - 2, "-")
    if rightwards:
        arrow = f"-{line}{'X' if lost else '>'}"
    else:
        arrow = f"{'X' if lost else '<'}{line}-"
    if len(arrow) > width:
        arrow = arrow[: width - 1] + arrow[-1]
    return arrow


def _loopback_sides(
    records: list[TraceRecord], host: str
) -> tuple[list[TraceRecord], str, str] | None:
    """Both ends on one host (loopback): name the columns by endpoint instead,
    ``host:port``, following the first connection's two ends."""
    first = next((r.segment for r in records if r.kind == SEND and r.segment), None)
    if first is None:
        return None
    left = f"{host}:{first.src_port}"
    right = f"{host}:{first.dst_port}"
    if left == right:
        return None  # a self-connect has a single end
    ends = {(first.src_ip, first.src_port): left, (first.dst_ip, first.dst_port): right}
    out: list[TraceRecord] = []
    for r in records:
        if r.kind == SEND and r.segment is not None:
            side = ends.get((r.segment.src_ip, r.segment.src_port))
        elif r.endpoint is not None:
            side = ends.get((r.endpoint[0], r.endpoint[1]))
        else:
            side = None
        if side is not None:
            out.append(r._replace(host=side))
        elif r.kind in (DROP, DUPLICATE):
            out.append(r)
    return out, left, right


def _relative_label(seg: Segment, n: int, isn: dict[tuple[str, int, str, int], int]) -> str:
    """The label of ``seg``, which carried ``n`` payload bytes."""
    key = (seg.src_ip, seg.src_port, seg.dst_ip, seg.dst_port)
    back = (seg.dst_ip, seg.dst_port, seg.src_ip, seg.src_port)
    if seg.flags & SYN:
        isn[key] = seg.seq
    elif key not in isn:
        # The handshake is not in this trace (cleared, or cut by ``last``): count
        # from the first segment seen, as if its sequence space began just
        # before, so numbers read as they would after a handshake.
        isn[key] = (seg.seq - 1) & 0xFFFFFFFF
        if seg.flags & ACK and back not in isn:
            isn[back] = (seg.ack - 1) & 0xFFFFFFFF
    base = isn[key]
    rel = (seg.seq - base) & 0xFFFFFFFF
    text = f"{flag_names(seg.flags)} {rel}"
    if n:
        text += f":{(rel + n) & 0xFFFFFFFF}({n})"
    if seg.flags & ACK:
        peer = isn.get(back)
        ack = seg.ack if peer is None else (seg.ack - peer) & 0xFFFFFFFF
        text += f" ack {ack}"
    if not seg.flags & (SYN | FIN | RST) and not n:
        text += f" win {seg.window}"
    return text
