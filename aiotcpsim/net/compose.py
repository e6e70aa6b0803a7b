"""The public ``Network``: the network with its faults, put together here.

Rule owned here: how the layers of :mod:`aiotcpsim.net` compose without an
import cycle.  :class:`~aiotcpsim.net.network.BaseNetwork` does not know the
faults; :class:`~aiotcpsim.net.faults.Faults` knows the network only by its
public interface and plugs into it as a send filter.  This module sits above
both, imports both, and builds the class users construct: a ``BaseNetwork``
whose ``faults`` attribute is a ``Faults`` bound to it.  Nothing below
imports this module.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ..config import TcpConfig
from ..trace import DEFAULT_LIMIT, DEFAULT_SNAPLEN
from .faults import Faults
from .network import BaseNetwork

if TYPE_CHECKING:
    from ..stack.host import Host

__all__ = ["Network"]


class Network(BaseNetwork):
    """An in-memory IPv4 network of hosts that speak TCP.

    Args:
        seed: seeds the network's one ``random.Random``.
        tcp: the default :class:`TcpConfig` of every host.
        loss: probability that a segment is lost on a link.
        delay: one-way delay of a link, in seconds.
        jitter: random variation of the delay, in seconds.
        duplicate: probability that a segment arrives twice.
        reorder: probability that a segment skips the delay and overtakes.
        **impairments: any other :class:`Link` impairment (``burst``,
            ``distribution``, ``corrupt``, ``rate``, ``queue_limit``,
            ``queue_bytes``, ``mtu``).  These and the five above are the
            defaults of every link (``net.defaults``), including a host's
            link to itself.
        trace: ``True`` (default): record the most recent ``trace_limit``
            records, each payload cut to ``trace_snaplen`` bytes; ``"full"``:
            record everything, payloads whole; ``False``: record nothing
            (benchmarks).
        trace_limit: records kept by a bounded trace (default 10,000; None: all).
        trace_snaplen: payload bytes a bounded trace keeps of each segment, its
            head (default 2048, as ``tcpdump -s``; None: all).
        ipv6: True gives every host added without ``ipv6=`` an IPv6 address
            too (``fd00::2`` for 10.0.0.2), so names resolve to both families;
            False (default): such hosts have IPv4 and ``::1`` only, and a name
            keeps its single address (see ``add_host``).

    A host ``localhost`` with addresses 127.0.0.1 and ::1 always exists.  Faults --
    partitions, holds, crashes, injected resets, replays and targeted rules --
    live in ``net.faults`` (:class:`~aiotcpsim.net.faults.Faults`).
    """

    def __init__(
        self,
        seed: int = 0,
        *,
        tcp: TcpConfig | None = None,
        loss: float = 0.0,
        delay: float = 0.0,
        jitter: float = 0.0,
        duplicate: float = 0.0,
        reorder: float = 0.0,
        trace: bool | str = True,
        trace_limit: int | None = DEFAULT_LIMIT,
        trace_snaplen: int | None = DEFAULT_SNAPLEN,
        ipv6: bool = False,
        **impairments: Any,
    ) -> None:
        super().__init__(
            seed,
            tcp=tcp,
            loss=loss,
            delay=delay,
            jitter=jitter,
            duplicate=duplicate,
            reorder=reorder,
            trace=trace,
            trace_limit=trace_limit,
            trace_snaplen=trace_snaplen,
            ipv6=ipv6,
            **impairments,
        )
        self.faults = Faults(self)
        """Partitions, holds, crashes, injected resets, replays, targeted rules."""

    def add_host(
        self,
        name: str,
        ip: str | None = None,
        *,
        ipv6: str | bool | None = None,
        tcp: TcpConfig | None = None,
    ) -> Host:
        """Add a host, resolvable by ``name``; ``ip`` defaults to the next of 10.0.0.0/8.

        Every host has the loopback addresses 127.0.0.0/8 and ``::1``, its
        own.  ``ipv6`` gives it an IPv6 address on the network too: a literal
        (``"fd00::2"``, any textual form), True for the default one
        (``fd00::<n>`` for ``10.0.0.<n>``), False for none; None (default)
        follows ``Network(ipv6=)``, itself False.  Why not dual-stack by
        default: a name with two addresses changes what a client does when
        its first attempt is slow or refused (trio starts a second attempt
        after 250 ms, asyncio falls back to the next address), so existing
        tests would see other segments; a host with only ``::1`` is also what
        a container on Docker's default network is.  A dual-stack name
        resolves IPv4 first for a ULA (``fd00::``, RFC 6724 precedence 3 <
        35), IPv6 first for a global address.

        ``tcp`` is the host's :class:`TcpConfig` (default: the network's).

        Raises:
            TypeError: ``name`` not a str, ``ip`` not a str, ``ipv6`` neither
                str nor bool, ``tcp`` not a :class:`TcpConfig`.
            ValueError: the name is empty or taken, or is an IP address; an
                address is taken; ``ip`` is not an IPv4 address, or is in
                127.0.0.0/8 (loopback belongs to every host: no host can own it);
                ``ipv6`` is not an IPv6 unicast address.
        """
        # The argument types are checked here, in the interpreted class, so that
        # the compiled build raises the same messages.
        if not isinstance(name, str) or not name:
            raise TypeError(f"host name must be a non-empty str, got {name!r}")
        if ip is not None and not isinstance(ip, str):
            raise TypeError(f"ip must be a str (an IPv4 address) or None, got {ip!r}")
        if ipv6 is not None and not isinstance(ipv6, (str, bool)):
            raise TypeError(f"ipv6 must be a str (an IPv6 address), a bool or None, got {ipv6!r}")
        if tcp is not None and not isinstance(tcp, TcpConfig):
            raise TypeError(f"tcp must be a TcpConfig or None, got {tcp!r}")
        return super().add_host(name, ip, ipv6=ipv6, tcp=tcp)

    def to_html(self, path: str | os.PathLike[str], *, title: str = "aiotcpsim run") -> None:
        """Write a self-contained HTML report of this network's run to ``path``:
        the statistics, the ladder and, per connection, plots over virtual time
        (see :mod:`aiotcpsim.pictures`)."""
        from ..pictures import write_html

        write_html(path, self, title=title)
