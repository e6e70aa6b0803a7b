"""What runs the applications of a network's hosts, as the network sees it.

This module owns the contract between a network and the adapters that start
and end the hosts' applications; the host stack below it knows nothing of them.
"""

from __future__ import annotations

from typing import Protocol

from .host import App, Host

__all__ = ["HostWatcher"]


class HostWatcher(Protocol):
    """What runs the applications of a network's hosts (the asyncio and trio
    adapters): told when a host crashes, asked to start an application.

    Registered with :meth:`Network.watch_hosts <aiotcpsim.net.network.BaseNetwork.watch_hosts>`.
    """

    def host_crashed(self, host: Host) -> None:
        """End the application of ``host``: its tasks, servers and sockets.

        Called after its TCBs vanished, so closing a socket sends nothing."""

    def start_app(self, host: Host, app: App) -> None:
        """Start ``app()`` as a task running on ``host``."""
