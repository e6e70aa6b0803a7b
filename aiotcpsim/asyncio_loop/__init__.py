"""The asyncio adapter: a virtual-time event loop and TCP over the simulated network.

- :func:`run` -- like ``asyncio.run``, on a :class:`VirtualTimeLoop` driving a network.
- :func:`loop_factory` -- for ``asyncio.Runner(loop_factory=...)`` and pytest-asyncio.
- :func:`attach` -- drive a network in real time from any running asyncio loop.
- :class:`DeadlockError` -- raised instead of hanging when no task can ever wake.
"""

from __future__ import annotations

from ._driver import NetworkDriver, attach
from ._loop import DeadlockError, VirtualTimeLoop, loop_factory, run
from ._overrides import NetworkLoopMixin

__all__ = [
    "DeadlockError",
    "NetworkDriver",
    "NetworkLoopMixin",
    "VirtualTimeLoop",
    "attach",
    "loop_factory",
    "run",
]
