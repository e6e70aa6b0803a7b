"""Network methods of the asyncio loop: create_connection, create_server, getaddrinfo..."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..network import Network


class NetworkLoopMixin:
    """Loop methods that route TCP through ``self.network`` instead of the kernel."""

    network: Network
