"""Names on the simulated network, answered as the system resolver answers them.

Rule owned here, for both adapters: ``getaddrinfo`` (:func:`resolve`) and
``getnameinfo`` (:func:`nameinfo`) are answered from the network's names at
once, with the ``socket.gaierror`` codes glibc gives.  A name's addresses
come in the order glibc gives them (RFC 6724: ``localhost`` is ``::1`` then
``127.0.0.1``); ``family`` picks AF_INET, AF_INET6 or both; an AF_INET6
answer carries a 4-tuple sockaddr ``(ip, port, flowinfo, scope_id)``, as the
kernel's does.
"""

from __future__ import annotations

import contextlib
import operator
import socket
from typing import TYPE_CHECKING

from .addresses import (
    LOOPBACK4,
    LOOPBACK6,
    WILDCARD4,
    WILDCARD6,
    is_ipv6,
    is_loopback,
    mapped,
    parse_ip,
    unmapped,
)

if TYPE_CHECKING:
    from . import Network

__all__ = ["AddrInfo", "nameinfo", "resolve"]

SockAddr = tuple[str, int] | tuple[str, int, int, int]
AddrInfo = tuple[socket.AddressFamily, socket.SocketKind, int, str, SockAddr]

_UNKNOWN = "Name or service not known"


def resolve(
    network: Network,
    host: str | bytes | None,
    port: str | bytes | int | None,
    *,
    family: int = 0,
    type: int = 0,
    proto: int = 0,
    flags: int = 0,
) -> list[AddrInfo]:
    """``socket.getaddrinfo`` answered from the network's names.

    Raises:
        socket.gaierror: an unknown name, or a name without an address of
            ``family`` (``EAI_NONAME``), an unknown service (``EAI_SERVICE``),
            a literal of the other family (``EAI_ADDRFAMILY``), a family
            other than AF_UNSPEC/AF_INET/AF_INET6 (``EAI_FAMILY``).
    """
    # socket.getaddrinfo reads these through __index__ (an int-like object works).
    family, type, proto, flags = (operator.index(v) for v in (family, type, proto, flags))
    if (
        # Fast path, what create_connection(host, port) to an address asks:
        # the general code below answers the same.
        type == socket.SOCK_STREAM
        and not (family or proto or flags)
        and isinstance(host, str)
        and isinstance(port, int)
    ):
        ip = parse_ip(host)
        if ip is not None and not is_ipv6(ip):
            return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (ip, port))]
    # socket.getaddrinfo's own argument checks, then its answer for a name that
    # is not valid IDNA: no such name.
    if host is not None and not isinstance(host, (str, bytes)):
        raise TypeError("getaddrinfo() argument 1 must be string or None")
    if port is not None and not isinstance(port, (str, bytes, int)):
        raise OSError("Int or String expected")
    if isinstance(host, bytes):
        host = _decode_idna(host)
    if isinstance(port, bytes):
        port = port.decode("ascii")
    if host is None and port is None:
        raise socket.gaierror(socket.EAI_NONAME, _UNKNOWN)
    _check_family(family)
    number = _service(port, flags)
    addresses = _addresses(network, host, family, flags)
    canonname = host if (flags & socket.AI_CANONNAME and host) else ""
    kinds = _socket_kinds(type, proto)
    out: list[AddrInfo] = []
    for ip in addresses:
        if is_ipv6(ip):
            out += [(socket.AF_INET6, k, p, canonname, (ip, number, 0, 0)) for k, p in kinds]
        else:
            out += [(socket.AF_INET, k, p, canonname, (ip, number)) for k, p in kinds]
        canonname = ""  # glibc names the first entry only
    return out


def _decode_idna(host: bytes) -> str:
    """A bytes name as text; one that is not valid IDNA names no host (raised
    outside the handler, so the gaierror carries no internal ``__context__``)."""
    try:
        return host.decode("idna")
    except UnicodeError:
        pass
    raise socket.gaierror(socket.EAI_NONAME, _UNKNOWN)


def _check_family(family: int) -> None:
    if family not in (0, socket.AF_INET, socket.AF_INET6):
        raise socket.gaierror(socket.EAI_FAMILY, "ai_family not supported")


def _service(port: str | int | None, flags: int) -> int:
    """The port number of a service (a number, a numeric string or a name)."""
    if port is None:
        return 0
    if isinstance(port, int):
        return port
    if port.isdigit():
        return int(port)
    if flags & socket.AI_NUMERICSERV:
        raise socket.gaierror(socket.EAI_NONAME, _UNKNOWN)
    try:
        return socket.getservbyname(port, "tcp")
    except OSError:
        raise socket.gaierror(
            socket.EAI_SERVICE, "Servname not supported for ai_socktype"
        ) from None


def _addresses(network: Network, host: str | None, family: int, flags: int) -> list[str]:
    """The addresses of a host name or literal, of ``family`` (0: both), in
    glibc's order; None: the wildcards with AI_PASSIVE (``0.0.0.0`` then
    ``::``, as glibc lists them), else the loopbacks (``::1`` first, RFC 6724).

    With AI_V4MAPPED, an AF_INET6 request for a name with only IPv4
    addresses gives them IPv4-mapped (``::ffff:10.0.0.2``)."""
    if host is None:
        found = [WILDCARD4, WILDCARD6] if flags & socket.AI_PASSIVE else [LOOPBACK6, LOOPBACK4]
        return [ip for ip in found if _of_family(ip, family)]
    literal = parse_ip(host)
    if literal is not None:
        if not _of_family(literal, family):
            raise socket.gaierror(
                socket.EAI_ADDRFAMILY, "Address family for hostname not supported"
            )
        return [literal]
    if flags & socket.AI_NUMERICHOST or not host:
        raise socket.gaierror(socket.EAI_NONAME, _UNKNOWN)
    name = host[:-1] if host.endswith(".") else host
    if network.find_host(name) is None:
        name = name.lower()  # names are case-insensitive (RFC 4343)
    every = network.resolve_all(name)
    found = [ip for ip in every if _of_family(ip, family)]
    if not found and family == socket.AF_INET6 and flags & socket.AI_V4MAPPED:
        found = [mapped(ip) for ip in every]
    if not found:
        raise socket.gaierror(socket.EAI_NONAME, _UNKNOWN)  # glibc's answer from /etc/hosts
    return found


def _of_family(ip: str, family: int) -> bool:
    return not family or (family == socket.AF_INET6) == is_ipv6(ip)


def _socket_kinds(type: int, proto: int) -> list[tuple[socket.SocketKind, int]]:
    """The (socket type, protocol) pairs ``getaddrinfo`` lists for an address."""
    kinds: list[tuple[socket.SocketKind, int]]
    if type == 0:
        kinds = [
            (socket.SOCK_STREAM, socket.IPPROTO_TCP),
            (socket.SOCK_DGRAM, socket.IPPROTO_UDP),
            (socket.SOCK_RAW, 0),
        ]
    elif type == socket.SOCK_STREAM:
        kinds = [(socket.SOCK_STREAM, socket.IPPROTO_TCP)]
    elif type == socket.SOCK_DGRAM:
        kinds = [(socket.SOCK_DGRAM, socket.IPPROTO_UDP)]
    else:
        kinds = [(socket.SocketKind(type), proto)]
    if proto:
        kinds = [k for k in kinds if k[1] == proto] or [(kinds[0][0], proto)]
    return kinds


def nameinfo(
    network: Network, sockaddr: tuple[str, int] | tuple[str, int, int, int], flags: int = 0
) -> tuple[str, str]:
    """``socket.getnameinfo``: the host's name for an address, the service for a port.

    Raises:
        TypeError: ``sockaddr`` is not an (address, port) tuple, as ``socket.getnameinfo``.
        socket.gaierror: ``EAI_NONAME`` for an address that is not numeric (the
            kernel resolves only numeric hosts here), or with ``NI_NAMEREQD`` an
            address no host owns.
    """
    if not isinstance(sockaddr, tuple):
        raise TypeError("getnameinfo() argument 1 must be a tuple")
    if len(sockaddr) < 2 or not isinstance(sockaddr[0], str):
        raise TypeError("getnameinfo(): illegal sockaddr argument")
    ip, port = sockaddr[0], sockaddr[1]
    if not isinstance(port, int):
        raise TypeError(f"{type(port).__name__!r} object cannot be interpreted as an integer")
    canonical = parse_ip(ip)
    if canonical is None:
        raise socket.gaierror(socket.EAI_NONAME, _UNKNOWN)
    if flags & socket.NI_NUMERICHOST:
        name = ip
    else:
        owner = network.host_for_address(unmapped(canonical))
        if owner is None and is_loopback(canonical):
            owner = network.localhost
        if owner is not None:
            name = owner.name
        elif flags & socket.NI_NAMEREQD:
            raise socket.gaierror(socket.EAI_NONAME, _UNKNOWN)
        else:
            name = ip
    service = str(port)
    if not flags & socket.NI_NUMERICSERV:
        with contextlib.suppress(OSError):
            service = socket.getservbyport(port, "udp" if flags & socket.NI_DGRAM else "tcp")
    return (name, service)
