"""The host stack: the layer between the TCBs and the network.

:mod:`aiotcpsim.stack.host` holds :class:`Host` (:mod:`aiotcpsim.stack.listener` its
:class:`Listener`), and
the small interface a host needs from the network it is attached to
(:class:`NetworkPort`), and the one the adapters implement to run and end
the hosts' applications (:class:`HostWatcher`, in :mod:`aiotcpsim.stack.watcher`).
Nothing here imports the network.
"""

from __future__ import annotations

from .host import App, Host, NetworkPort
from .listener import Listener, ListenerUser
from .watcher import HostWatcher

__all__ = ["App", "Host", "HostWatcher", "Listener", "ListenerUser", "NetworkPort"]
