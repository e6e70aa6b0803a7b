"""The pytest plugin's failure reports: artifacts, ladders per connection, replay
commands (aiotcpsim.pytest_plugin, exercised through pytester)."""

from __future__ import annotations

import pathlib
import re
import shlex
import xml.etree.ElementTree as ET
from collections.abc import Callable
from importlib.metadata import entry_points

import pytest

from aiotcpsim.pcap import read_pcap

pytest_plugins = ["pytester"]

ENTRY_POINT_INSTALLED = any(
    ep.name == "aiotcpsim" and ep.value == "aiotcpsim.pytest_plugin"
    for ep in entry_points(group="pytest11")
)
PLUGIN_ARGS = [] if ENTRY_POINT_INSTALLED else ["-p", "aiotcpsim.pytest_plugin"]
INI = """
[pytest]
asyncio_default_fixture_loop_scope = function
"""

# Two connections that interleave; the first loses its SYN once, the second
# has a data segment delayed by half a second and one duplicated.
TWO_CONNECTIONS = """
import pytest

@pytest.mark.tcpsim(seed=8, delay=0.01, hosts=["client", "server"])
def test_two_connections(tcpsim):
    client, server = tcpsim.host("client"), tcpsim.host("server")
    listener = server.listen(80)
    tcpsim.faults.drop(flags="SYN", count=1)
    first = client.connect("server", 80)
    tcpsim.advance(0.5)
    second = client.connect("server", 80)
    tcpsim.run_until_idle(limit=2.0)
    tcpsim.faults.delay(0.5, src="client", payload=True, nth=2, count=1)
    tcpsim.faults.duplicate(src="client", payload=True, nth=4, count=1)
    for _ in range(30):
        second.send(b"x" * 100, tcpsim.now)
        tcpsim.advance(tcpsim.now + 0.05)
    assert False, "on purpose"
"""


def _section(result: pytest.RunResult) -> str:
    lines = result.stdout.lines
    start = next(i for i, line in enumerate(lines) if "aiotcpsim (seed" in line)
    end = next(
        (i for i in range(start + 1, len(lines)) if lines[i].startswith(("___", "===", "---"))),
        len(lines),
    )
    return "\n".join(lines[start:end])


def _artifacts(section: str) -> pathlib.Path:
    match = re.search(r"^artifacts: (\S+)/ \(", section, re.MULTILINE)
    assert match is not None, section
    return pathlib.Path(match.group(1))


@pytest.fixture
def run(pytester: pytest.Pytester) -> Callable[..., pytest.RunResult]:
    pytester.makeini(INI)

    def run(source: str, *args: str) -> pytest.RunResult:
        pytester.makepyfile(source)
        return pytester.runpytest(*PLUGIN_ARGS, "--strict-markers", "-p", "no:cacheprovider", *args)

    return run


def test_failure_writes_the_artifacts_into_the_directory_it_prints(
    run: Callable[..., pytest.RunResult], pytester: pytest.Pytester
) -> None:
    result = run(TWO_CONNECTIONS, "--tcpsim-artifacts=arts")
    result.assert_outcomes(failed=1)
    section = _section(result)
    where = _artifacts(section)
    assert (
        where
        == pytester.path
        / "arts"
        / "test_failure_writes_the_artifacts_into_the_directory_it_prints.py_test_two_connections"
    )
    assert "(trace.txt, ladder.txt, trace.pcap, ladder.svg, report.html)" in section
    text = (where / "trace.txt").read_text().splitlines()
    assert text[0].endswith("::test_two_connections (seed 8)")
    records = [line for line in text if re.match(r"^ +\d+\.\d{6} ", line)]
    kept = re.search(r"^trace: (\d+) records$", section, re.MULTILINE)  # nothing dropped
    assert kept is not None and len(records) == int(kept.group(1))
    assert "connection 2 of 2" in (where / "ladder.txt").read_text()
    sent = [line for line in records if " send " in line]
    assert len(read_pcap(where / "trace.pcap")) == len(sent)
    assert ET.parse(where / "ladder.svg").getroot().tag == "{http://www.w3.org/2000/svg}svg"
    assert "test_two_connections (seed 8)" in (where / "report.html").read_text()

    # By default, under pytest's base temporary directory; 'off' writes nothing.
    result = run(TWO_CONNECTIONS, f"--basetemp={pytester.path / 'bt'}")
    assert _artifacts(_section(result)).parent == pytester.path / "bt" / "tcpsim-artifacts"
    # 'off' writes nothing; a ladder of 0 rows is none
    result = run(TWO_CONNECTIONS, "--tcpsim-artifacts=off", "--tcpsim-ladder=0")
    section = _section(result)
    assert "artifacts:" not in section
    assert "connection 1 of 2" not in section


def test_ladder_per_connection_with_ports_and_marks(
    run: Callable[..., pytest.RunResult],
) -> None:
    result = run(TWO_CONNECTIONS)
    section = _section(result)
    titles = re.findall(r"^connection \d of 2: .*$", section, re.MULTILINE)
    assert len(titles) == 2
    for title in titles:
        assert re.match(
            r"connection \d of 2: client 10\.0\.0\.\d:\d+ <-> server 10\.0\.0\.\d:80 \(", title
        )
    first, second = section.split("connection 2 of 2")
    assert "SYN 0 lost: dropped by rule" in first and "--X" in first
    assert "delayed +0.5 s" in second
    assert "+dup" in second
    assert "(rtx)" in second

    result = run(TWO_CONNECTIONS, "--tcpsim-ladder=5")
    section = _section(result)
    assert re.search(r"connection 2 of 2: .* \(5 of \d+ rows\)", section)
    assert "rows not shown ..." in section
    assert "ladder per connection (at most 5 rows each, those that matter first;" in section

    result = run(TWO_CONNECTIONS, "--tcpsim-ladder=some")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--tcpsim-ladder*expected a number >= 0 or 'all', got 'some'*"])


def test_report_says_when_the_bounded_trace_dropped_older_records(
    run: Callable[..., pytest.RunResult],
) -> None:
    result = run(TWO_CONNECTIONS.replace("seed=8,", "seed=8, trace_limit=20,"))
    section = _section(result)
    assert (
        "trace: 20 records, its limit: older records were dropped; "
        "@pytest.mark.tcpsim(trace='full') keeps them all"
    ) in section
    result = run(TWO_CONNECTIONS.replace("seed=8,", "seed=8, trace=False,"))
    section = _section(result)
    assert "trace: off, nothing recorded (@pytest.mark.tcpsim(trace=False))" in section
    assert "no trace records" in section


def test_the_replay_command_runs_the_test_again_from_where_pytest_started(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makeini(INI)
    sub = pytester.mkdir("sub")
    (sub / "test_again.py").write_text(
        "import pytest\n\n"
        "@pytest.mark.parametrize('n', ['a b'])\n"
        "def test_seeded(tcpsim, n):\n"
        "    assert False, f'seed {tcpsim.seed}'\n"
    )
    monkeypatch.chdir(sub)
    result = pytester.runpytest(*PLUGIN_ARGS, "-p", "no:cacheprovider", "--tcpsim-seed=5")
    result.assert_outcomes(failed=1)
    line = next(x for x in _section(result).splitlines() if x.startswith("replay: "))
    words = shlex.split(line.removeprefix("replay: "))
    assert words == ["pytest", *PLUGIN_ARGS, "test_again.py::test_seeded[a b]", "--tcpsim-seed=5"]
    again = pytester.runpytest(*words[1:], "-p", "no:cacheprovider")
    again.assert_outcomes(failed=1)
    again.stdout.fnmatch_lines(["*AssertionError: seed 5"])


def test_pictures_of_a_run_with_many_connections_keep_the_most_recent(
    run: Callable[..., pytest.RunResult],
) -> None:
    result = run(
        """
        import pytest

        @pytest.mark.tcpsim(hosts=["client", "server"])
        def test_eight_connections(tcpsim):
            tcpsim.host("server").listen(80)
            for _ in range(8):
                tcpsim.host("client").connect("server", 80)
                tcpsim.advance(tcpsim.now + 1.0)
            assert False
        """,
        "--tcpsim-ladder=2",
    )
    section = _section(result)
    assert "the pictures: the 6 most recently active of 8 connections)" in section
    assert "... and 2 older connection(s) not shown: " in section
    where = _artifacts(section)
    svg = (where / "ladder.svg").read_text()
    assert "the 6 most recently active of 8 connections" in svg
    assert len(re.findall(r'class="column"', svg)) == 7  # the server's port, 6 clients'
    assert (where / "ladder.txt").read_text().count("connection ") >= 8
