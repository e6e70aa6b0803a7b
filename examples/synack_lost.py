"""Textbook 3: the SYN-ACK is lost; the third ACK is lost (synack_lost, third_ack_lost).

The scenario lives in ``aiotcpsim/scenarios/synack_lost.py``, where the tests assert
on it; this runs it and prints its ladder, as
``python -m aiotcpsim scenario synack_lost third_ack_lost`` does.

Run: ``python examples/synack_lost.py`` (options: ``python -m aiotcpsim scenario --help``)
"""

import sys

from aiotcpsim.__main__ import main

if __name__ == "__main__":
    main(["scenario", "synack_lost", "third_ack_lost", *sys.argv[1:]])
