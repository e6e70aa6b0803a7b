"""Textbook 11: ephemeral ports exhausted by TIME-WAIT (port_exhaustion).

The scenario lives in ``aiotcpsim/scenarios/port_exhaustion.py``, where the tests assert
on it; this runs it and prints its ladder, as
``python -m aiotcpsim scenario port_exhaustion`` does.

Run: ``python examples/port_exhaustion.py`` (options: ``python -m aiotcpsim scenario --help``)
"""

import sys

from aiotcpsim.__main__ import main

if __name__ == "__main__":
    main(["scenario", "port_exhaustion", *sys.argv[1:]])
