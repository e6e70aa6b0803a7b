"""The command line, ``python -m aiotcpsim``: run as a user runs it, in a subprocess."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from aiotcpsim.pcap import read_pcap
from aiotcpsim.scenarios import SCENARIOS, get
from aiotcpsim.trace import SEND

ROOT = pathlib.Path(__file__).resolve().parents[1]


def cli(*args: str | os.PathLike[str]) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    # Run the package this test imported (the pure or the compiled build).
    package_root = str(pathlib.Path(sys.modules["aiotcpsim"].__file__ or "").parents[1])
    env["PYTHONPATH"] = os.pathsep.join([package_root, env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "aiotcpsim", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_scenario_list_names_every_scenario_with_its_title() -> None:
    result = cli("scenario", "list")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == list(SCENARIOS)
    assert lines[0].split(None, 1)[1] == "the SYN is lost three times"
    assert "demo" in SCENARIOS


def test_scenario_prints_the_ladder_and_writes_svg_html_and_pcap(
    tmp_path: pathlib.Path,
) -> None:
    svg, html, pcap = tmp_path / "a.svg", tmp_path / "a.html", tmp_path / "a.pcap"
    result = cli("scenario", "syn_lost", "--svg", svg, "--html", html, "--pcap", pcap)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "== syn_lost: the SYN is lost three times ==" in out
    assert "SYN 0 (rtx)" in out
    assert "client connected at 3.020 s" in out
    assert f"svg written to {svg}" in out
    net = get("syn_lost").run().net
    assert f"trace digest: {net.trace.digest()[:16]}" in out
    sent = [
        (round(r.time, 6), r.segment.seq, r.segment.flags)
        for r in net.trace
        if r.kind == SEND and r.segment
    ]
    assert [(t, seg.seq, seg.flags) for t, seg in read_pcap(pcap)] == sent
    assert ET.parse(svg).getroot().tag == "{http://www.w3.org/2000/svg}svg"
    page = html.read_text()
    assert "syn_lost: the SYN is lost three times" in page
    assert "<svg" in page


def test_several_scenarios_and_rows() -> None:
    result = cli("scenario", "close_four_way", "close_three_way", "--rows", "3")
    assert result.returncode == 0, result.stderr
    blocks = result.stdout.split("== ")[1:]
    assert [b.split(":")[0] for b in blocks] == ["close_four_way", "close_three_way"]
    # a header and 3 rows, then the digest
    assert all(len(b.splitlines()) == 1 + 1 + 3 + 1 + 1 for b in blocks)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "the following arguments are required: COMMAND"),
        (("scenario",), "the following arguments are required: NAME"),
        (("scenario", "nope"), "unknown scenario 'nope'; known scenarios: syn_lost, "),
        (("scenario", "syn_lost", "--rows", "0"), "expected a number >= 1 or 'all', got '0'"),
        (("scenario", "syn_lost", "close_four_way", "--svg", "x.svg"), "name only one"),
        (("frobnicate",), "invalid choice: 'frobnicate'"),
    ],
)
def test_misuse_exits_2_with_a_usage_message(args: tuple[str, ...], message: str) -> None:
    result = cli(*args)
    assert result.returncode == 2
    assert result.stderr.startswith("usage: python -m aiotcpsim")
    assert message in result.stderr
    assert result.stdout == ""


def test_unknown_scenario_lists_every_known_one() -> None:
    result = cli("scenario", "syn_lots")
    assert all(name in result.stderr for name in SCENARIOS)


def test_demo_keeps_working(tmp_path: pathlib.Path) -> None:
    pcap = tmp_path / "demo.pcap"
    result = cli("demo", "--seed", "7", "--pcap", pcap, "--svg", tmp_path / "demo.svg")
    assert result.returncode == 0, result.stderr
    assert "aiotcpsim demo: client 10.0.0.1 <-> server 10.0.0.2:8080" in result.stdout
    assert f"pcap written to {pcap}" in result.stdout
    assert read_pcap(pcap)
    assert (tmp_path / "demo.svg").read_text().startswith("<svg")


def test_every_scenario_runs_from_the_command_line() -> None:
    result = cli("scenario", *SCENARIOS, "--rows", "all")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("trace digest: ") == len(SCENARIOS)
