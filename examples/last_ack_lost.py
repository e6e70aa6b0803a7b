"""Textbook 7: the final ACK is lost (last_ack_lost).

The scenario lives in ``aiotcpsim/scenarios/last_ack_lost.py``, where the tests assert
on it; this runs it and prints its ladder, as
``python -m aiotcpsim scenario last_ack_lost`` does.

Run: ``python examples/last_ack_lost.py`` (options: ``python -m aiotcpsim scenario --help``)
"""

import sys

from aiotcpsim.__main__ import main

if __name__ == "__main__":
    main(["scenario", "last_ack_lost", *sys.argv[1:]])
