"""The asyncio adapter: a virtual-time event loop and TCP over the simulated network.

- :func:`run` -- like ``asyncio.run``, on a :class:`VirtualTimeLoop` driving a network.
- :func:`loop_factory` -- for ``asyncio.Runner(loop_factory=...)`` and pytest-asyncio.
- :class:`DeadlockError` -- raised instead of hanging when no task can ever wake.
- Real-time mode, on any loop: :func:`attach` drives a network with the loop's
  own clock, :func:`install` routes the loop's TCP methods to the network.
- :class:`SimTransport`, :class:`SimServer`, :class:`SimSocket` -- what
  ``create_connection`` / ``create_server`` / ``get_extra_info("socket")`` return.
"""

from __future__ import annotations

from ._driver import NetworkDriver, attach
from ._install import NetworkLoopMixin, install
from ._loop import DeadlockError, VirtualTimeLoop, loop_factory, run
from ._server import SimServer
from ._socket import SimSocket
from ._transport import SimTransport

__all__ = [
    "DeadlockError",
    "NetworkDriver",
    "NetworkLoopMixin",
    "SimServer",
    "SimSocket",
    "SimTransport",
    "VirtualTimeLoop",
    "attach",
    "install",
    "loop_factory",
    "run",
]
