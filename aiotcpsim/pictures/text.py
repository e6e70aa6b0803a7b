"""Text ladders for a terminal: one per connection, showing the rows that matter.

Rule owned here: **which rows of a long run a reader is shown**.  A failing
test's report cannot print ten thousand segments, and the last thirty rows
of an interleaved trace hide what went wrong.  So each connection (by
4-tuple, its two ends labelled ``host ip:port``) gets its own ladder, and
when it has more rows than the budget, the rows kept are, in this order:

1. the last third of the budget, as they come (where a test usually fails);
2. the rows that give the connection its shape: state changes, notes
   (challenge ACK, timer restart) and SYN, FIN or RST segments (when they
   do not all fit, the earliest quarter of the room and the most recent rest);
3. the rows that mark an event -- a segment lost, delayed, duplicated or
   retransmitted, a zero window --, each kind in turn, its first and last
   occurrence first; of a run of rows with the same mark (a burst of
   retransmissions, the losses of a partition) only the run's two ends;
4. with any budget left, the rows just before the last third.

Every run of rows left out is one ``... N rows not shown ...`` line.  When
there are more connections than shown, the most recently active ones are
shown and the others counted.  Marks on an arrow: ``X`` at its head when
the segment was lost (the reason follows), ``(rtx)`` a retransmission,
``+dup`` duplicated by the network, ``delayed +T s`` a copy that arrived
``T`` seconds later than usual on its link (see :func:`.model.one_way_delays`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

from ..segment import FIN, RST, SYN
from .model import (
    DROP,
    NOTE,
    SEND,
    STATE,
    Connection4,
    Endpoint,
    Flight,
    TraceRecord,
    connections,
    flights,
    one_way_delays,
    owners,
)

__all__ = ["CONNECTIONS", "LEGEND", "ROWS", "recent_connections", "records_of", "text_ladders"]

ROWS = 40
"""Rows per connection shown by default."""
CONNECTIONS = 6
"""Connections shown by default (the most recently active ones)."""
LEGEND = (
    "X: lost   (rtx): retransmission   +dup: duplicated   "
    "delayed +T s: arrived T s later than usual on its link"
)

_TIME = 11
_SIDE = 13


class _Row(NamedTuple):
    time: float
    left: str
    middle: str
    right: str
    mark: str
    """What the row marks: '' (an ordinary segment), 'state', 'note',
    'control' (SYN, FIN, RST), 'lost', 'delayed', 'duplicated',
    'retransmission' or 'zero window'."""


def text_ladders(
    records: Iterable[TraceRecord],
    *,
    rows: int | None = ROWS,
    connections_shown: int | None = CONNECTIONS,
) -> str:
    """One text ladder per connection of ``records`` (a trace's records,
    oldest first), each cut to ``rows`` rows as the module says (None: all),
    for at most ``connections_shown`` connections (None: all).  Without any
    connection, the last ``rows`` records as text."""
    records = list(records)
    if rows is not None and rows < 1:
        raise ValueError(f"rows must be >= 1 or None (all), got {rows!r}")
    if not records:
        return "no trace records"
    conns = connections(records)
    if not conns:
        shown = records if rows is None else records[-rows:]
        head = "all" if len(shown) == len(records) else f"last {len(shown)} of {len(records)}"
        return f"no connection; trace records ({head}):\n" + "\n".join(map(str, shown))
    grouped = _by_connection(records, conns)
    chosen = set(_recent(grouped, conns, connections_shown))
    everything, _ = flights(records)
    by_index = {f.index: f for f in everything}
    owner = owners(records)
    parts = [LEGEND]
    for number, conn in enumerate(conns, 1):
        if conn in chosen:
            title = f"connection {number} of {len(conns)}"
            mine = [by_index[i] for i in grouped[conn] if i in by_index]
            parts.append(_ladder(records, conn, grouped[conn], mine, owner, rows, title))
    hidden = [c for c in conns if c not in chosen]
    if hidden:
        parts.append(
            f"... and {len(hidden)} older connection(s) not shown: "
            + ", ".join(_pair_text(c) for c in hidden[:8])
            + (", ..." if len(hidden) > 8 else "")
        )
    return "\n\n".join(parts)


def recent_connections(records: Sequence[TraceRecord], limit: int | None) -> list[Connection4]:
    """The ``limit`` connections of ``records`` active most recently (None:
    all), in order of their first segment, as :func:`text_ladders` picks them."""
    conns = connections(records)
    return _recent(_by_connection(records, conns), conns, limit)


def records_of(records: Iterable[TraceRecord], chosen: Iterable[Connection4]) -> list[TraceRecord]:
    """The records of the ``chosen`` connections, and the notes that name no
    connection (faults, host events): a run cut down for a picture."""
    ends = {frozenset(((c[0], c[1]), (c[2], c[3]))) for c in chosen}
    out: list[TraceRecord] = []
    for r in records:
        if r.segment is not None:
            s = r.segment
            if frozenset(((s.src_ip, s.src_port), (s.dst_ip, s.dst_port))) in ends:
                out.append(r)
        elif r.endpoint is not None:
            e = r.endpoint
            if frozenset(((e[0], e[1]), (e[2], e[3]))) in ends:
                out.append(r)
        elif r.kind == NOTE:
            out.append(r)
    return out


def _recent(
    grouped: dict[Connection4, list[int]], conns: list[Connection4], limit: int | None
) -> list[Connection4]:
    if limit is None or len(conns) <= limit:
        return conns
    keep = set(sorted(conns, key=lambda c: grouped[c][-1])[-limit:])
    return [c for c in conns if c in keep]


def _by_connection(
    records: Sequence[TraceRecord], conns: list[Connection4]
) -> dict[Connection4, list[int]]:
    """The indices of the records of each connection, in one pass."""
    key = {frozenset(((c[0], c[1]), (c[2], c[3]))): c for c in conns}
    out: dict[Connection4, list[int]] = {c: [] for c in conns}
    for i, r in enumerate(records):
        if r.segment is not None:
            s = r.segment
            ends = frozenset(((s.src_ip, s.src_port), (s.dst_ip, s.dst_port)))
        elif r.endpoint is not None:
            e = r.endpoint
            ends = frozenset(((e[0], e[1]), (e[2], e[3])))
        else:
            continue
        conn = key.get(ends)
        if conn is not None:
            out[conn].append(i)
    return out


def _pair_text(conn: Connection4) -> str:
    return f"{conn[0]}:{conn[1]}<->{conn[2]}:{conn[3]}"


def _end_text(end: Endpoint, owner: dict[Endpoint, str]) -> str:
    host = owner.get(end)
    return f"{host} {end[0]}:{end[1]}" if host else f"{end[0]}:{end[1]}"


def _ladder(
    records: Sequence[TraceRecord],
    conn: Connection4,
    indices: list[int],
    mine: list[Flight],
    owner: dict[Endpoint, str],
    rows: int | None,
    title: str,
) -> str:
    left, right = (conn[0], conn[1]), (conn[2], conn[3])
    all_rows = _rows(records, indices, mine, left)
    keep = _choose(all_rows, rows)
    width = max([44, *(len(all_rows[i].middle) + 4 for i in keep)])
    shown = "all rows" if len(keep) == len(all_rows) else f"{len(keep)} of {len(all_rows)} rows"
    lname, rname = _end_text(left, owner), _end_text(right, owner)
    lw, rw = max(_SIDE, len(lname)), max(_SIDE, len(rname))
    out = [
        f"{title}: {lname} <-> {rname} ({shown})",
        f"{'time (s)':>{_TIME}}  {lname:<{lw}}{'':^{width}}{rname:>{rw}}",
    ]
    skipped = 0
    for i, row in enumerate(all_rows):
        if i not in keep:
            skipped += 1
            continue
        if skipped:
            out.append(_gap(skipped, lw, width))
            skipped = 0
        out.append(f"{row.time:{_TIME}.6f}  {row.left:<{lw}}{row.middle:^{width}}{row.right:>{rw}}")
    if skipped:
        out.append(_gap(skipped, lw, width))
    return "\n".join(line.rstrip() for line in out)


def _gap(skipped: int, side: int, width: int) -> str:
    text = f"... {skipped} row{'s' if skipped > 1 else ''} not shown ..."
    return f"{'':{_TIME}}  {'':<{side}}{text:^{width}}"


def _rows(
    records: Sequence[TraceRecord], indices: list[int], mine: list[Flight], left: Endpoint
) -> list[_Row]:
    """Every row of one connection: its state changes, segments and notes."""
    _, late = one_way_delays(records, mine)
    by_index = {f.index: f for f in mine}
    out: list[_Row] = []
    for i in indices:
        r = records[i]
        if r.kind == SEND and i in by_index:
            out.append(_arrow(by_index[i], late, by_index[i].src == left))
        elif r.kind == STATE and r.endpoint is not None:
            text = str(r.new)
            mine_side = (r.endpoint[0], r.endpoint[1]) == left
            here, there = (text, "") if mine_side else ("", text)
            out.append(_Row(r.time, here, "", there, "state"))
        elif r.kind == NOTE and r.text:
            out.append(_Row(r.time, "", f"({r.host}: {r.text})", "", "note"))
    return out


def _arrow(flight: Flight, late: dict[int, float], rightwards: bool) -> _Row:
    seg = flight.segment
    label = flight.label
    delays = [late[id(c)] for c in flight.copies if id(c) in late]
    if delays:
        label += f" delayed +{delays[0]:.3g} s"
    lost = next((c for c in flight.copies if c.end == DROP), None)
    if lost is not None and lost.why:
        label += f" lost: {lost.why}"
    line = f" {label} ".center(max(len(label) + 6, 40), "-")
    arrow = f"-{line}{'X' if lost else '>'}" if rightwards else f"{'X' if lost else '<'}{line}-"
    if seg.flags & (SYN | FIN | RST):
        mark = "control"
    elif lost is not None:
        mark = "lost"
    elif delays:
        mark = "delayed"
    elif flight.duplicated:
        mark = "duplicated"
    elif flight.retransmission:
        mark = "retransmission"
    elif seg.window == 0 and not seg.payload:
        mark = "zero window"
    else:
        mark = ""
    return _Row(flight.time, "", arrow, "", mark)


_STRUCTURE = ("state", "note", "control")


def _events(rows: list[_Row], end: int) -> list[int]:
    """The rows before ``end`` that mark an event other than the structure's;
    of a run of rows with the same mark (a burst of retransmissions, the
    losses of a partition), only the first and the last."""
    out = []
    for i in range(end):
        mark = rows[i].mark
        if not mark or mark in _STRUCTURE:
            continue
        before = rows[i - 1].mark if i > 0 else ""
        after = rows[i + 1].mark if i + 1 < len(rows) else ""
        if before != mark or after != mark:
            out.append(i)
    return out


def _ends_first(indices: list[int]) -> list[int]:
    """``indices`` reordered first, last, second, second to last, ..."""
    out = []
    lo, hi = 0, len(indices) - 1
    while lo <= hi:
        out.append(indices[lo])
        if hi != lo:
            out.append(indices[hi])
        lo, hi = lo + 1, hi - 1
    return out


def _choose(rows: list[_Row], budget: int | None) -> set[int]:
    """The indices of the rows shown (the module's rule)."""
    n = len(rows)
    if budget is None or n <= budget:
        return set(range(n))
    tail = max(1, budget // 3)
    keep = set(range(n - tail, n))
    structure = [i for i in range(n - tail) if rows[i].mark in _STRUCTURE]
    room = budget - len(keep)
    if len(structure) > room:
        head = room // 4
        structure = structure[:head] + structure[len(structure) - (room - head) :]
    keep.update(structure)
    # Every kind of event gets its turn, its first and last occurrence first.
    queues: dict[str, list[int]] = {}
    for i in _events(rows, n - tail):
        queues.setdefault(rows[i].mark, []).append(i)
    turns = [_ends_first(q) for q in queues.values()]
    while len(keep) < budget and any(turns):
        for turn in turns:
            if turn and len(keep) < budget:
                keep.add(turn.pop(0))
    i = n - tail - 1
    while len(keep) < budget and i >= 0:
        keep.add(i)
        i -= 1
    return keep
