"""The command line, ``python -m aiotcpsim``.

Rule owned here: **what the command line accepts and prints**.  Two commands:

* ``python -m aiotcpsim demo [--seed N] [--pcap F] [--svg F] [--html F]``:
  one connection with a lost segment, half-close and TIME-WAIT
  (:mod:`aiotcpsim.demo`);
* ``python -m aiotcpsim scenario list`` lists the textbook scenarios
  (:mod:`aiotcpsim.scenarios`), and
  ``python -m aiotcpsim scenario NAME... [--rows N|all] [--pcap F] [--svg F] [--html F]``
  runs them, printing each one's ladder diagram, and writes the pictures
  (``Trace.to_svg``, ``Network.to_html``) and the capture (``Trace.to_pcap``)
  of a single scenario.

A failing pytest test is replayed by the command its failure report prints
(``pytest 'tests/x.py::test_y' --tcpsim-seed=N``).  Misuse exits with status
2 and a usage message, as argparse does; an unknown scenario name is
answered with the list of known ones.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .net import Network

__all__ = ["main", "parser"]


def _rows(text: str) -> int | None:
    if text == "all":
        return None
    try:
        rows = int(text)
    except ValueError:
        rows = 0
    if rows < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1 or 'all', got {text!r}")
    return rows


def _add_outputs(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--pcap", metavar="FILE", help="write the segments as a pcap capture")
    sub.add_argument("--svg", metavar="FILE", help="write the ladder diagram as an SVG picture")
    sub.add_argument(
        "--html", metavar="FILE", help="write an HTML report (ladder, statistics, plots)"
    )


def parser() -> argparse.ArgumentParser:
    """The command line's argument parser."""
    return _parsers()[0]


def _parsers() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """The command line's parser and its ``scenario`` command's (for its errors)."""
    top = argparse.ArgumentParser(
        prog="python -m aiotcpsim",
        description="aiotcpsim: a simulated TCP on virtual time, segment by segment.",
        epilog="A failing pytest test is replayed by the command its aiotcpsim report "
        "prints: pytest 'tests/x.py::test_y' --tcpsim-seed=N.",
    )
    commands = top.add_subparsers(dest="command", metavar="COMMAND", required=True)
    demo = commands.add_parser("demo", help="one connection: a lost segment, half-close, TIME-WAIT")
    demo.add_argument("--seed", type=int, default=7, help="the network's seed (default 7)")
    _add_outputs(demo)
    scenario = commands.add_parser(
        "scenario",
        help="run textbook scenarios ('scenario list' names them)",
        description="Run textbook scenarios and print their ladder diagrams.",
        epilog="example: python -m aiotcpsim scenario syn_lost --svg syn.svg --pcap syn.pcap",
    )
    scenario.add_argument(
        "names", nargs="+", metavar="NAME", help="scenario names, or 'list' to list them"
    )
    scenario.add_argument(
        "--rows",
        type=_rows,
        default=0,
        metavar="N|all",
        help="rows of each ladder to print (default: the scenario's own choice)",
    )
    _add_outputs(scenario)
    return top, scenario


def _write_files(net: Network, args: argparse.Namespace, title: str) -> None:
    if args.pcap:
        net.trace.to_pcap(args.pcap)
        print(f"pcap written to {args.pcap}")
    if args.svg:
        net.trace.to_svg(args.svg, title=title)
        print(f"svg written to {args.svg}")
    if args.html:
        net.to_html(args.html, title=title)
        print(f"html written to {args.html}")


def _list_scenarios() -> None:
    from .scenarios import SCENARIOS

    width = max(len(name) for name in SCENARIOS)
    for name, scenario in SCENARIOS.items():
        print(f"{name:<{width}}  {scenario.title}")


def _run_scenarios(sub: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from .scenarios import SCENARIOS

    unknown = [name for name in args.names if name not in SCENARIOS]
    if unknown:
        sub.error(
            f"unknown scenario {', '.join(map(repr, unknown))}; "
            f"known scenarios: {', '.join(SCENARIOS)} (or 'list')"
        )
    if len(args.names) > 1 and (args.pcap or args.svg or args.html):
        sub.error("--pcap, --svg and --html write the files of one scenario: name only one")
    for name in args.names:
        scenario = SCENARIOS[name]
        run = scenario.run()
        net: Network = run.net
        rows = scenario.last if args.rows == 0 else args.rows
        print(f"== {name}: {scenario.title} ==")
        print(net.trace.ladder(left="client", right="server", last=rows))
        if scenario.summary is not None:
            print(scenario.summary(run))
        print(f"trace digest: {net.trace.digest()[:16]}")
        _write_files(net, args, f"{name}: {scenario.title}")
        print()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    top, scenario = _parsers()
    args = top.parse_args(argv)
    if args.command == "demo":
        from .demo import run_demo, show

        net = run_demo(args.seed)
        show(net)
        _write_files(net, args, "aiotcpsim demo")
        return 0
    if args.names == ["list"]:
        _list_scenarios()
        return 0
    return _run_scenarios(scenario, args)


if __name__ == "__main__":
    sys.exit(main())
