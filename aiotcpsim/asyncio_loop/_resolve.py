"""Names on the simulated network for the asyncio loop: ``getaddrinfo`` and ``getnameinfo``.

Rule owned here: the loop's ``getaddrinfo``/``getnameinfo`` -- and every host
and port given to ``create_connection``/``create_server``/``sock_connect`` --
are answered by :mod:`aiotcpsim._names` at once, without the executor thread
the stock loop uses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._names import AddrInfo, nameinfo, resolve

if TYPE_CHECKING:
    from .. import Network

__all__ = ["AddrInfo", "getaddrinfo", "getnameinfo", "resolve"]


async def getaddrinfo(
    network: Network,
    host: str | bytes | None,
    port: str | bytes | int | None,
    *,
    family: int = 0,
    type: int = 0,
    proto: int = 0,
    flags: int = 0,
) -> list[AddrInfo]:
    """``loop.getaddrinfo`` on the simulated network (no executor thread)."""
    return resolve(network, host, port, family=family, type=type, proto=proto, flags=flags)


async def getnameinfo(
    network: Network, sockaddr: tuple[str, int] | tuple[str, int, int, int], flags: int = 0
) -> tuple[str, str]:
    """``loop.getnameinfo`` on the simulated network (:func:`aiotcpsim._names.nameinfo`)."""
    return nameinfo(network, sockaddr, flags)
