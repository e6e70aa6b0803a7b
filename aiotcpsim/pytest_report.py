"""What a failing test's report says, and which files it leaves behind.

Rule owned here: **the failure report** of the pytest plugin
(:mod:`aiotcpsim.pytest_plugin` calls these functions from its hooks).  On a
failure of a test that has a network, the report section says the seed and
the command that replays it, writes the run's artifacts (every trace record
as text, the per-connection ladders in full, a pcap, an SVG ladder and an
HTML report) into a directory it names, says whether the bounded trace
dropped older records, and shows per connection the ladder rows that matter
(:mod:`aiotcpsim.pictures.text` owns that choice).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import re
import tempfile
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from .pytest_sweeps import replay_command

if TYPE_CHECKING:
    from aiotcpsim.net import Network
    from aiotcpsim.trace import TraceRecord

__all__ = [
    "ARTIFACTS_DIR",
    "ARTIFACTS_OFF",
    "LADDER_ROWS",
    "add_options",
    "artifacts_dir",
    "ladder_rows",
    "ladder_text",
    "report_text",
    "trace_kept",
    "write_artifacts",
]

LADDER_ROWS = 40
"""Default of ``--tcpsim-ladder``: ladder rows per connection in a failure report."""
ARTIFACTS_OFF = "off"
ARTIFACTS_DIR = "tcpsim-artifacts"


def ladder_rows(text: str) -> int | None:
    """``--tcpsim-ladder`` value: N >= 0 rows per connection, or ``all`` (None)."""
    if text == "all":
        return None
    try:
        rows = int(text)
    except ValueError:
        rows = -1
    if rows < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0 or 'all', got {text!r}")
    return rows


def add_options(group: pytest.OptionGroup) -> None:
    """Add ``--tcpsim-artifacts`` and ``--tcpsim-ladder`` to the plugin's option group."""
    group.addoption(
        "--tcpsim-artifacts",
        dest="tcpsim_artifacts",
        default=None,
        metavar="DIR",
        help="directory where a failing test's trace, pcap, SVG and HTML report are "
        f"written, one subdirectory per test (default: {ARTIFACTS_DIR}/ under pytest's "
        f"base temporary directory; '{ARTIFACTS_OFF}': write none)",
    )
    group.addoption(
        "--tcpsim-ladder",
        dest="tcpsim_ladder",
        default=LADDER_ROWS,
        type=ladder_rows,
        metavar="N|all",
        help="ladder rows per connection in a failure report, the rows that matter "
        f"first (default {LADDER_ROWS}; 0: no ladder; all: every row of every connection)",
    )


def artifacts_dir(item: pytest.Item, option: str | None) -> pathlib.Path | None:
    if option == ARTIFACTS_OFF:
        return None
    if option is not None:
        root = pathlib.Path(option)
        if not root.is_absolute():
            root = item.config.invocation_params.dir / root
    else:
        factory = getattr(item, "funcargs", {}).get("tmp_path_factory")
        if isinstance(factory, pytest.TempPathFactory):
            root = factory.getbasetemp() / ARTIFACTS_DIR
        else:  # the test failed before its fixtures were set up
            root = pathlib.Path(tempfile.mkdtemp(prefix="tcpsim-artifacts-"))
    name = re.sub(r"[^\w.=-]+", "_", item.nodeid).strip("_")[:120] or "test"
    return root / name


class _Excerpt:
    """Some of a run's records with the whole run's statistics, for a picture."""

    def __init__(self, records: list[TraceRecord], stats: dict[str, int]) -> None:
        self.records = records
        self.stats = stats

    def statistics(self) -> dict[str, int]:
        return dict(self.stats)


def write_artifacts(item: pytest.Item, network: Network, where: pathlib.Path) -> list[str]:
    """Write the run's files into ``where``; the names written, the errors met,
    and what the pictures leave out.

    The text files and the pcap hold the whole trace; the SVG ladder and the
    HTML report, whose size grows with the connections drawn side by side,
    hold the :data:`~aiotcpsim.pictures.text.CONNECTIONS` most recently
    active connections when there are more.
    """
    from aiotcpsim.pictures import (
        connections,
        recent_connections,
        records_of,
        text_ladders,
        write_html,
        write_svg,
    )
    from aiotcpsim.pictures.text import CONNECTIONS

    where.mkdir(parents=True, exist_ok=True)
    title = f"{item.nodeid} (seed {network.seed})"
    records = network.trace.records
    header = [title, f"virtual time: {network.now:.6f} s", trace_kept(network), ""]
    every, recent = len(connections(records)), recent_connections(records, CONNECTIONS)
    drawn: object = network
    if len(recent) < every:
        drawn = _Excerpt(records_of(records, recent), network.statistics())
        title += f", the {len(recent)} most recently active of {every} connections"
    writers: list[tuple[str, Callable[[pathlib.Path], object]]] = [
        ("trace.txt", lambda p: p.write_text("\n".join([*header, *map(str, records)]) + "\n")),
        (
            "ladder.txt",
            lambda p: p.write_text(
                "\n".join(header) + text_ladders(records, rows=None, connections_shown=None) + "\n"
            ),
        ),
        ("trace.pcap", network.trace.to_pcap),
        ("ladder.svg", lambda p: write_svg(p, drawn, title=title)),
        ("report.html", lambda p: write_html(p, drawn, title=title)),
    ]
    done: list[str] = []
    for name, write in writers:
        try:
            write(where / name)
        except Exception as exc:  # one file's failure must not hide the others or the test's
            done.append(f"{name} failed: {exc!r}")
        else:
            done.append(name)
    if len(recent) < every:
        done.append(f"the pictures: the {len(recent)} most recently active of {every} connections")
    return done


def trace_kept(network: Network) -> str:
    """One line on how much of the run the trace holds.

    The trace is a ring (``trace_limit``, 10,000 records by default): once
    full, each new record pushes out the oldest.
    """
    trace = network.trace
    if not trace.enabled:
        return "trace: off, nothing recorded (@pytest.mark.tcpsim(trace=False))"
    kept = f"trace: {len(trace)} records"
    if trace.limit is not None and len(trace) >= trace.limit:
        return (
            f"{kept}, its limit: older records were dropped; "
            f"@pytest.mark.tcpsim(trace='full') keeps them all"
        )
    return kept


def ladder_text(network: Network, rows: int | None) -> str:
    from aiotcpsim.pictures import text_ladders

    try:
        text = text_ladders(network.trace.records, rows=rows)
    except Exception as exc:  # the report must not hide the test's own failure
        return f"ladder failed: {exc!r}"
    shown = "every row" if rows is None else f"at most {rows} rows each, those that matter first"
    return f"ladder per connection ({shown}; --tcpsim-ladder=N|all):\n{text}"


def report_text(item: pytest.Item, network: Network) -> str:
    config = item.config
    lines = [
        f"seed: {network.seed}   virtual time: {network.now:.6f} s",
        f"replay: {replay_command(item, network.seed)}",
    ]
    where = artifacts_dir(item, config.getoption("tcpsim_artifacts", None))
    if where is not None:
        try:
            written = write_artifacts(item, network, where)
        except OSError as exc:
            lines.append(f"artifacts: could not write {where}: {exc}")
        else:
            lines.append(f"artifacts: {where}{os.sep} ({', '.join(written)})")
    lines.append(trace_kept(network))
    rows = config.getoption("tcpsim_ladder", LADDER_ROWS)
    if rows != 0:
        lines += ["", ladder_text(network, rows)]
    return "\n".join(lines)
