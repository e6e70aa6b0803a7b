"""Textbook 8: without TIME-WAIT (no_time_wait, time_wait).

The scenario lives in ``aiotcpsim/scenarios/no_time_wait.py``, where the tests assert
on it; this runs it and prints its ladder, as
``python -m aiotcpsim scenario no_time_wait time_wait`` does.

Run: ``python examples/no_time_wait.py`` (options: ``python -m aiotcpsim scenario --help``)
"""

import sys

from aiotcpsim.__main__ import main

if __name__ == "__main__":
    main(["scenario", "no_time_wait", "time_wait", *sys.argv[1:]])
