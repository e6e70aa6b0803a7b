"""aiotcpsim: a simulated TCP for async Python, on virtual time.

The public API is what this module exports (``__all__``); everything else is
private.  ``import aiotcpsim`` imports neither trio nor anyio.
"""

from __future__ import annotations

from .config import TcpConfig
from .connection import Connection, State
from .host import Host, Listener
from .network import Link, Network
from .segment import Flags, Segment, TcpOptions
from .trace import Trace, TraceRecord

__all__ = [
    "Connection",
    "Flags",
    "Host",
    "Link",
    "Listener",
    "Network",
    "Segment",
    "State",
    "TcpConfig",
    "TcpOptions",
    "Trace",
    "TraceRecord",
]
__version__ = "0.1.0"
