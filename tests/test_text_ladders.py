"""Text ladders per connection (aiotcpsim.pictures.text): what a failure report shows."""

from __future__ import annotations

import re

import pytest

from aiotcpsim import Network
from aiotcpsim.pictures import connections, recent_connections, records_of, text_ladders
from aiotcpsim.pictures.model import selects
from aiotcpsim.scenarios import get
from aiotcpsim.scenarios.kit import PORT, SERVER_IP, App, drive, pair


def _blocks(text: str) -> list[str]:
    return [b for b in text.split("\n\n") if b.startswith("connection ")]


def _rows(block: str) -> list[str]:
    return block.splitlines()[2:]


def test_each_connection_gets_its_own_ladder_with_hosts_and_ports() -> None:
    net, client, server = pair(delay=0.01)
    listener = server.listen(PORT)
    apps = [App(net, client.connect(SERVER_IP, PORT)) for _ in range(2)]
    peers = [App(net, listener=listener), App(net, listener=listener)]
    for app in apps:
        app.write(b"hello")
        app.close()
    for peer in peers:
        peer.close_on_eof = True
    drive(net, [*apps, *peers])
    ports = [app.conn.local[1] for app in apps if app.conn is not None]
    blocks = _blocks(text_ladders(net.trace.records))
    assert [b.splitlines()[0] for b in blocks] == [
        f"connection {n} of 2: client 10.0.0.1:{port} <-> server 10.0.0.2:{PORT} (all rows)"
        for n, port in enumerate(ports, 1)
    ]
    for block in blocks:
        rows = _rows(block)
        assert "SYN-SENT" in rows[0]
        assert rows[-1].strip().endswith("CLOSED")
        # one connection's rows only: one SYN each way, one FIN each way
        assert sum(" SYN 0 " in r for r in rows) == 1
        assert sum("FIN|" in r for r in rows) == 2


def test_lost_retransmitted_and_delayed_segments_are_marked() -> None:
    syn = text_ladders(get("syn_lost").run().net.trace.records)
    assert syn.startswith("X: lost   (rtx): retransmission   +dup: duplicated   delayed")
    lost = [r for r in syn.splitlines() if r.rstrip().endswith("--X")]
    assert len(lost) == 3
    assert "SYN 0 (rtx) lost: dropped by rule: drop flags=SYN count=3" in lost[1]
    late = text_ladders(get("old_segment_time_wait").run().net.trace.records, rows=None)
    # the same segment the SVG ladder draws as delayed (tests/test_pictures.py)
    assert "PSH|ACK 1:1001(1000) ack 1 delayed +30 s" in late


def test_a_long_connection_shows_its_shape_its_events_and_its_end() -> None:
    net = get("partition_heals").run().net
    full = _rows(_blocks(text_ladders(net.trace.records, rows=None))[0])
    block = _blocks(text_ladders(net.trace.records, rows=30))[0]
    assert block.splitlines()[0].endswith(f"(30 of {len(full)} rows)")
    rows = _rows(block)
    shown = [r for r in rows if "not shown" not in r]
    assert len(shown) == 30
    skipped = sum(int(m.group(1)) for m in re.finditer(r"\.\.\. (\d+) rows? not shown", block))
    assert skipped + 30 == len(full)
    assert shown[-10:] == full[-10:]  # the end, as it is
    assert "SYN-SENT" in shown[0] and "SYN-RECEIVED" in shown[2]  # the shape
    assert any("lost: partitioned" in r for r in shown)  # the partition's losses
    assert any("(rtx) -->" in r for r in shown)  # the retransmissions once it heals
    assert any("TIME-WAIT" in r for r in shown)


def test_many_connections_show_the_most_recent() -> None:
    net = get("port_exhaustion").run().net
    text = text_ladders(net.trace.records, connections_shown=2)
    titles = [b.splitlines()[0] for b in _blocks(text)]
    # the first 4-tuple was used again last (its port came back after TIME-WAIT)
    assert [t.split(":")[0] for t in titles] == ["connection 1 of 10", "connection 10 of 10"]
    assert "... and 8 older connection(s) not shown: 10.0.0.1:" in text
    assert len(_blocks(text_ladders(net.trace.records, connections_shown=None))) == 10


def test_without_a_connection_the_last_records() -> None:
    net = Network()
    for n in range(5):
        net.note("localhost", f"note {n}")
    text = text_ladders(net.trace.records, rows=2)
    assert text.splitlines()[0] == "no connection; trace records (last 2 of 5):"
    assert text.endswith("note 4")
    with pytest.raises(ValueError, match=r"rows must be >= 1 or None \(all\), got 0"):
        text_ladders(net.trace.records, rows=0)


def test_pictures_of_many_connections_keep_the_most_recent() -> None:
    net = get("port_exhaustion").run().net
    records = net.trace.records
    recent = recent_connections(records, 2)
    assert recent == connections(records)[:1] + connections(records)[-1:]
    assert recent_connections(records, None) == connections(records)
    kept = records_of(records, recent)
    assert connections(kept) == recent
    assert all(r.kind == "note" or any(selects(c, r) for c in recent) for r in kept)
