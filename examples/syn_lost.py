"""Textbook 1: the SYN is lost (syn_lost).

The scenario lives in ``aiotcpsim/scenarios/syn_lost.py``, where the tests assert
on it; this runs it and prints its ladder, as
``python -m aiotcpsim scenario syn_lost`` does.

Run: ``python examples/syn_lost.py`` (options: ``python -m aiotcpsim scenario --help``)
"""

import sys

from aiotcpsim.__main__ import main

if __name__ == "__main__":
    main(["scenario", "syn_lost", *sys.argv[1:]])
