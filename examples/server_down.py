"""Textbook 2: the server is down (server_down, server_down_legacy, server_down_reject).

The scenario lives in ``aiotcpsim/scenarios/server_down.py``, where the tests assert
on it; this runs it and prints its ladder, as
``python -m aiotcpsim scenario server_down server_down_legacy server_down_reject`` does.

Run: ``python examples/server_down.py`` (options: ``python -m aiotcpsim scenario --help``)
"""

import sys

from aiotcpsim.__main__ import main

if __name__ == "__main__":
    main(["scenario", "server_down", "server_down_legacy", "server_down_reject", *sys.argv[1:]])
