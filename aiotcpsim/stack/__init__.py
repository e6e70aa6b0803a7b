"""The host stack: the layer between the TCBs and the network.

:mod:`aiotcpsim.stack.host` holds :class:`Host` and :class:`Listener`, and
the small interface a host needs from the network it is attached to
(:class:`NetworkPort`).  Nothing here imports the network.
"""

from __future__ import annotations

from .host import Host, Listener, ListenerUser, NetworkPort

__all__ = ["Host", "Listener", "ListenerUser", "NetworkPort"]
