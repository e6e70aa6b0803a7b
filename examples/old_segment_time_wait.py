"""Textbook 9: an old segment during TIME-WAIT (old_segment_time_wait, old_segment_rfc1337).

The scenario lives in ``aiotcpsim/scenarios/old_segment_time_wait.py``, where the tests assert
on it; this runs it and prints its ladder, as
``python -m aiotcpsim scenario old_segment_time_wait old_segment_rfc1337`` does.

Run: ``python examples/old_segment_time_wait.py`` (options: ``python -m aiotcpsim scenario --help``)
"""

import sys

from aiotcpsim.__main__ import main

if __name__ == "__main__":
    main(["scenario", "old_segment_time_wait", "old_segment_rfc1337", *sys.argv[1:]])
