"""Textbook 13: a partition heals (partition_heals).

The scenario lives in ``aiotcpsim/scenarios/partition_heals.py``, where the tests assert
on it; this runs it and prints its ladder, as
``python -m aiotcpsim scenario partition_heals`` does.

Run: ``python examples/partition_heals.py`` (options: ``python -m aiotcpsim scenario --help``)
"""

import sys

from aiotcpsim.__main__ import main

if __name__ == "__main__":
    main(["scenario", "partition_heals", *sys.argv[1:]])
