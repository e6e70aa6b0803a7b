"""Textbook 5: simultaneous open and close (simultaneous).

The scenario lives in ``aiotcpsim/scenarios/simultaneous.py``, where the tests assert
on it; this runs it and prints its ladder, as
``python -m aiotcpsim scenario simultaneous`` does.

Run: ``python examples/simultaneous.py`` (options: ``python -m aiotcpsim scenario --help``)
"""

import sys

from aiotcpsim.__main__ import main

if __name__ == "__main__":
    main(["scenario", "simultaneous", *sys.argv[1:]])
