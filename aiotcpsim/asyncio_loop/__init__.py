"""The asyncio adapter: a virtual-time event loop and TCP over the simulated network.

Rule owned here: the adapter's public names are those listed below (``__all__``);
the underscore modules are its private parts.

- :func:`run` -- like ``asyncio.run``, on a :class:`VirtualTimeLoop` driving a network.
- :func:`loop_factory` -- for ``asyncio.Runner(loop_factory=...)`` and pytest-asyncio.
- :class:`DeadlockError` -- raised instead of hanging when no task can ever wake.
- Real-time mode, on any loop: :func:`attach` drives a network with the loop's
  own clock, :func:`install` routes the loop's TCP methods to the network.
- :class:`SimTransport`, :class:`SimServer`, :class:`SimSocket` -- what
  ``create_connection`` / ``create_server`` / ``get_extra_info("socket")`` return.

Map of the package (each module opens with the rule it owns):

- ``_driver``: the one place the network clock moves; one loop timer at the
  network's next deadline.
- ``_loop``: the virtual-time loop, when its clock jumps.
- ``_apps``: which host a task runs on; a host's crash cancels its tasks and
  closes its servers and transports; ``restart(host, app=)`` starts an app.
- ``_install``: which loop methods reach the network (the virtual-time loop's
  mixin and :func:`install` share one table of routes).
- ``_resolve`` (getaddrinfo/getnameinfo), ``_connect`` (create_connection,
  sock_connect), ``_serve`` (create_server, sock_accept,
  connect_accepted_socket), ``_sockcalls`` (sock_recv, sock_sendall...).
- ``_socket`` (SimSocket, the registry of real sockets), ``_transport``
  (SimTransport), ``_server`` (SimServer).
- Shared with the trio adapter: ``aiotcpsim._sockets`` (options, errno
  errors, IPv4 literals), ``aiotcpsim._readiness`` (readability, the
  ``fileno()`` descriptor).
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
