"""One self-contained HTML page about a run: ladder, statistics, plots.

Rule owned here: **the report stands alone**.  Everything is inline -- SVG
pictures and CSS -- with no script, no font, image or style sheet fetched
from anywhere, so the file can be attached to a CI run and opened years
later.  The page is also well-formed XML (polyglot HTML), which lets tests
parse it with :mod:`xml.etree`.

The input is a network (anything with ``trace.records`` and, optionally,
``statistics()``), a trace (``records``), or the records themselves.
:func:`write_html` and :func:`write_svg` put a report or a ladder in a file
(UTF-8), for one-line methods such as ``Trace.to_svg(path)``.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable
from xml.sax.saxutils import escape

from .ladder import ladder_svg
from .model import (
    DROP,
    DUPLICATE,
    SEND,
    STATE,
    Connection4,
    TraceRecord,
    connections,
    owners,
    selects,
)
from .plot import Plot, plot_svg
from .series import connection_plots, endpoint_name

__all__ = ["html_report", "write_html", "write_svg"]


@runtime_checkable
class _Records(Protocol):
    @property
    def records(self) -> list[TraceRecord]: ...


@runtime_checkable
class _Traced(Protocol):
    @property
    def trace(self) -> _Records: ...


_CSS = """
body { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; color: #111;
       margin: 24px auto; max-width: 1200px; padding: 0 16px; line-height: 1.4; }
h1 { font-size: 22px; margin-bottom: 4px; }
h2 { font-size: 18px; border-bottom: 1px solid #ccc; padding-bottom: 2px; margin-top: 28px; }
h3 { font-size: 15px; margin-top: 20px; font-family: "DejaVu Sans Mono", monospace; }
p.meta { color: #555; margin-top: 0; }
table { border-collapse: collapse; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: left; }
td.n { text-align: right; font-family: "DejaVu Sans Mono", monospace; }
figure { margin: 12px 0; overflow-x: auto; }
figcaption { font-size: 12px; color: #555; }
.plots { display: flex; flex-wrap: wrap; gap: 8px; }
.side { display: flex; flex-wrap: wrap; gap: 40px; align-items: flex-start; }
"""


def _unpack(source: object) -> tuple[list[TraceRecord], dict[str, int] | None]:
    stats = None
    statistics = getattr(source, "statistics", None)
    if callable(statistics):
        stats = dict(statistics())
    if isinstance(source, _Traced):
        return list(source.trace.records), stats
    if isinstance(source, _Records):
        return list(source.records), stats
    if isinstance(source, Iterable):
        return [r for r in source if isinstance(r, TraceRecord)], stats
    raise TypeError(f"expected a network, a trace or trace records, not {type(source).__name__}")


def html_report(
    source: object,
    *,
    title: str = "aiotcpsim run",
    extra_plots: Mapping[Connection4, Sequence[Plot]] | None = None,
    max_connections: int = 20,
    max_ladder_segments: int = 1500,
) -> str:
    """The HTML page: summary, statistics, the ladder, and per connection its
    table row, its own ladder (when there are several) and its plots.

    ``extra_plots`` adds plots to a connection (keyed as
    :func:`~aiotcpsim.pictures.connections` orients it), for curves the
    trace does not hold.  Only the first ``max_connections`` connections get
    a section, and the ladder stops after ``max_ladder_segments`` segments.
    """
    records, stats = _unpack(source)
    conns = connections(records)
    sends = [r for r in records if r.kind == SEND]
    end = sends[max_ladder_segments].time if len(sends) > max_ladder_segments else None
    span = f"{records[0].time:.6f} s to {records[-1].time:.6f} s" if records else "empty"
    out = [
        '<!DOCTYPE html>\n<html xmlns="http://www.w3.org/1999/xhtml" lang="en">',
        f'<head><meta charset="utf-8"/><title>{escape(title)}</title><style>{_CSS}</style></head>',
        f"<body><h1>{escape(title)}</h1>",
        f'<p class="meta">{len(records)} trace records, virtual time {span}, '
        f"{len(conns)} connection{'s' if len(conns) != 1 else ''}.</p>",
        "<h2>Statistics</h2>",
        _stats_tables(records, stats),
        "<h2>Ladder</h2>",
        _figure(ladder_svg(records, end=end), _ladder_caption(end, max_ladder_segments)),
        "<h2>Connections</h2>",
        _connection_table(records, conns),
    ]
    for conn in conns[:max_connections]:
        out.append(_connection_section(records, conn, len(conns) > 1, end, extra_plots))
    if len(conns) > max_connections:
        out.append(f"<p>{len(conns) - max_connections} more connections are not shown.</p>")
    out.append("</body></html>\n")
    return "\n".join(out)


def _ladder_caption(end: float | None, limit: int) -> str:
    caption = (
        "Time flows down to scale; quiet times are cut where a break sign shows the time "
        "skipped. X: lost; dotted: duplicate; dashed: retransmission; orange: delayed."
    )
    if end is not None:
        caption += f" Only the first {limit} segments are drawn (up to {end:.6f} s)."
    return caption


def _figure(svg: str, caption: str) -> str:
    # An XML declaration is not allowed inside HTML; ladder_svg and plot_svg write none.
    return f"<figure>{svg}<figcaption>{escape(caption)}</figcaption></figure>"


def _table(head: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    out = ["<table><tr>", *(f"<th>{escape(h)}</th>" for h in head), "</tr>"]
    for row in rows:
        cells = (
            f'<td class="n">{v}</td>'
            if isinstance(v, int | float)
            else f"<td>{escape(str(v))}</td>"
            for v in row
        )
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</table>")
    return "".join(out)


def _stats_tables(records: list[TraceRecord], stats: dict[str, int] | None) -> str:
    counted: dict[str, int] = {}
    for r in records:
        counted[r.kind] = counted.get(r.kind, 0) + 1
    retrans = sum(1 for r in records if r.kind == SEND and "retransmission" in r.text)
    trace_rows = [*sorted(counted.items()), ("send (retransmission)", retrans)]
    parts = ['<div class="side">']
    if stats is not None:
        parts.append("<div><p>The network's <code>statistics()</code>:</p>")
        parts.append(_table(["counter", "value"], sorted(stats.items())) + "</div>")
    parts.append("<div><p>Records in the trace, by kind:</p>")
    parts.append(_table(["kind", "records"], trace_rows) + "</div>")
    parts.append("</div>")
    return "\n".join(parts)


def _connection_table(records: list[TraceRecord], conns: list[Connection4]) -> str:
    owner = owners(records)
    rows = []
    for conn in conns:
        a, b = (conn[0], conn[1]), (conn[2], conn[3])
        mine = [r for r in records if selects(conn, r)]
        rows.append([
            endpoint_name(a, owner),
            endpoint_name(b, owner),
            *_direction_counts(mine, a),
            *_direction_counts(mine, b),
            sum(1 for r in mine if r.kind == DROP),
            sum(1 for r in mine if r.kind == DUPLICATE),
            _last_state(mine, a),
            _last_state(mine, b),
        ])  # fmt: skip
    head = ["a", "b", "a sent", "a bytes", "a rtx", "b sent", "b bytes", "b rtx",
            "lost", "duplicated", "a last state", "b last state"]  # fmt: skip
    return _table(head, rows)


def _direction_counts(records: list[TraceRecord], src: tuple[str, int]) -> list[int]:
    sent = [r for r in records if r.kind == SEND and r.segment is not None
            and (r.segment.src_ip, r.segment.src_port) == src]  # fmt: skip
    data = sum(r.payload_len for r in sent if "retransmission" not in r.text)
    rtx = sum(1 for r in sent if "retransmission" in r.text)
    return [len(sent), data, rtx]


def _last_state(records: list[TraceRecord], end: tuple[str, int]) -> str:
    states = [r for r in records if r.kind == STATE and r.endpoint is not None
              and (r.endpoint[0], r.endpoint[1]) == end]  # fmt: skip
    return str(states[-1].new) if states else "-"


def _connection_section(
    records: list[TraceRecord],
    conn: Connection4,
    own_ladder: bool,
    end: float | None,
    extra_plots: Mapping[Connection4, Sequence[Plot]] | None,
) -> str:
    owner = owners(records)
    a, b = (conn[0], conn[1]), (conn[2], conn[3])
    head = f"{endpoint_name(a, owner)} ({a[0]}:{a[1]}) - {endpoint_name(b, owner)} ({b[0]}:{b[1]})"
    out = [f"<h3>{escape(head)}</h3>"]
    if own_ladder:
        out.append(_figure(ladder_svg(records, connection=conn, end=end), "This connection alone."))
    plots = [*connection_plots(records, conn), *(extra_plots or {}).get(conn, ())]
    out.append('<div class="plots">')
    out.extend(_figure(plot_svg(p), p.title) for p in plots)
    out.append("</div>")
    return "\n".join(out)


def write_html(path: str | os.PathLike[str], source: object, **options: Any) -> None:
    """Write :func:`html_report` of ``source`` to ``path``."""
    pathlib.Path(path).write_text(html_report(source, **options), encoding="utf-8")


def write_svg(path: str | os.PathLike[str], source: object, **options: Any) -> None:
    """Write :func:`~aiotcpsim.pictures.ladder_svg` of ``source`` (a network, a
    trace or records) to ``path``."""
    records, _ = _unpack(source)
    pathlib.Path(path).write_text(ladder_svg(records, **options), encoding="utf-8")
