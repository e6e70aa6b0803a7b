"""Pictures of a trace: SVG ladder diagrams, plots over virtual time, an HTML report.

Everything here reads only the public trace (:class:`aiotcpsim.TraceRecord`
and :class:`aiotcpsim.Segment` fields) and the network's ``statistics()``;
nothing here changes what a simulation does.  Pure standard library.

* :func:`ladder_svg` -- a textbook ladder diagram (:mod:`.ladder` owns the time scale);
* :func:`plot_svg` and :class:`Series` -- any (time, value) samples as a plot (:mod:`.plot`);
* :func:`connection_plots` -- the curves the trace gives per connection (:mod:`.series`);
* :func:`html_report` -- one self-contained HTML page (:mod:`.report`);
* :func:`text_ladders` -- text ladders per connection, cut to the rows that matter (:mod:`.text`);
* :func:`write_svg`, :func:`write_html` -- the same, into a file.

Example::

    from aiotcpsim.pictures import write_html, write_svg

    write_svg("ladder.svg", net, connection=("10.0.0.1", 40000, "10.0.0.2", 8080))
    write_html("run.html", net, title="the SYN is lost")
"""

from __future__ import annotations

from .ladder import ladder_svg
from .model import connections, segment_label
from .plot import Plot, Series, plot_svg
from .report import html_report, write_html, write_svg
from .series import connection_plots
from .text import recent_connections, records_of, text_ladders

__all__ = [
    "Plot",
    "Series",
    "connection_plots",
    "connections",
    "html_report",
    "ladder_svg",
    "plot_svg",
    "recent_connections",
    "records_of",
    "segment_label",
    "text_ladders",
    "write_html",
    "write_svg",
]
