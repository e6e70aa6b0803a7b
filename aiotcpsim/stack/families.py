"""What the address family changes for a host's sockets.

Rule owned here: which source address a connection gets (and whether a
host has one of the destination's family), which bound addresses overlap, IPv4 against IPv6 included
(a ``::`` socket without ``IPV6_V6ONLY`` is dual-stack, Linux's
``net.ipv6.bindv6only = 0``), and the MSS a connection gets over IPv6 and
over ``::1``.  The host (:mod:`aiotcpsim.stack.host`) asks; addresses are
canonical strings (:mod:`aiotcpsim.addresses`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from ..addresses import (
    LOOPBACK4,
    LOOPBACK6,
    WILDCARD6,
    is_ipv6,
    is_loopback,
    is_wildcard,
    parse_ip,
    unmapped,
)

if TYPE_CHECKING:
    from ..config import TcpConfig

__all__ = [
    "IPV6_EXTRA",
    "LOOPBACK6_MSS",
    "PathConfigs",
    "TsOffsets",
    "check_port",
    "first_free_port",
    "bound_address",
    "config_variants",
    "has_family",
    "overlap",
    "source_address",
]

IPV6_EXTRA: Final = 20
"""Bytes an IPv6 header takes beyond an IPv4 one (40 - 20): the MSS is that
much smaller (1460 -> 1440 on an Ethernet LAN)."""
LOOPBACK6_MSS: Final = 65476
"""The MSS announced over ``::1``: Linux's ``lo`` MTU 65536 - 40 (IPv6) - 20
(TCP); segments with timestamps carry 12 bytes less, 65464.  IPv4's 65495 is
one byte less than the same sum because an IPv4 packet's 16-bit total length
counts its header, which IPv6's payload length does not."""


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
    lo6 = LOOPBACK6_MSS if config.loopback_mss >= 65495 else config.loopback_mss - IPV6_EXTRA
    return (
        config,
        loopback,
        config.replace(mss=max(88, config.mss - IPV6_EXTRA)),
        loopback.replace(mss=max(88, lo6)),
    )


def has_family(ip: str, local_ip: str | None, own_ipv6: str | None) -> bool:
    """Whether a host with IPv6 address ``own_ipv6`` has a source address for
    ``ip``: always for IPv4 and ``::1``; for another IPv6 address only with an
    IPv6 address of its own (``localhost``'s is ``::1``: it gets an outside one)."""
    if not is_ipv6(ip) or is_loopback(ip) or (local_ip and not is_wildcard(local_ip)):
        return True
    return own_ipv6 is not None


def source_address(
    ip: str,
    local_ip: str | None,
    own_ip: str,
    own_ipv6: str | None,
    outside: Callable[[bool], str],
) -> str:
    """The address a connection to ``ip`` is sent from, by a host with
    addresses ``own_ip``/``own_ipv6``: the bound one, else loopback to
    loopback, else the host's own of ``ip``'s family; a loopback-only host
    (``localhost``) uses ``outside(ipv6)``, the machine's own interface."""
    if local_ip is not None and not is_wildcard(local_ip):
        return local_ip  # a socket bound to an address keeps it (127.0.0.2 too)
    if is_ipv6(ip):
        if ip == LOOPBACK6 or own_ipv6 is None:
            return LOOPBACK6
        return outside(True) if own_ipv6 == LOOPBACK6 else own_ipv6
    if ip.startswith("127."):
        return LOOPBACK4  # Linux's source for any 127.x destination
    return outside(False) if own_ip.startswith("127.") else own_ip


def bound_address(ip: object) -> str:
    """``ip`` (any textual form) canonical, an IPv4-mapped one as IPv4: the
    address a socket binds or a connection is keyed by.

    Raises:
        ValueError: ``ip`` is not an IP address.
    """
    canonical = parse_ip(ip) if isinstance(ip, str) else None
    if canonical is None:
        raise ValueError(f"ip must be an IP address, got {ip!r}")
    return unmapped(canonical)


class PathConfigs:
    """A host's :class:`~aiotcpsim.TcpConfig` per path: over loopback the
    loopback interface's MSS and buffers; over IPv6 an MSS 20 bytes smaller
    (a 40-byte header), :data:`LOOPBACK6_MSS` over ``::1``
    (:func:`config_variants`, made once per host configuration)."""

    def __init__(self) -> None:
        self._cached: tuple[TcpConfig, TcpConfig, TcpConfig, TcpConfig] | None = None

    def config_for(self, config: TcpConfig, ip: str) -> TcpConfig:
        """The configuration of a connection with ``ip`` at one end, on a host
        configured with ``config``."""
        v6 = is_ipv6(ip)
        if not v6 and not ip.startswith("127."):
            return config
        cached = self._cached
        if cached is None or cached[0] is not config:
            cached = self._cached = config_variants(config)
        if not v6:
            return cached[1]
        return cached[3] if is_loopback(ip) else cached[2]


class TsOffsets:
    """The TS clock offsets of a host's connections, one per address pair: a
    hash keyed with the network's seed, as Linux's ``secure_tcp_ts_off`` keys
    its hash of the addresses with a boot-time secret (computed once per pair)."""

    def __init__(self) -> None:
        self._offsets: dict[tuple[str, str], int] = {}

    def offset(self, seed: int, local_ip: str, remote_ip: str) -> int:
        """The offset of connections from ``local_ip`` to ``remote_ip``."""
        pair = (local_ip, remote_ip)
        offset = self._offsets.get(pair)
        if offset is None:
            key = (seed & ((1 << 128) - 1)).to_bytes(16, "big")
            text = f"{local_ip}>{remote_ip}".encode()
            digest = hashlib.blake2b(text, digest_size=4, key=key).digest()
            offset = self._offsets[pair] = int.from_bytes(digest, "big")
        return offset


def check_port(name: str, port: int, *, allow_zero: bool) -> None:
    """A TypeError or ValueError naming ``name`` unless ``port`` is a port number."""
    if not isinstance(port, int) or isinstance(port, bool):
        raise TypeError(f"{name} must be an int, got {port!r}")
    if not (0 if allow_zero else 1) <= port <= 65535:
        raise ValueError(f"{name} must be within {0 if allow_zero else 1}..65535, got {port}")


def first_free_port(low: int, high: int, start: int, taken: Callable[[int], bool]) -> int | None:
    """The first port of ``low..high``, from ``low + start`` round to it again,
    that is not ``taken``; None when every one is."""
    span = high - low + 1
    for i in range(span):
        port = low + (start + i) % span
        if not taken(port):
            return port
    return None
