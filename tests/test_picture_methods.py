"""Trace.to_svg / Trace.to_html / Network.to_html write the pictures of a run."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiotcpsim


def _run() -> aiotcpsim.Network:
    net = aiotcpsim.Network(seed=1)
    server = net.add_host("server")
    client = net.add_host("client")

    async def main() -> None:
        async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(await reader.read())
            writer.close()

        with server.current():
            srv = await asyncio.start_server(echo, port=80)
        with client.current():
            reader, writer = await asyncio.open_connection("server", 80)
        writer.write(b"hello")
        writer.write_eof()
        assert await reader.read() == b"hello"
        writer.close()
        srv.close()

    aiotcpsim.run(main(), network=net)
    return net


def test_trace_to_svg_and_html(tmp_path: Path) -> None:
    net = _run()
    net.trace.to_svg(tmp_path / "l.svg")
    net.trace.to_html(tmp_path / "t.html", title="echo run")
    svg = (tmp_path / "l.svg").read_text()
    assert svg.startswith("<svg") and "SYN" in svg
    assert "<title>echo run</title>" in (tmp_path / "t.html").read_text()


def test_network_to_html_has_statistics(tmp_path: Path) -> None:
    net = _run()
    net.to_html(tmp_path / "n.html", title="net")
    html = (tmp_path / "n.html").read_text()
    assert "Statistics" in html and "<svg" in html
