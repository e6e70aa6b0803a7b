"""Textbook 6: the four-way close, and the three-segment close (close_four_way, close_three_way).

The scenario lives in ``aiotcpsim/scenarios/close.py``, where the tests assert
on it; this runs it and prints its ladder, as
``python -m aiotcpsim scenario close_four_way close_three_way`` does.

Run: ``python examples/close.py`` (options: ``python -m aiotcpsim scenario --help``)
"""

import sys

from aiotcpsim.__main__ import main

if __name__ == "__main__":
    main(["scenario", "close_four_way", "close_three_way", *sys.argv[1:]])
