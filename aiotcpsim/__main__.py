"""Command line: ``python -m aiotcpsim demo [--seed N] [--pcap FILE]``."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help"):
        print("usage: python -m aiotcpsim demo [--seed N] [--pcap FILE]")
        return 0 if args else 2
    if args[0] == "demo":
        from .demo import main as demo_main

        return demo_main(args[1:])
    print(f"unknown command {args[0]!r}; try: python -m aiotcpsim demo", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
