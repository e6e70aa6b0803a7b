"""Ladder diagrams in SVG, drawn like a TCP textbook's figures.

Columns are endpoints: a host's name when it has one end in the picture,
``host:port`` when it has several (several connections, loopback).  Each
segment is an arrow slanted from its send time to its arrival; a lost copy
ends mid-way in an X, a duplicate is a second, dotted arrow, a retransmission
is dashed and labelled ``(rtx)``, a copy that arrived much later than the
others on its link is drawn in orange and labelled ``delayed``.  State names
are written beside their column where they change; notes (challenge ACKs,
faults) in small italics across the middle.

Rule owned here: **the vertical time scale**.  Time flows down to scale
(``scale`` pixels per virtual second, by default 48 px per typical one-way
delay): the step from one row to the next is its time at scale, except that

* every row that carries text sits at least :data:`ROW` pixels below the
  row before it, and every other row :data:`TIGHT` pixels, so labels never
  overlap (all text of a row is written in the band just above its line);
* a quiet time taller than :data:`MAX_GAP` pixels (a retransmission timeout,
  a 60 s TIME-WAIT) is cut to :data:`BREAK` pixels and marked with a break
  sign and the time skipped.

Segments are matched with their fates by :mod:`aiotcpsim.pictures.model`.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Iterable, Sequence

from ..addresses import endpoint
from .model import (
    DELIVER,
    DROP,
    NOTE,
    SEND,
    STATE,
    Connection4,
    Copy,
    Endpoint,
    Flight,
    TraceRecord,
    flights,
    one_way_delays,
    owners,
    selects,
)
from .svg import MONO, Canvas, text_width

__all__ = ["BREAK", "MAX_GAP", "ROW", "TIGHT", "ladder_svg"]

ROW = 17.0
"""Least distance in pixels between a row that carries text and the row before."""
TIGHT = 6.0
"""Least distance in pixels before a row without text (an arrival, a late drop)."""
SLANT = 48.0
"""Height in pixels of the typical one-way delay at the default scale."""
MAX_GAP = 240.0
"""A quiet time that would be taller than this is cut."""
BREAK = 36.0
"""Height in pixels of a cut quiet time."""
SIZE = 11.0
"""Font size of labels, in pixels."""
SMALL = 10.0

_INK = "#111111"
_LOST = "#c00000"
_DUP = "#1f5fa8"
_LATE = "#b85c00"
_GRID = "#9a9a9a"
_HEADER = 46.0
_PAD = 10.0
"""Distance from the sender's lifeline to the start of an arrow's label."""
_AXIS = 76.0
"""x of the time axis."""


class TimeScale:
    """Virtual time to y, row after row (the rule of this module).

    Each step down is the time since the row above at scale, or the least
    distance a row needs, whichever is more: a time between two rows is never
    drawn shorter than it is, so no arrow looks faster than its delay.
    """

    def __init__(self, scale: float, top: float) -> None:
        self.scale = scale
        self.last_t: float | None = None
        self.last_y = top
        self.breaks: list[tuple[float, float, float]] = []
        """``(y above, y below, seconds skipped)`` of every cut."""

    def place(self, t: float, gap: float) -> float:
        """The y of the next row, at time ``t``, at least ``gap`` below the last."""
        if self.last_t is None:
            self.last_t = t
            return self.last_y
        step = (t - self.last_t) * self.scale
        if step > MAX_GAP:
            y = self.last_y + BREAK + gap
            self.breaks.append((self.last_y, y, t - self.last_t))
        else:
            y = self.last_y + max(gap, step)
        self.last_t, self.last_y = t, y
        return y


class Column:
    """One lifeline: an endpoint, its host and its heading."""

    __slots__ = ("endpoint", "host", "label", "sub", "x")

    def __init__(self, endpoint: Endpoint, host: str | None) -> None:
        self.endpoint = endpoint
        self.host = host
        self.label = ""
        self.sub = ""
        self.x = 0.0


class _Picture:
    """What is drawn: the chosen records, flights and columns."""

    def __init__(self, records: list[TraceRecord], chosen: list[int]) -> None:
        self.records = records
        self.chosen = chosen
        self.kept: set[int] = set()
        """The indices in ``chosen``."""
        self.flights: list[Flight] = []
        self.ended: dict[int, Flight] = {}
        self.columns: dict[Endpoint, Column] = {}
        self.delayed: dict[int, float] = {}
        """id(copy) -> how much later than usual it arrived."""
        self.rows: dict[int, float] = {}
        """The y of every record that gets a row, by record index."""
        self.slant = ROW
        """How far down a copy that never arrived is drawn."""
        self.boxes: list[tuple[float, float, float, float]] = []
        """(left, top, right, bottom) of every text written in the rows."""


def ladder_svg(
    records: Iterable[TraceRecord],
    *,
    connection: Connection4 | None = None,
    hosts: Sequence[str] | None = None,
    start: float | None = None,
    end: float | None = None,
    scale: float | None = None,
    title: str = "",
) -> str:
    """An SVG ladder diagram of ``records`` (a trace's records, oldest first).

    ``connection`` (``(ip, port, ip, port)``) keeps one connection, both
    directions; ``hosts`` keeps the hosts named and puts their columns in
    that order; ``start``/``end`` keep a time window (sequence numbers stay
    relative to the whole trace's ISNs); ``scale`` is in pixels per virtual
    second.  The output depends only on the records: equal traces give equal
    bytes.
    """
    pic = _choose(list(records), connection, hosts, start, end)
    delays = _delays(pic)
    _place_columns(pic, hosts)
    typical = statistics.median(delays) if delays else _typical_step(pic)
    px = scale if scale is not None else SLANT / typical
    timescale = TimeScale(px, _HEADER + (28.0 if title else 0.0) + 26.0)
    pic.rows = rows = _rows(pic, timescale)
    pic.slant = min(max(typical * px, ROW), 4 * ROW)
    bottom = max([timescale.last_y, *(y + pic.slant for y in rows.values())]) + 24.0
    width = max(c.x for c in pic.columns.values()) + _right_margin(pic) if pic.columns else 320.0
    pic.boxes = _label_boxes(pic, width)
    canvas = Canvas(width, bottom, title=title or "ladder diagram")
    if title:
        canvas.text(width / 2, 22, title, font_size=14, text_anchor="middle", font_weight="bold")
    for layer in ("columns", "arrows", "labels", "marks"):
        canvas.use(layer)  # painted in this order: text hides the lines it crosses
    canvas.use("columns")
    _draw_columns(canvas, pic, bottom, 28.0 if title else 0.0)
    _draw_breaks(canvas, pic, timescale)
    _draw_axis(canvas, pic, rows)
    for flight in pic.flights:
        _draw_flight(canvas, pic, flight)
    _draw_states_and_notes(canvas, pic, rows, width)
    return canvas.finish()


def _box(
    x: float, baseline: float, text: str, size: float, anchor: str
) -> tuple[float, float, float, float]:
    """(left, top, right, bottom) of a text, with a margin of 2 px."""
    w = text_width(text, size)
    left = {"start": x, "end": x - w, "middle": x - w / 2}[anchor]
    return (left - 2, baseline - size + 1, left + w + 2, baseline + 3)


def _choose(
    records: list[TraceRecord],
    connection: Connection4 | None,
    hosts: Sequence[str] | None,
    start: float | None,
    end: float | None,
) -> _Picture:
    owner = owners(records)
    wanted = set(hosts) if hosts is not None else None

    def host_ok(*ends: Endpoint) -> bool:
        names = [owner.get(e) for e in ends]
        return wanted is None or all(n in wanted for n in names if n is not None)

    def keep(r: TraceRecord) -> bool:
        if (start is not None and r.time < start) or (end is not None and r.time > end):
            return False
        if r.kind == NOTE and r.endpoint is None:
            return connection is None and (wanted is None or r.host in wanted)
        if not selects(connection, r):
            return False
        if r.segment is not None:
            s = r.segment
            return host_ok((s.src_ip, s.src_port), (s.dst_ip, s.dst_port))
        return wanted is None or r.host in wanted

    chosen = [i for i, r in enumerate(records) if r.kind in (SEND, STATE, NOTE) and keep(r)]
    pic = _Picture(records, [])
    all_flights, ended = flights(records)
    kept = set(chosen)
    pic.flights = [f for f in all_flights if f.index in kept]
    sent = {id(f) for f in pic.flights}
    pic.ended = {i: f for i, f in ended.items() if id(f) in sent}
    pic.chosen = sorted(kept | {i for i in pic.ended if end is None or records[i].time <= end})
    pic.kept = set(pic.chosen)
    for i in pic.chosen:
        r = records[i]
        if r.kind == SEND and r.segment is not None:
            for e in (
                (r.segment.src_ip, r.segment.src_port),
                (r.segment.dst_ip, r.segment.dst_port),
            ):
                pic.columns.setdefault(e, Column(e, owner.get(e)))
        elif r.kind in (STATE, NOTE) and r.endpoint is not None:
            e = (r.endpoint[0], r.endpoint[1])
            pic.columns.setdefault(e, Column(e, owner.get(e) or r.host))
    return pic


def _place_columns(pic: _Picture, hosts: Sequence[str] | None) -> None:
    """Order the columns (by ``hosts``, else by first appearance), name them
    and space them so that the longest label fits between two of them."""
    order: list[str | None] = list(hosts) if hosts is not None else []
    for col in pic.columns.values():
        if col.host not in order:
            order.append(col.host)
    cols = sorted(pic.columns.values(), key=lambda c: order.index(c.host))
    per_host: dict[str | None, int] = {}
    for col in cols:
        per_host[col.host] = per_host.get(col.host, 0) + 1
    for col in cols:
        ip, port = col.endpoint
        if col.host is None:
            col.label, col.sub = endpoint(ip, port), ""
        elif per_host[col.host] == 1:
            col.label, col.sub = col.host, endpoint(ip, port)
        else:
            col.label, col.sub = f"{col.host}:{port}", ip
    longest = max([text_width(_full_label(pic, f), SIZE) for f in pic.flights] or [0.0])
    gap = max(260.0, longest + 48.0, *(text_width(c.label, 12) + 24 for c in cols))
    x = _AXIS + 24.0 + max([text_width(s, SIZE) for s in _state_names(pic)] or [40.0])
    pic.columns = {}
    for col in cols:
        col.x = x
        pic.columns[col.endpoint] = col
        x += gap


def _state_names(pic: _Picture) -> list[str]:
    return [str(pic.records[i].new) for i in pic.chosen if pic.records[i].kind == STATE]


def _right_margin(pic: _Picture) -> float:
    return max([text_width(s, SIZE) for s in _state_names(pic)] or [40.0]) + 32.0


def _delays(pic: _Picture) -> list[float]:
    """Positive one-way delays of the delivered copies; marks late copies."""
    delays, late = one_way_delays(pic.records, pic.flights)
    pic.delayed.update(late)
    return [d for d in delays if d > 0]


def _typical_step(pic: _Picture) -> float:
    times = sorted({pic.records[i].time for i in pic.chosen})
    steps = [b - a for a, b in itertools.pairwise(times) if b > a]
    return statistics.median(steps) if steps else 1.0


def _full_label(pic: _Picture, flight: Flight) -> str:
    late = [pic.delayed[id(c)] for c in flight.copies if id(c) in pic.delayed]
    return flight.label + "".join(f" delayed +{d:.3g} s" for d in late[:1])


def _rows(pic: _Picture, timescale: TimeScale) -> dict[int, float]:
    """The y of every record that gets a row, by record index."""
    rows: dict[int, float] = {}
    sent_at = {f.index: f.time for f in pic.flights}
    for i in pic.chosen:
        r = pic.records[i]
        if r.kind in (SEND, STATE, NOTE):
            rows[i] = timescale.place(r.time, ROW)
        elif i in pic.ended:
            flight = pic.ended[i]
            if r.kind == DELIVER or r.time > sent_at.get(flight.index, r.time):
                rows[i] = timescale.place(r.time, TIGHT)
    return rows


def _draw_columns(canvas: Canvas, pic: _Picture, bottom: float, top: float) -> None:
    canvas.open("g", class_="columns")
    for col in pic.columns.values():
        w = text_width(col.label, 12) + 20
        canvas.open("g", class_="column")
        canvas.rect(col.x - w / 2, top + 8, w, 24, fill="#f2f2f2", stroke=_INK, rx=3)
        canvas.text(col.x, top + 25, col.label, font_size=12, text_anchor="middle",
                    font_weight="bold", class_="host")  # fmt: skip
        if col.sub:
            canvas.text(col.x, top + 44, col.sub, font_size=SMALL, text_anchor="middle",
                        fill="#555555", font_family=MONO, class_="address")  # fmt: skip
        canvas.line(col.x, top + 50, col.x, bottom - 8, stroke=_GRID, stroke_width=1.2,
                    class_="lifeline")  # fmt: skip
        canvas.close()
    canvas.close()


def _draw_breaks(canvas: Canvas, pic: _Picture, timescale: TimeScale) -> None:
    """The sign of a cut quiet time across every lifeline and the time axis."""
    for y0, y1, skipped in timescale.breaks:
        ym = (y0 + y1) / 2
        canvas.open("g", class_="break")
        canvas.title(f"{skipped:.6g} s of quiet time not drawn to scale")
        for x in [_AXIS, *(c.x for c in pic.columns.values())]:
            canvas.rect(x - 8, ym - 5, 16, 10, fill="#ffffff")
            for dy in (-4.0, 4.0):
                canvas.line(x - 8, ym + dy + 3, x + 8, ym + dy - 3, stroke=_INK, stroke_width=1)
        canvas.text(_AXIS - 12, ym + 4, f"+{skipped:.4g} s", font_size=SMALL, text_anchor="end",
                    font_style="italic", fill="#444444", class_="skipped")  # fmt: skip
        canvas.close()


def _time_format(times: list[float]) -> str:
    exact = all(abs(round(t, 3) - t) < 1e-9 for t in times)
    return "{:.3f}" if exact else "{:.6f}"


def _draw_axis(canvas: Canvas, pic: _Picture, rows: dict[int, float]) -> None:
    """Time down the left edge: one tick per row with text and a new time."""
    labelled = [(pic.records[i].time, y) for i, y in rows.items() if pic.records[i].kind != DELIVER
                and pic.records[i].kind != DROP]  # fmt: skip
    fmt = _time_format([t for t, _ in labelled])
    canvas.open("g", class_="axis")
    if labelled:
        canvas.line(_AXIS, labelled[0][1] - 8, _AXIS, max(y for _, y in labelled) + 8,
                    stroke=_GRID, stroke_width=1)  # fmt: skip
    if labelled:
        canvas.text(_AXIS, labelled[0][1] - 14, "time (s)", font_size=SMALL,
                    text_anchor="end", fill="#444444", class_="axis-title")  # fmt: skip
    last = None
    for t, y in labelled:
        text = fmt.format(t)
        if text == last:
            continue
        last = text
        canvas.line(_AXIS - 3, y, _AXIS + 3, y, stroke=_GRID, stroke_width=1)
        canvas.text(_AXIS - 6, y + 3.5, text, font_size=SMALL, text_anchor="end", font_family=MONO,
                    fill="#333333", class_="tick", data_time=repr(t))  # fmt: skip
    canvas.close()


def _end_point(pic: _Picture, flight: Flight, copy: Copy) -> tuple[float, float]:
    """Where a copy's arrow ends: at the receiver when it arrived, at the
    time of its loss when that came later than its sending, else part of the
    way down, at the first place along the arrow that no text or lifeline
    covers."""
    xs, xd = pic.columns[flight.src].x, pic.columns[flight.dst].x
    ys = pic.rows[flight.index]
    if copy.end == DELIVER and copy.end_index in pic.rows:
        return xd, pic.rows[copy.end_index]
    if copy.end == DROP and copy.end_index in pic.rows:
        r = pic.records[copy.end_index]
        src, dst = pic.columns[flight.src].host, pic.columns[flight.dst].host
        frac = 0.85 if r.host == dst and r.host != src else 0.5
        return xs + frac * (xd - xs), pic.rows[copy.end_index]
    lifelines = [c.x for c in pic.columns.values()]
    for frac in (0.5, 0.6, 0.4, 0.7, 0.3, 0.8, 0.2, 0.9):
        x, y = xs + frac * (xd - xs), ys + frac * pic.slant
        on_text = any(a - 7 < x < c + 7 and b - 7 < y < d + 7 for a, b, c, d in pic.boxes)
        if not on_text and all(abs(x - lx) > 12 for lx in lifelines):
            return x, y
    return xs + 0.5 * (xd - xs), ys + 0.5 * pic.slant


def _label_boxes(pic: _Picture, width: float) -> list[tuple[float, float, float, float]]:
    """Where the texts of the rows go (see _draw_flight and _draw_states_and_notes)."""
    boxes = []
    rightmost = max((c.x for c in pic.columns.values()), default=0.0)
    for f in pic.flights:
        xs, right = pic.columns[f.src].x, pic.columns[f.dst].x >= pic.columns[f.src].x
        boxes.append(_box(xs + _PAD if right else xs - _PAD, pic.rows[f.index] - 4,
                          _full_label(pic, f), SIZE, "start" if right else "end"))  # fmt: skip
    for i, y in pic.rows.items():
        r = pic.records[i]
        if r.kind == STATE and r.endpoint is not None:
            x = pic.columns[(r.endpoint[0], r.endpoint[1])].x
            outside = x == rightmost
            boxes.append(_box(x + 8 if outside else x - 8, y - 4, str(r.new), SIZE,
                              "start" if outside else "end"))  # fmt: skip
        elif r.kind == NOTE:
            boxes.append(_box(width / 2 + 35, y - 4, _note_text(r, width), SMALL, "middle"))
    return boxes


def _note_text(r: TraceRecord, width: float) -> str:
    text = f"({r.host}: {r.text})"
    room = int((width - 140) / text_width("x", SMALL))
    return text if len(text) <= room else text[: max(room - 1, 1)] + "…"


def _draw_flight(canvas: Canvas, pic: _Picture, flight: Flight) -> None:
    """One group per sent segment in the arrows layer (a line per copy), its
    label in the labels layer, arrowheads and X marks in the marks layer."""
    xs, ys = pic.columns[flight.src].x, pic.rows[flight.index]
    xd = pic.columns[flight.dst].x
    kind = "rtx" if flight.retransmission else ("data" if flight.record.payload_len else "control")
    canvas.use("arrows")
    canvas.open("g", class_="segment", data_kind=kind, data_index=flight.index)
    r = flight.record
    canvas.title(f"{r.time:.6f} {r.host}: {flight.segment.describe(r.orig_len)}"
                 + (f" ({r.text})" if r.text else ""))  # fmt: skip
    for copy in flight.copies:
        xe, ye = _end_point(pic, flight, copy)
        color = _DUP if copy.duplicate else (_LATE if id(copy) in pic.delayed else _INK)
        style: dict[str, str | float] = {"stroke": color, "stroke_width": 1.4}
        fate = copy.end if copy.end_index in pic.kept else None  # None: after the picture ends
        if fate is None:
            style["stroke_dasharray"] = "1 4"
        elif flight.retransmission:
            style["stroke_dasharray"] = "7 4"
        elif copy.duplicate:
            style["stroke_dasharray"] = "2 3"
        cls = "arrow" + (" dup" if copy.duplicate else "") + (" open" if fate is None else "")
        canvas.line(xs, ys, xe, ye, class_=cls, **style)
        canvas.use("marks")
        if fate == DELIVER:
            _head(canvas, xs, ys, xe, ye, color)
        elif fate == DROP:
            canvas.open("g", class_="lost", data_index=flight.index)
            canvas.title(copy.why or "lost")
            for dx, dy in ((-5.0, -5.0), (-5.0, 5.0)):
                canvas.line(xe + dx, ye + dy, xe - dx, ye - dy, stroke=_LOST, stroke_width=2.2)
            canvas.close()
        canvas.use("arrows")
    canvas.close()
    right = xd >= xs
    label = _full_label(pic, flight)
    canvas.use("labels")
    x = xs + _PAD if right else xs - _PAD
    _backdrop(canvas, x, ys - 4, label, "start" if right else "end")
    canvas.text(x, ys - 4, label, font_size=SIZE, font_family=MONO,
                text_anchor="start" if right else "end", fill=_INK, class_="label",
                data_index=flight.index)  # fmt: skip


def _backdrop(
    canvas: Canvas, x: float, baseline: float, text: str, anchor: str, size: float = SIZE
) -> None:
    """A white box behind a text, so the lines it crosses do not strike it out."""
    left, top, right, bottom = _box(x, baseline, text, size, anchor)
    canvas.rect(left, top, right - left, bottom - top, fill="#ffffff", fill_opacity=0.9,
                class_="backdrop")  # fmt: skip


def _head(canvas: Canvas, xs: float, ys: float, xe: float, ye: float, color: str) -> None:
    dx, dy = xe - xs, ye - ys
    length = (dx * dx + dy * dy) ** 0.5 or 1.0
    ux, uy = dx / length, dy / length
    bx, by = xe - 9 * ux, ye - 9 * uy
    canvas.polygon([(xe, ye), (bx - 3.5 * uy, by + 3.5 * ux), (bx + 3.5 * uy, by - 3.5 * ux)],
                   fill=color, class_="head")  # fmt: skip


def _draw_states_and_notes(
    canvas: Canvas, pic: _Picture, rows: dict[int, float], width: float
) -> None:
    """State names beside their column (outside for the rightmost one), notes centred."""
    canvas.use("labels")
    rightmost = max((c.x for c in pic.columns.values()), default=0.0)
    for i, y in rows.items():
        r = pic.records[i]
        if r.kind == STATE and r.endpoint is not None:
            col = pic.columns[(r.endpoint[0], r.endpoint[1])]
            outside = col.x == rightmost
            canvas.open("g", class_="state", data_host=col.label)
            canvas.title(f"{r.time:.6f} {r.host}: {r.old} -> {r.new}")
            canvas.rect(col.x - 3, y - 3, 6, 6, fill=_INK)
            canvas.text(col.x + 8 if outside else col.x - 8, y - 4, str(r.new), font_size=SIZE,
                        text_anchor="start" if outside else "end", font_weight="bold",
                        font_family=MONO, fill="#0b4f2a", class_="state-name")  # fmt: skip
            canvas.close()
        elif r.kind == NOTE:
            shown = _note_text(r, width)
            canvas.open("g", class_="note", data_text=r.text)
            canvas.title(f"{r.time:.6f} ({r.host}: {r.text})")
            _backdrop(canvas, width / 2 + 35, y - 4, shown, "middle", SMALL)
            canvas.text(width / 2 + 35, y - 4, shown, font_size=SMALL, text_anchor="middle",
                        font_style="italic", fill="#5a3d8a", font_family=MONO,
                        class_="note-text")  # fmt: skip
            canvas.close()
