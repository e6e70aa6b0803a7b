"""Textbook 4: an old duplicate SYN (old_duplicate_syn).

The scenario lives in ``aiotcpsim/scenarios/old_duplicate_syn.py``, where the tests assert
on it; this runs it and prints its ladder, as
``python -m aiotcpsim scenario old_duplicate_syn`` does.

Run: ``python examples/old_duplicate_syn.py`` (options: ``python -m aiotcpsim scenario --help``)
"""

import sys

from aiotcpsim.__main__ import main

if __name__ == "__main__":
    main(["scenario", "old_duplicate_syn", *sys.argv[1:]])
