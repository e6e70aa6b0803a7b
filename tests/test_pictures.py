"""Pictures of a trace (aiotcpsim.pictures): what is drawn matches the trace.

Structural checks parse the SVG with xml.etree: one arrow group per sent
segment, one X per drop, labels word for word as the text ladder writes
them, time flowing down, no two texts overlapping, the same bytes for the
same run.  Browser checks render the pictures in headless Chromium (the
Debian package ``chromium``; .ci/run installs it) and look at the pixels.
"""

from __future__ import annotations

import importlib
import itertools
import pathlib
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import pytest
from pixels import Png, ink, red_blobs

from aiotcpsim import Network
from aiotcpsim.pictures import (
    Plot,
    Series,
    connections,
    html_report,
    ladder_svg,
    plot_svg,
    write_html,
    write_svg,
)
from aiotcpsim.pictures.svg import CHAR_WIDTH
from aiotcpsim.scenarios.kit import PORT, SERVER_IP, App, drive, pair
from aiotcpsim.trace import DROP, DUPLICATE, NOTE, SEND, TraceRecord

SVG = "{http://www.w3.org/2000/svg}"
XHTML = "{http://www.w3.org/1999/xhtml}"


# -- scenarios ---------------------------------------------------------------------


def syn_lost() -> Network:
    from aiotcpsim.scenarios import syn_lost as example

    net: Network = example.scenario().net
    return net


def four_way_close() -> Network:
    from aiotcpsim.scenarios import close as example

    net: Network = example.scenario(server_closes_after=1.0).net
    return net


def faulty_transfer(*, second: bool = False) -> Network:
    """A handshake, 5000 bytes of which one segment is lost and one duplicated,
    a late ACK, and a close; ``second`` opens a second connection beside it."""
    net, client, server = pair(seed=3, delay=0.01)
    listener = server.listen(PORT)
    net.faults.drop(payload=True, src="client", nth=2, count=1)
    net.faults.duplicate(1, payload=True, src="client", nth=3, count=1)
    net.faults.delay(0.05, flags="ACK", src="server", payload=False, nth=3, count=1)
    apps = [App(net, client.connect(SERVER_IP, PORT)), App(net, listener=listener)]
    if second:
        apps += [App(net, client.connect(SERVER_IP, PORT)), App(net, listener=listener)]
    drive(net, apps, until=0.1)
    apps[0].write(b"x" * 5000)
    if second:
        apps[2].write(b"y" * 300)
    drive(net, apps, until=2.0)
    apps[0].close()
    apps[1].close_on_eof = True
    drive(net, apps, until=3.0)
    return net


def loopback() -> Network:
    net = Network(seed=2, delay=0.001)
    host = net.add_host("solo", "10.0.0.9")
    listener = host.listen(PORT)
    a, b = App(net, host.connect("127.0.0.1", PORT)), App(net, listener=listener)
    drive(net, [a, b], until=0.1)
    a.write(b"ping")
    drive(net, [a, b], until=0.2)
    return net


# -- reading pictures --------------------------------------------------------------


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def having(root: ET.Element, cls: str) -> list[ET.Element]:
    """Elements whose class list holds ``cls``, in document order."""
    return [e for e in root.iter() if cls in e.get("class", "").split()]


def ladder_labels(net: Network, **kwargs: object) -> list[str]:
    """The arrow labels of the text ladder, in order."""
    labels = []
    for row in net.trace.ladder(width=200, **kwargs).splitlines()[1:]:  # type: ignore[arg-type]
        m = re.search(r"[-<X]-* (.+?) -*[->X]\s*$", row)
        if m:
            labels.append(m.group(1))
    return labels


def svg_labels(root: ET.Element) -> list[str]:
    """Arrow labels in send order, without the ``delayed`` mark the text ladder lacks."""
    texts = sorted(having(root, "label"), key=lambda e: int(e.get("data-index", "0")))
    return [re.sub(r" delayed \+\S+ s$", "", e.text or "") for e in texts]


def sends(net: Network, kind: str = SEND) -> list[TraceRecord]:
    return [r for r in net.trace.records if r.kind == kind]


def text_boxes(root: ET.Element) -> Iterator[tuple[str, float, float, float, float]]:
    """(text, left, top, right, bottom) of every text, for a monospace font."""
    for e in root.iter(f"{SVG}text"):
        size = float(e.get("font-size", "11"))
        width = len(e.text or "") * CHAR_WIDTH * size
        x, y = float(e.get("x", "0")), float(e.get("y", "0"))
        anchor = e.get("text-anchor", "start")
        left = {"start": x, "end": x - width, "middle": x - width / 2}[anchor]
        if e.get("transform"):
            continue  # a rotated axis title
        yield e.text or "", left, y - 0.8 * size, left + width, y + 0.2 * size


# -- structure ---------------------------------------------------------------------


def test_syn_lost_draws_each_lost_syn_ending_in_an_x() -> None:
    net = syn_lost()
    root = parse(ladder_svg(net.trace.records))
    assert len(having(root, "segment")) == len(sends(net)) == 6
    assert len(having(root, "lost")) == len(sends(net, DROP)) == 3
    assert svg_labels(root) == ladder_labels(net, left="client", right="server")
    assert svg_labels(root)[:4] == ["SYN 0", "SYN 0 (rtx)", "SYN 0 (rtx)", "SYN 0 (rtx)"]
    rtx = [g for g in having(root, "segment") if g.get("data-kind") == "rtx"]
    assert len(rtx) == 3
    assert all(line.get("stroke-dasharray") for g in rtx for line in g.iter(f"{SVG}line"))
    # The three 1 s retransmission timeouts are cut, and say so.
    skipped = [e.text for e in having(root, "skipped")]
    assert skipped == ["+0.99 s", "+0.99 s", "+0.99 s"] or skipped == ["+1 s"] * 3
    states = [(e.text, float(e.get("x", "0"))) for e in having(root, "state-name")]
    assert [s for s, _ in states] == [
        "SYN-SENT", "SYN-RECEIVED", "ESTABLISHED", "ESTABLISHED",
    ]  # fmt: skip
    assert states[0][1] < states[1][1]  # the client's states on its side, the server's on its


def test_four_way_close_cuts_time_wait() -> None:
    net = four_way_close()
    svg = ladder_svg(net.trace.records)
    root = parse(svg)
    assert svg_labels(root) == ladder_labels(net, left="client", right="server")
    assert len(having(root, "segment")) == 4
    assert [e.text for e in having(root, "skipped")][-1] == "+59.99 s"
    assert float(root.get("height", "0")) < 800  # 60 s of TIME-WAIT drawn in a few pixels
    assert [e.text for e in having(root, "host")] == ["client", "server"]


def test_lost_duplicated_and_delayed_segments_are_drawn_as_such() -> None:
    net = faulty_transfer()
    root = parse(ladder_svg(net.trace.records))
    assert len(having(root, "segment")) == len(sends(net))
    assert len(having(root, "lost")) == len(sends(net, DROP)) == 1
    assert len(having(root, "dup")) == len(sends(net, DUPLICATE)) == 1
    assert svg_labels(root) == ladder_labels(net)
    delayed = [e.text for e in having(root, "label") if "delayed" in (e.text or "")]
    # 1448 bytes (1460 less the timestamps option); the window 131072 - 1448
    # rounded up to the window scale's 128 bytes (Linux __tcp_select_window).
    assert delayed == ["ACK 1 ack 1449 win 129664 delayed +0.05 s"]
    # Every delivered copy has its head, ending at the receiver's lifeline.
    lifelines = {float(e.get("x1", "0")) for e in having(root, "lifeline")}
    arrows = having(root, "arrow")
    assert len(having(root, "head")) == len(sends(net, "deliver"))
    assert {float(a.get("x1", "0")) for a in arrows} <= lifelines


EXAMPLES = [
    ("syn_lost", "scenario", {}),
    ("synack_lost", "synack_lost", {}),
    ("synack_lost", "third_ack_lost", {}),
    ("last_ack_lost", "scenario", {}),
    ("no_time_wait", "scenario", {}),
    ("old_duplicate_syn", "scenario", {}),
    ("old_segment_time_wait", "scenario", {}),
    ("old_segment_time_wait", "scenario", {"rfc1337": True}),
    ("partition_heals", "scenario", {}),
    ("peer_crash", "write_to_crashed", {}),
    ("peer_crash", "write_to_restarted", {}),
    ("peer_crash", "idle_keepalive", {}),
    ("port_exhaustion", "scenario", {}),
    ("server_down", "scenario", {}),
    ("server_down", "scenario", {"reject": True}),
    ("simultaneous", "scenario", {}),
    ("half_close", "scenario", {}),
    ("close", "scenario", {"server_closes_after": None}),
    ("close", "scenario", {"server_closes_after": 1.0}),
]


@pytest.mark.parametrize(
    ("module", "function", "kwargs"),
    EXAMPLES,
    ids=[f"{m}.{f}{''.join(f'-{k}={v}' for k, v in kw.items())}" for m, f, kw in EXAMPLES],
)
def test_every_example_is_drawn_as_its_text_ladder(
    module: str, function: str, kwargs: dict[str, object]
) -> None:
    net = getattr(importlib.import_module(f"aiotcpsim.scenarios.{module}"), function)(**kwargs).net
    root = parse(ladder_svg(net.trace.records))
    assert len(having(root, "segment")) == len(sends(net))
    assert len(having(root, "lost")) == len(sends(net, DROP))
    assert len(having(root, "dup")) == len(sends(net, DUPLICATE))
    assert svg_labels(root) == ladder_labels(net)
    notes = [e.get("data-text") for e in having(root, "note")]
    assert notes == [r.text for r in sends(net, NOTE)]


def test_notes_and_a_segment_delayed_by_30_s() -> None:
    from aiotcpsim.scenarios import old_segment_time_wait as example

    net = example.scenario().net
    root = parse(ladder_svg(net.trace.records))
    assert "TIME-WAIT timer restarted" in [e.get("data-text") for e in having(root, "note")]
    late = [e for e in having(root, "label") if "delayed" in (e.text or "")]
    assert [e.text for e in late] == ["PSH|ACK 1:1001(1000) ack 1 delayed +30 s"]
    group = next(
        g for g in having(root, "segment") if g.get("data-index") == late[0].get("data-index")
    )
    arrow = group.find(f"{SVG}line")
    assert arrow is not None and arrow.get("stroke") == "#b85c00"
    # Sent at 0.1 s, it arrives after everything drawn before 30.1 s.
    assert float(arrow.get("y2", "0")) > max(
        float(e.get("y", "0")) for e in having(root, "tick") if float(e.get("data-time", "0")) < 30
    )


def test_hosts_choose_and_order_the_columns() -> None:
    net = four_way_close()
    root = parse(ladder_svg(net.trace.records, hosts=["server", "client"]))
    assert [e.text for e in having(root, "host")] == ["server", "client"]
    assert svg_labels(root) == ladder_labels(net, left="server", right="client")
    alone = parse(ladder_svg(net.trace.records, hosts=["client"]))
    assert having(alone, "segment") == []
    assert [e.text for e in having(alone, "state-name")] == ["FIN-WAIT-1", "FIN-WAIT-2",
                                                            "TIME-WAIT", "CLOSED"]  # fmt: skip


@pytest.mark.parametrize("seed", range(6))
def test_a_bad_network_is_drawn_segment_for_segment(seed: int) -> None:
    """Loss, duplication, reordering, jitter and corruption: every copy's fate is drawn."""
    net, client, server = pair(seed=seed, delay=0.01, loss=0.1, duplicate=0.1, reorder=0.2,
                               jitter=0.005, corrupt=0.05)  # fmt: skip
    listener = server.listen(PORT)
    a, b = App(net, client.connect(SERVER_IP, PORT)), App(net, listener=listener)
    drive(net, [a, b], until=0.5)
    a.write(bytes(20000))
    a.close()
    b.close_on_eof = True
    drive(net, [a, b], until=30.0)
    root = parse(ladder_svg(net.trace.records))
    assert len(having(root, "segment")) == len(sends(net))
    assert len(having(root, "lost")) == len(sends(net, DROP))
    assert len(having(root, "dup")) == len(sends(net, DUPLICATE))
    assert len(having(root, "head")) == len(sends(net, "deliver"))
    assert svg_labels(root) == ladder_labels(net)
    ET.fromstring(html_report(net))


def test_time_flows_down() -> None:
    root = parse(ladder_svg(faulty_transfer().trace.records))
    ticks = [(float(e.get("data-time", "0")), float(e.get("y", "0"))) for e in having(root, "tick")]
    assert len(ticks) > 5
    assert [t for t, _ in ticks] == sorted(t for t, _ in ticks)
    assert all(b[1] > a[1] for a, b in itertools.pairwise(ticks))
    for arrow in having(root, "arrow"):
        assert float(arrow.get("y2", "0")) >= float(arrow.get("y1", "0"))


def test_to_scale_when_there_is_room() -> None:
    """With 10 ms links, a one-way delay is drawn 48 px tall; twice the scale, twice as tall."""
    net = syn_lost()
    for scale, height in ((None, 48.0), (9600.0, 96.0)):
        root = parse(ladder_svg(net.trace.records, scale=scale))
        last = having(root, "segment")[-1].find(f"{SVG}line")
        assert last is not None
        assert float(last.get("y2", "0")) - float(last.get("y1", "0")) == pytest.approx(height)


@pytest.mark.parametrize(
    "build", [syn_lost, four_way_close, faulty_transfer, lambda: faulty_transfer(second=True)]
)
def test_no_two_texts_overlap(build: object) -> None:
    assert callable(build)
    root = parse(ladder_svg(build().trace.records))
    boxes = list(text_boxes(root))
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            apart = a[3] <= b[1] or b[3] <= a[1] or a[4] <= b[2] or b[4] <= a[2]
            assert apart, f"{a[0]!r} overlaps {b[0]!r}"
    for mark in having(root, "lost"):
        line = mark.find(f"{SVG}line")
        assert line is not None
        x = (float(line.get("x1", "0")) + float(line.get("x2", "0"))) / 2
        y = (float(line.get("y1", "0")) + float(line.get("y2", "0"))) / 2
        for text, left, top, right, bottom in boxes:
            assert not (left - 5 < x < right + 5 and top - 5 < y < bottom + 5), text


def test_several_connections_get_a_column_per_port() -> None:
    net = faulty_transfer(second=True)
    conns = connections(net.trace.records)
    assert len(conns) == 2
    root = parse(ladder_svg(net.trace.records))
    heads = [e.text or "" for e in having(root, "host")]
    assert heads == [f"client:{conns[0][1]}", f"client:{conns[1][1]}", "server"]
    one = parse(ladder_svg(net.trace.records, connection=conns[1]))
    mine = [r for r in sends(net) if r.segment and conns[1][1] in (r.segment.src_port,
                                                                 r.segment.dst_port)]  # fmt: skip
    assert len(having(one, "segment")) == len(mine)
    assert [e.text for e in having(one, "host")] == ["client", "server"]
    assert all(f"{conns[0][1]}" not in (e.text or "") for e in having(one, "address"))


def test_loopback_columns_are_ports() -> None:
    net = loopback()
    root = parse(ladder_svg(net.trace.records))
    heads = [e.text or "" for e in having(root, "host")]
    assert len(heads) == 2 and all(h.startswith("solo:") for h in heads)
    assert heads[1] == f"solo:{PORT}"
    assert svg_labels(root) == ladder_labels(net)


def test_time_window() -> None:
    net = syn_lost()
    root = parse(ladder_svg(net.trace.records, start=2.5))
    assert [e.text for e in having(root, "label")] == [
        "SYN 0 (rtx)", "SYN|ACK 0 ack 1", "ACK 1 ack 1 win 131072",
    ]  # fmt: skip
    assert having(root, "lost") == []


def test_a_segment_still_in_flight_at_the_end_has_no_head() -> None:
    net = syn_lost()
    root = parse(ladder_svg(net.trace.records, end=3.005))
    open_ = having(root, "open")
    assert len(open_) == 1 and open_[0].get("stroke-dasharray") == "1 4"
    assert len(having(root, "head")) == 0
    assert len(having(root, "segment")) == 4


def test_same_run_same_bytes() -> None:
    assert ladder_svg(faulty_transfer().trace.records) == ladder_svg(
        faulty_transfer().trace.records
    )
    assert html_report(faulty_transfer(second=True)) == html_report(faulty_transfer(second=True))


def test_html_report_stands_alone() -> None:
    net = faulty_transfer(second=True)
    page = html_report(net, title="two connections <&>")
    root = ET.fromstring(page)  # well-formed: polyglot HTML
    assert root.find(f"{XHTML}head/{XHTML}title") is not None
    assert "two connections <&>" in "".join(root.find(f"{XHTML}body/{XHTML}h1").itertext())  # type: ignore[union-attr]
    assert not [e for e in root.iter() if e.tag.endswith("script")]
    for e in root.iter():
        for name in ("href", "src", "{http://www.w3.org/1999/xlink}href"):
            assert e.get(name) is None, (e.tag, name)
    svgs = list(root.iter(f"{SVG}svg"))
    # The ladder, then per connection its own ladder and four plots.
    assert len(svgs) == 1 + 2 * (1 + 4)
    cells = [c.text for c in root.iter(f"{XHTML}td")]
    assert "segments_sent" in cells
    assert str(net.statistics()["segments_sent"]) in cells


def test_html_report_from_records_and_extra_series() -> None:
    net = four_way_close()
    conn = connections(net.trace.records)[0]
    cwnd = Plot("cwnd", "bytes", [Series("cwnd", [(1.0, 14600.0), (2.0, 29200.0)])])
    page = html_report(net.trace.records, extra_plots={conn: [cwnd]})
    root = ET.fromstring(page)
    series = [e.get("data-name") for e in having(root, "series")]
    assert "cwnd" in series
    assert "statistics()" not in page  # records alone carry no network counters


def test_plot_of_any_samples() -> None:
    svg = plot_svg(Plot("rto", "seconds", [
        Series("rto", [(0.0, 1.0), (1.0, 2.0), (3.0, 4.0)]),
        Series("srtt", [(0.0, 0.02), (3.0, 0.03)], "line"),
        Series("events", [(0.5, 1.0)], "points"),
    ]))  # fmt: skip
    root = parse(svg)
    assert [e.get("data-samples") for e in having(root, "series")] == ["3", "2", "1"]
    xt = [float(e.text or "0") for e in having(root, "xtick")]
    assert xt[0] <= 0.0 and xt[-1] >= 3.0 and xt == sorted(xt)
    assert having(parse(plot_svg(Plot("empty", "-", []))), "empty")


# -- in a real browser ---------------------------------------------------------------


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium; .ci/run does it)")
    return found


def _run_chromium(tmp: pathlib.Path, *args: str) -> bytes:
    cmd = [
        _chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--hide-scrollbars", "--force-device-scale-factor=1",
        f"--user-data-dir={tmp / 'profile'}", *args,
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, timeout=120, check=True)
    return done.stdout


def render(tmp: pathlib.Path, page: pathlib.Path, width: int, height: int) -> tuple[str, Png]:
    """The DOM the browser built from ``page`` and a screenshot of it, in one run."""
    png = tmp / (page.stem + ".png")
    dom = _run_chromium(
        tmp, "--dump-dom", f"--screenshot={png}", f"--window-size={width},{height}", page.as_uri()
    )
    return dom.decode(), Png(png.read_bytes())


def test_browser_draws_what_the_svg_says(tmp_path: pathlib.Path) -> None:
    net = faulty_transfer()
    svg = ladder_svg(net.trace.records)
    root = parse(svg)
    page = tmp_path / "ladder.svg"
    page.write_text(svg, encoding="utf-8")
    width, height = int(float(root.get("width", "0"))) + 1, int(float(root.get("height", "0"))) + 1
    dom, png = render(tmp_path, page, width, height)
    assert "parsererror" not in dom and dom.count("<line") == svg.count("<line")
    assert (png.width, png.height) == (width, height)
    inked = sum(1 for y in range(0, png.height, 2) for x in range(0, png.width, 2)
                if ink(png.pixel(x, y)))  # fmt: skip
    assert 500 < inked < png.width * png.height // 8  # drawn, and not a black page
    # The X of each lost segment is red and is where the SVG put it (and nothing else is red).
    xs = []
    for mark in having(root, "lost"):
        line = mark.find(f"{SVG}line")
        assert line is not None
        xs.append(((float(line.get("x1", "0")) + float(line.get("x2", "0"))) / 2,
                   (float(line.get("y1", "0")) + float(line.get("y2", "0"))) / 2))  # fmt: skip
    blobs = red_blobs(png)
    assert len(blobs) == len(xs) == 1
    assert abs(blobs[0][0] - xs[0][0]) < 2 and abs(blobs[0][1] - xs[0][1]) < 2
    # Every arrowhead is drawn at its tip, every state name's marker on its lifeline.
    for head in having(root, "head"):
        tip = head.get("points", "").split()[0].split(",")
        assert png.near(float(tip[0]), float(tip[1]), ink), tip
    for mark in root.iter(f"{SVG}rect"):
        if mark.get("fill") == "#111111":
            assert png.near(float(mark.get("x", "0")) + 3, float(mark.get("y", "0")) + 3, ink)
    # Between the columns, away from any drawing, the page is white.
    cols = sorted(float(e.get("x1", "0")) for e in having(root, "lifeline"))
    assert not png.near((cols[0] + cols[1]) / 2, 40, ink, radius=4)


def test_browser_reads_the_report(tmp_path: pathlib.Path) -> None:
    net = faulty_transfer(second=True)
    page = tmp_path / "report.xhtml"  # served as XML: the browser's strict parser checks it
    page.write_text(html_report(net, title="report"), encoding="utf-8")
    dom, png = render(tmp_path, page, 1000, 1200)
    assert "parsererror" not in dom
    assert dom.count("<svg") == 11
    colours = {png.pixel(x, y) for y in range(0, png.height, 7) for x in range(0, png.width, 7)}
    assert len(colours) > 20  # text, tables and pictures, not a blank page


def test_pictures_read_only_the_public_trace() -> None:
    """The pictures package imports nothing of the core but segment, trace and
    addresses (values)."""
    root = pathlib.Path(__file__).resolve().parents[1] / "aiotcpsim" / "pictures"
    for path in root.glob("*.py"):
        for line in path.read_text().splitlines():
            m = re.match(r"from \.\.(\w+)", line)
            if m:
                assert m.group(1) in ("segment", "trace", "addresses"), (path.name, line)


def test_nothing_to_draw() -> None:
    assert having(parse(ladder_svg([])), "segment") == []
    ET.fromstring(html_report([]))
    net = Network()
    net.add_host("a", "10.0.0.1")
    net.note("a", "hello")
    assert [e.get("data-text") for e in having(parse(ladder_svg(net.trace.records)), "note")] == [
        "hello"
    ]
    with pytest.raises(TypeError, match="expected a network, a trace or trace records, not int"):
        html_report(5)


def test_write_files(tmp_path: pathlib.Path) -> None:
    net = syn_lost()
    write_svg(tmp_path / "l.svg", net, start=2.5)
    write_html(tmp_path / "r.html", net.trace, title="t")
    assert (tmp_path / "l.svg").read_text(encoding="utf-8") == ladder_svg(
        net.trace.records, start=2.5
    )
    assert (tmp_path / "r.html").read_text(encoding="utf-8") == html_report(net.trace, title="t")
