"""Textbook 10: half-close (half_close).

The scenario lives in ``aiotcpsim/scenarios/half_close.py``, where the tests assert
on it; this runs it and prints its ladder, as
``python -m aiotcpsim scenario half_close`` does.

Run: ``python examples/half_close.py`` (options: ``python -m aiotcpsim scenario --help``)
"""

import sys

from aiotcpsim.__main__ import main

if __name__ == "__main__":
    main(["scenario", "half_close", *sys.argv[1:]])
