"""Textbook 12: the peer crashes (crash_write, crash_restarted, crash_keepalive).

The scenario lives in ``aiotcpsim/scenarios/peer_crash.py``, where the tests assert
on it; this runs it and prints its ladder, as
``python -m aiotcpsim scenario crash_write crash_restarted crash_keepalive`` does.

Run: ``python examples/peer_crash.py`` (options: ``python -m aiotcpsim scenario --help``)
"""

import sys

from aiotcpsim.__main__ import main

if __name__ == "__main__":
    main(["scenario", "crash_write", "crash_restarted", "crash_keepalive", *sys.argv[1:]])
