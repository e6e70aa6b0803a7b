"""What the address family changes for a host's sockets.

Rule owned here: which bound addresses overlap, IPv4 against IPv6 included
(a ``::`` socket without ``IPV6_V6ONLY`` is dual-stack, Linux's
``net.ipv6.bindv6only = 0``), and the MSS a connection gets over IPv6 and
over ``::1``.  The host (:mod:`aiotcpsim.stack.host`) asks; addresses are
canonical strings (:mod:`aiotcpsim.addresses`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from ..addresses import WILDCARD6, is_ipv6, is_wildcard

if TYPE_CHECKING:
    from ..config import TcpConfig

__all__ = ["IPV6_EXTRA", "LOOPBACK6_MSS", "config_variants", "overlap"]

IPV6_EXTRA: Final = 20
"""Bytes an IPv6 header takes beyond an IPv4 one (40 - 20): the MSS is that
much smaller (1460 -> 1440 on an Ethernet LAN)."""
LOOPBACK6_MSS: Final = 65464
"""The MSS over ``::1``: Linux's ``lo`` MTU 65536 - 40 (IPv6) - 20 (TCP) - 12
(timestamps), 65476 without them.  IPv4's 65483 is one byte less than the
same sum because an IPv4 packet's 16-bit total length counts its header, which
IPv6's payload length does not."""


def overlap(a: str, a_v6only: bool, b: str, b_v6only: bool) -> bool:
    """Two bound addresses overlap (Linux ``inet_rcv_saddr_equal``): equal, or
    either is the wildcard of the other's family; ``::`` without IPV6_V6ONLY
    also covers every IPv4 address, ``0.0.0.0`` included."""
    if a == b:
        return True
    if is_ipv6(a) == is_ipv6(b):
        return is_wildcard(a) or is_wildcard(b)
    v6, v6only = (a, a_v6only) if is_ipv6(a) else (b, b_v6only)
    return v6 == WILDCARD6 and not v6only


def config_variants(config: TcpConfig) -> tuple[TcpConfig, TcpConfig, TcpConfig, TcpConfig]:
    """``config`` and its variants for a connection over loopback (127.0.0.0/8),
    over IPv6, over ``::1``: the MSS and buffers each path gets."""
    loopback = config.loopback()
    lo6 = LOOPBACK6_MSS if config.loopback_mss >= 65483 else config.loopback_mss - IPV6_EXTRA
    return (
        config,
        loopback,
        config.replace(mss=max(88, config.mss - IPV6_EXTRA)),
        loopback.replace(mss=max(88, lo6)),
    )
