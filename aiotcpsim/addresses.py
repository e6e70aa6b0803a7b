"""IP addresses: the one place a text is recognised as an address, and their order.

Rule owned here: an address inside the simulation is a *canonical* string --
IPv4 in dotted quad (``"10.0.0.2"``), IPv6 as ``inet_ntop`` writes it
(``"::1"``, ``"fd00::2"``, ``"::ffff:10.0.0.1"``) -- so that the core compares
4-tuples, routes and listener keys with ``==`` and a dict.  :func:`parse_ip`
turns any textual form into that string (``"0:0:0:0:0:0:0:1"`` -> ``"::1"``,
``"127.000.0.1"`` -> ``"127.0.0.1"``), and nothing else in the package parses
addresses.  A canonical IPv6 address contains ``":"`` and an IPv4 one does
not, which is all :func:`is_ipv6` looks at.

Segments carry IPv4 traffic with IPv4 addresses, even when a dual-stack
(``::``) socket sends or receives it: the IPv4-mapped form ``::ffff:a.b.c.d``
is a socket API spelling (what ``getpeername`` of an AF_INET6 socket shows),
made by :func:`mapped` and undone by :func:`unmapped` in the adapters.

:func:`sort_destinations` orders the addresses of a name as glibc's
``getaddrinfo`` does (RFC 6724 section 6, default policy table).
"""

from __future__ import annotations

import socket
from typing import Final

__all__ = [
    "LOOPBACK4",
    "LOOPBACK6",
    "WILDCARD4",
    "WILDCARD6",
    "endpoint",
    "is_ipv6",
    "is_loopback",
    "is_wildcard",
    "mapped",
    "parse_ip",
    "parse_ipv4",
    "parse_ipv6",
    "precedence",
    "sort_destinations",
    "unmapped",
]

WILDCARD4: Final = "0.0.0.0"
"""INADDR_ANY: a socket bound to it takes every IPv4 address of its host."""
WILDCARD6: Final = "::"
"""in6addr_any: every IPv6 address of the host, and every IPv4 one too unless
the socket sets IPV6_V6ONLY (Linux ``net.ipv6.bindv6only = 0``)."""
LOOPBACK4: Final = "127.0.0.1"
LOOPBACK6: Final = "::1"
"""in6addr_loopback: unlike 127.0.0.0/8, a single address."""

_MAPPED_PREFIX: Final = "::ffff:"

_cache4: dict[str, str | None] = {}
_cache6: dict[str, str | None] = {}


def parse_ipv4(text: str) -> str | None:
    """``text`` in canonical form if it is a dotted-quad IPv4 address
    (``"127.000.0.1"`` -> ``"127.0.0.1"``), else None.  Cached: a client
    connects to the same few addresses over and over."""
    if text in _cache4:
        return _cache4[text]
    parts = text.split(".")
    result: str | None = None
    if len(parts) == 4 and all(p.isdigit() and len(p) <= 3 and int(p) < 256 for p in parts):
        result = ".".join(str(int(p)) for p in parts)
    if len(_cache4) < 4096:
        _cache4[text] = result
    return result


def parse_ipv6(text: str) -> str | None:
    """``text`` in canonical form (``inet_ntop``'s) if it is an IPv6 literal
    without a scope (``"0:0:0:0:0:0:0:1"`` -> ``"::1"``), else None."""
    if text in _cache6:
        return _cache6[text]
    result: str | None = None
    if ":" in text and text.isascii():
        try:
            result = socket.inet_ntop(socket.AF_INET6, socket.inet_pton(socket.AF_INET6, text))
        except (OSError, ValueError):
            result = None
    if len(_cache6) < 4096:
        _cache6[text] = result
    return result


def parse_ip(text: str) -> str | None:
    """``text`` in canonical form if it is an IPv4 or IPv6 literal, else None."""
    if ":" in text:
        return parse_ipv6(text)
    return parse_ipv4(text)


def is_ipv6(ip: str) -> bool:
    """Whether the canonical address ``ip`` is an IPv6 one."""
    return ":" in ip


def endpoint(ip: str, port: int) -> str:
    """``ip:port`` as text, an IPv6 address in brackets (``[fd00::2]:80``, RFC
    3986) so that the port stays readable."""
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def is_loopback(ip: str) -> bool:
    """Whether the canonical address ``ip`` is loopback: 127.0.0.0/8 or ``::1``.
    Every host has its own, which no other host reaches."""
    return ip.startswith("127.") or ip == LOOPBACK6


def is_wildcard(ip: str) -> bool:
    """Whether ``ip`` is ``0.0.0.0`` or ``::`` (a bind to any address)."""
    return ip in (WILDCARD4, WILDCARD6)


def mapped(ip: str) -> str:
    """An IPv4 address as an AF_INET6 socket spells it (``::ffff:10.0.0.1``);
    an IPv6 address unchanged."""
    return ip if ":" in ip else _MAPPED_PREFIX + ip


def unmapped(ip: str) -> str:
    """The IPv4 address an IPv4-mapped one stands for (``::ffff:10.0.0.1`` ->
    ``10.0.0.1``); any other address unchanged.  ``ip`` is canonical."""
    if ip.startswith(_MAPPED_PREFIX):
        rest = ip[len(_MAPPED_PREFIX) :]
        if "." in rest:
            return rest
    return ip


def precedence(ip: str) -> int:
    """The precedence of ``ip`` in RFC 6724's default policy table (section
    2.1), which glibc's ``getaddrinfo`` uses to sort a name's addresses:

    ==============  ==========  ==========================================
    prefix          precedence  what
    ==============  ==========  ==========================================
    ::1/128         50          IPv6 loopback
    ::/0            40          other IPv6 (global unicast)
    ::ffff:0:0/96   35          every IPv4 address
    2002::/16       30          6to4
    2001::/32       5           Teredo
    fc00::/7        3           unique local (ULA, ``fd00::/8``)
    ::/96, fec0::/10, 3ffe::/16 1  deprecated
    ==============  ==========  ==========================================

    So ``localhost`` gives ``::1`` before ``127.0.0.1``, while a host with
    10.0.0.2 and fd00::2 gives the IPv4 address first: a ULA ranks below IPv4.
    """
    if ":" not in ip:
        return 35
    if ip == LOOPBACK6:
        return 50
    first = int(ip.split(":", 1)[0] or "0", 16)
    if ip.startswith(_MAPPED_PREFIX) and "." in ip:
        return 35
    if first & 0xFE00 == 0xFC00:
        return 3
    if first == 0x2002:
        return 30
    if ip.startswith(("2001:0:", "2001::")):
        return 5
    if first & 0xFFC0 == 0xFEC0 or first == 0x3FFE or first == 0:
        return 1
    return 40


def sort_destinations(addresses: list[str]) -> list[str]:
    """``addresses`` in the order glibc's ``getaddrinfo`` gives them: by RFC
    6724 rule 6 (higher :func:`precedence` first), stable otherwise (every
    simulated address is reachable and of matching scope, so rules 1-5 tie;
    a name lists its IPv4 address before its IPv6 one, as ``/etc/hosts`` order
    would)."""
    return sorted(addresses, key=lambda ip: -precedence(ip))
