"""aiotcpsim: a simulated TCP for async Python, on virtual time.

The public API is what this module exports (``__all__``); everything else is
private.  ``import aiotcpsim`` imports neither asyncio adapters, trio nor
anyio: the asyncio names (:func:`run`, :func:`loop_factory`,
:class:`VirtualTimeLoop`, :class:`DeadlockError`, :func:`attach`) load on
first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .config import TcpConfig
from .errors import LocalhostWarning
from .net import GilbertElliott, Link, Network
from .net.faults import Faults, LinkHold, Partition, Rule
from .pcap import read_pcap, write_pcap
from .segment import Flags, Segment, SegmentDecodeError, TcpOptions
from .stack import Host, Listener
from .tcp import Connection, State
from .trace import Trace, TraceRecord

if TYPE_CHECKING:
    from .asyncio_loop import DeadlockError, VirtualTimeLoop, attach, loop_factory, run

__all__ = [
    "Connection",
    "DeadlockError",
    "Faults",
    "Flags",
    "GilbertElliott",
    "Host",
    "Link",
    "LinkHold",
    "Listener",
    "LocalhostWarning",
    "Network",
    "Partition",
    "Rule",
    "Segment",
    "SegmentDecodeError",
    "State",
    "TcpConfig",
    "TcpOptions",
    "Trace",
    "TraceRecord",
    "VirtualTimeLoop",
    "attach",
    "loop_factory",
    "read_pcap",
    "run",
    "write_pcap",
]
__version__ = "0.1.0"

_ASYNCIO_NAMES = frozenset({"DeadlockError", "VirtualTimeLoop", "attach", "loop_factory", "run"})


def __getattr__(name: str) -> Any:
    if name in _ASYNCIO_NAMES:
        from . import asyncio_loop

        value = getattr(asyncio_loop, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'aiotcpsim' has no attribute {name!r}")
