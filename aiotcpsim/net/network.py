"""The simulated network, sans-I/O: names, addresses, routes, transmit, the clock.

Rule owned here: the network's clock.  ``advance(now)`` is the only place
where the network's time moves and events are actually *called*;
``next_deadline()`` says when it next needs to run.  A pure test drives it
with a loop of those two calls (:meth:`BaseNetwork.run_until_idle`); the
asyncio and trio adapters wake it with a single timer.

Every random choice (ISNs, ephemeral ports, loss, jitter, duplication,
reordering, corruption, burst loss) comes from ``network.rng``, one
``Random(seed)``, and the event queue (:mod:`aiotcpsim.net.events`) breaks
ties by push order, so the same seed and the same calls reproduce the same
run exactly.

How a segment leaves a host: :meth:`BaseNetwork.transmit` counts and traces
it, finds the route (cached per sending host), hands it to the send filter if
one is installed (the faults: :class:`SendFilter`), then to the directed
:class:`~aiotcpsim.net.link.Link`.  This module does not import the faults;
:mod:`aiotcpsim.net.compose` puts the two together as the public ``Network``.
"""

from __future__ import annotations

import errno
import ipaddress
import math
import socket
from collections.abc import Callable, Iterator
from random import Random
from typing import TYPE_CHECKING, Any, Final, Protocol

from mypy_extensions import mypyc_attr

from ..addresses import (
    LOOPBACK4,
    LOOPBACK6,
    is_ipv6,
    parse_ip,
    parse_ipv4,
    parse_ipv6,
    sort_destinations,
)
from ..config import TcpConfig
from ..segment import Segment
from ..stack.host import App, Host, current_host
from ..stack.watcher import HostWatcher
from ..trace import DEFAULT_LIMIT, DEFAULT_SNAPLEN, DROP, DUPLICATE, NOTE, SEND, Trace
from .events import EventQueue
from .flight import arrive
from .link import Link, LinkDefaults

if TYPE_CHECKING:
    from ..tcp import Connection

__all__ = [
    "COUNTERS",
    "NEIGHBOUR_TIMEOUT",
    "BaseNetwork",
    "SendFilter",
    "SendTap",
    "Verdict",
    "default_ipv6",
]

NEIGHBOUR_TIMEOUT: Final = 3.0
"""Seconds until address resolution gives up on an on-link address nobody
answers for: Linux sends ``neigh/default/mcast_solicit`` (3) ARP probes
``retrans_time_ms`` (1000) apart, then fails the entry and answers each queued
packet with a local ICMP host unreachable, so connect() fails with
EHOSTUNREACH about 3 s after the first SYN."""

Verdict = tuple[float, int, bool] | None
"""What a send filter decides: None (it took the segment), or ``(extra delay,
copies, corrupt)`` for the link to apply."""

SendTap = Callable[[Host, Segment, bool], bool]
"""``tap(src, segment, retransmission)``: False when the tap took the segment."""


COUNTERS: Final = (
    "segments_sent",
    "segments_delivered",
    "segments_dropped",
    "segments_duplicated",
    "segments_corrupted",
    "segments_queue_dropped",
    "segments_too_big",
    "segments_injected",
    "icmp_unreachable",
    "retransmissions",
    "resets_sent",
    "connections_opened",
)
"""The counters of ``net.stats``, in the order :meth:`BaseNetwork.statistics` lists them."""


class SendFilter(Protocol):
    """Something that sees every segment a host sends, before its link (the faults).

    Like turmoil's ``Rule::on_packet -> Verdict``: installed with
    :meth:`BaseNetwork.set_send_filter`, called for each segment while installed.
    """

    def on_send(self, src: Host, segment: Segment, dst: Host, link: Link) -> Verdict:
        """The verdict on ``segment``, sent by ``src`` to ``dst`` over ``link``."""


# The public Network (net/compose.py) is a Python subclass; applications may
# subclass it too, and weak-reference it (the asyncio driver does).
@mypyc_attr(allow_interpreted_subclasses=True)
class BaseNetwork:
    """An in-memory IPv4/IPv6 network of hosts that speak TCP, without faults.

    The public :class:`aiotcpsim.Network` adds ``net.faults``; see it for the
    arguments.
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
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise TypeError(f"seed must be an int, got {seed!r}")
        if tcp is not None and not isinstance(tcp, TcpConfig):
            raise TypeError(f"tcp must be a TcpConfig, got {tcp!r}")
        self.seed = seed
        """The seed this network's random choices come from."""
        self.rng = Random(seed)
        """The network's one ``random.Random``: every random choice (loss, delay,
        ISNs, ephemeral ports) comes from it, so a seed reproduces a run."""
        self.ipv6 = _check_bool("ipv6", ipv6)
        """Whether a host added without ``ipv6=`` gets :func:`default_ipv6`."""
        self.config = tcp if tcp is not None else TcpConfig()
        """The :class:`TcpConfig` of hosts added without their own."""
        self.now = 0.0
        """The virtual time in seconds: 0 at creation, moved by :meth:`advance`."""
        if trace not in (True, False, "full"):
            raise ValueError(f"trace must be True, False or 'full', got {trace!r}")
        full = trace == "full"
        self.trace = Trace(
            enabled=bool(trace),
            limit=None if full else trace_limit,
            snaplen=None if full else trace_snaplen,
        )
        """What happened, with virtual times (:class:`~aiotcpsim.Trace`): every
        segment sent, dropped, duplicated and delivered, every state change;
        ``ladder()``, ``to_pcap()``, ``to_svg()``, ``digest()``."""
        self.events = EventQueue()
        """The pending events (:class:`~aiotcpsim.net.events.EventQueue`)."""
        self._links: dict[tuple[str, str], Link] = {}
        self._link_watchers: list[Callable[[Link], None]] = []
        self._host_watchers: list[HostWatcher] = []
        self._connect_watchers: list[Callable[[Host, str], None]] = []
        settings = {
            "loss": loss,
            "delay": delay,
            "jitter": jitter,
            "duplicate": duplicate,
            "reorder": reorder,
            **impairments,
        }
        self.defaults: Link = LinkDefaults(self, "*", "*", **settings)
        """The impairments of every link that does not set its own; ``update()`` them."""
        self._hosts: dict[str, Host] = {}
        self._by_ip: dict[str, Host] = {}
        # The (host, link) a destination address leads to, cached per sending host:
        # addresses and links are never taken away, so a found route stays valid.
        self._routes: dict[Host, dict[str, tuple[Host, Link]]] = {}
        self._in_advance = False
        self._wakeup: Callable[[], None] | None = None
        self._filter: SendFilter | None = None
        self._tap: SendTap | None = None
        # (sender, address) -> segments waiting for an ARP answer that never comes.
        self._unresolved: dict[tuple[str, str], list[Segment]] = {}
        self._next_ip = 1
        self._outside: dict[tuple[str, bool], str] = {}
        self._fire_cb: Callable[[Any], None] = self._fire
        self.stats: dict[str, int] = dict.fromkeys(COUNTERS, 0)
        """The running counters (``segments_sent``, ``segments_dropped``,
        ``retransmissions``, ``resets_sent``...); :meth:`statistics` adds the
        counts of the moment (open connections, segments in flight)."""
        self.localhost = self._attach("localhost", LOOPBACK4, None, LOOPBACK6)
        """The host ``localhost`` (127.0.0.1 and ::1) every network has: calls
        made while no host is current originate there."""

    # -- hosts and names ------------------------------------------------------

    def add_host(
        self,
        name: str,
        ip: str | None = None,
        *,
        ipv6: str | bool | None = None,
        tcp: TcpConfig | None = None,
    ) -> Host:
        """Add a host, resolvable by ``name``; ``ip`` defaults to the next of 10.0.0.0/8.

        ``ipv6``: the host's IPv6 address besides ``::1`` (any textual form),
        True for the default one of its IPv4 address (``fd00::<n>`` for
        ``10.0.0.<n>``, see :func:`default_ipv6`), False for none, None for
        the network's choice (:attr:`ipv6`).

        Raises:
            ValueError: the name is empty or taken, or is an IP address;
                an address is taken; ``ip`` is not an IPv4 address, or is in
                127.0.0.0/8 (loopback belongs to every host: no host can own
                it); ``ipv6`` is not an IPv6 address, or is ``::``, ``::1``
                or IPv4-mapped.
        """
        if not name:
            raise ValueError("host name must be a non-empty str, got ''")
        if name in self._hosts:
            raise ValueError(f"a host named {name!r} already exists")
        if parse_ip(name) is not None:
            raise ValueError(
                f"host name {name!r} is an IP address: a name must not look like an address"
            )
        if ip is not None:
            checked = parse_ipv4(ip)
            if checked is None:
                hint = " (give an IPv6 address as ipv6=)" if parse_ipv6(ip) else ""
                raise ValueError(f"ip {ip!r} is not an IPv4 address{hint}")
            ip = checked
            if ip.startswith("127."):
                raise ValueError(
                    f"ip {ip} is in 127.0.0.0/8: loopback belongs to every host, "
                    "give the host an address outside it (e.g. 10.0.0.x)"
                )
            self._check_free(ip)
        v6: str | None = None
        if isinstance(ipv6, str):
            v6 = self._check_ipv6(ipv6)
        elif ipv6 is True or (ipv6 is None and self.ipv6):
            v6 = ""  # the default one, once the IPv4 address is known
        return self._attach(name, ip, tcp, v6)

    def _check_free(self, ip: str) -> None:
        if ip in self._by_ip:
            raise ValueError(f"address {ip} already belongs to host {self._by_ip[ip].name!r}")

    def _check_ipv6(self, text: str) -> str:
        ip = parse_ipv6(text)
        if ip is None:
            raise ValueError(f"ipv6 {text!r} is not an IPv6 address")
        if ip in ("::", LOOPBACK6) or ip.startswith(("::ffff:", "fe80:")):
            raise ValueError(
                f"ipv6 {ip} is the wildcard, loopback, IPv4-mapped or link-local: "
                "give the host a unicast address (e.g. fd00::x)"
            )
        self._check_free(ip)
        return ip

    def _attach(
        self, name: str, ip: str | None, tcp: TcpConfig | None, ipv6: str | None = None
    ) -> Host:
        if ip is None:
            ip = self._free_address()
        if ipv6 == "":
            ipv6 = self._free_ipv6(ip)
        host = Host(self, name, ip, tcp if tcp is not None else self.config)
        host.ipv6 = ipv6
        self._hosts[name] = host
        self._by_ip[ip] = host
        if ipv6 is not None:
            self._by_ip[ipv6] = host
        self._routes[host] = {}
        return host

    def _free_address(self) -> str:
        """The next unused address of 10.0.0.0/8."""
        while True:
            ip = str(ipaddress.IPv4Address(0x0A000000 + self._next_ip))
            self._next_ip += 1
            if ip not in self._by_ip:
                return ip

    def _free_ipv6(self, ip: str) -> str:
        """:func:`default_ipv6` of ``ip``, or the next free address after it."""
        value = int(ipaddress.IPv6Address(default_ipv6(ip)))
        while True:
            candidate = str(ipaddress.IPv6Address(value))
            if candidate not in self._by_ip:
                return candidate
            value += 1

    def outside_address(self, host: Host, ipv6: bool = False) -> str:
        """The address a loopback-only host (``localhost``) uses to reach other
        hosts (of the family ``ipv6`` says): allocated on first use, like the
        machine's own interface."""
        ip = self._outside.get((host.name, ipv6))
        if ip is None:
            ip = self._free_ipv6(self.outside_address(host)) if ipv6 else self._free_address()
            self._outside[(host.name, ipv6)] = ip
            self._by_ip[ip] = host
        return ip

    @property
    def hosts(self) -> list[Host]:
        """Every host of the network, ``localhost`` first, in the order added (a new list)."""
        return list(self._hosts.values())

    def host(self, name_or_ip: str) -> Host:
        """The host with this name or address.

        Raises:
            socket.gaierror: no such host (EAI_NONAME, as ``getaddrinfo`` says).
        """
        host = self.find_host(name_or_ip)
        if host is None:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return host

    def find_host(self, name_or_ip: str) -> Host | None:
        """The host with this name or address, or None."""
        return self._hosts.get(name_or_ip) or self._by_ip.get(name_or_ip)

    def resolve(self, name: str) -> str:
        """Name or address literal to address: a host's name gives its IPv4
        address, a literal its canonical form.

        Raises:
            socket.gaierror: unknown name (EAI_NONAME).
        """
        host = self._hosts.get(name)
        if host is not None:
            return host.ip
        ip = parse_ip(name)
        if ip is not None:
            return ip
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    def resolve_all(self, name: str) -> list[str]:
        """Every address of a name, in the order glibc's ``getaddrinfo`` gives
        them (RFC 6724, :func:`aiotcpsim.addresses.sort_destinations`): a literal
        gives itself; ``localhost`` gives ``::1`` then ``127.0.0.1`` (as with
        the usual ``/etc/hosts``); a host with an IPv6 address its IPv4 address
        first when the IPv6 one is a ULA (``fd00::/8`` ranks below IPv4), its
        IPv6 address first when global.

        Raises:
            socket.gaierror: unknown name (EAI_NONAME).
        """
        host = self._hosts.get(name)
        if host is None:
            return [self.resolve(name)]
        if host.ipv6 is None:
            return [host.ip]
        return sort_destinations([host.ip, host.ipv6])

    def host_for_address(self, ip: str) -> Host | None:
        """The host that owns ``ip``, or None."""
        return self._by_ip.get(ip)

    def is_on_link(self, ip: str) -> bool:
        """True when a host has a route to ``ip``: loopback, 10.0.0.0/8 or
        fd00::/64 (the network's subnets) or the /24 (IPv4) or /64 (IPv6) of
        an address some host was given.  Elsewhere connect() fails with
        ENETUNREACH at once."""
        if ip.startswith(("127.", "10.")) or ip in self._by_ip:
            return True
        if is_ipv6(ip):
            net64 = ipaddress.IPv6Network((ip, 64), strict=False)
            if net64.network_address == _DEFAULT_NET6:
                return True
            return any(is_ipv6(a) and ipaddress.IPv6Address(a) in net64 for a in self._by_ip)
        prefix = ip[: ip.rfind(".") + 1]
        return any(addr.startswith(prefix) for addr in self._by_ip)

    def current_host(self) -> Host:
        """The host calls originate from: set by ``with host.current():``, else ``localhost``."""
        host = current_host()
        if host is not None and host.network is self:
            return host
        return self.localhost

    # -- links -----------------------------------------------------------------

    def link(self, a: Host | str, b: Host | str) -> Link:
        """The directed link from ``a`` to ``b`` (host objects, names or addresses).

        Raises:
            TypeError: ``a`` or ``b`` is neither a host nor a str.
            ValueError: a host of another network.
            socket.gaierror: no host has this name or address.
        """
        src = self._link_end("a", a)
        dst = self._link_end("b", b)
        key = (src.name, dst.name)
        link = self._links.get(key)
        if link is None:
            link = Link(self, src.name, dst.name)
            self._links[key] = link
            for watcher in self._link_watchers:
                watcher(link)
        return link

    def _link_end(self, name: str, end: Host | str) -> Host:
        if isinstance(end, str):
            return self.host(end)
        if not isinstance(end, Host):
            raise TypeError(f"{name} must be a Host or a host name/address, got {end!r}")
        if self._hosts.get(end.name) is not end:
            raise ValueError(f"{name}: host {end.name!r} belongs to another network")
        return end

    def links(self) -> list[Link]:
        """The links created so far (a link exists once used or asked for)."""
        return list(self._links.values())

    def link_defaults(self) -> dict[str, Any]:
        """The impairments set on ``net.defaults`` (what links inherit)."""
        return self.defaults.own_settings()

    def watch_links(self, callback: Callable[[Link], None]) -> None:
        """Call ``callback(link)`` for every link created from now on."""
        self._link_watchers.append(callback)

    # -- the applications on the hosts ----------------------------------------------

    def watch_hosts(self, watcher: HostWatcher) -> None:
        """Register an adapter that runs applications on this network's hosts:
        every watcher hears of a crash; the one registered last starts apps."""
        if watcher not in self._host_watchers:
            self._host_watchers.append(watcher)

    def unwatch_hosts(self, watcher: HostWatcher) -> None:
        """Forget ``watcher`` (its loop closed, its trio run left the network)."""
        if watcher in self._host_watchers:
            self._host_watchers.remove(watcher)

    def host_crashed(self, host: Host) -> None:
        """``host`` crashed (its TCBs are gone): the watchers end its application."""
        for watcher in list(self._host_watchers):
            watcher.host_crashed(host)

    def start_app(self, host: Host, app: App) -> None:
        """Have the adapter driving this network start ``app()`` on ``host``.

        Raises:
            RuntimeError: no adapter drives the network.
        """
        if not self._host_watchers:
            raise RuntimeError(
                f"cannot start an app on host {host.name!r}: no event loop drives this "
                "network (run under aiotcpsim.run, a VirtualTimeLoop or "
                "aiotcpsim.trio_net.open_network)"
            )
        self._host_watchers[-1].start_app(host, app)

    def watch_connects(self, callback: Callable[[Host, str], None]) -> None:
        """Call ``callback(host, ip)`` whenever ``host`` opens a connection to
        ``ip`` (before its SYN leaves); the faults use it to spot a connection
        from ``localhost`` that their rules between named hosts miss."""
        self._connect_watchers.append(callback)

    def connecting(self, host: Host, ip: str) -> None:
        """``host`` is about to send a SYN to ``ip``: tell the watchers."""
        for callback in self._connect_watchers:
            callback(host, ip)

    # -- time ------------------------------------------------------------------

    @property
    def in_advance(self) -> bool:
        """True while :meth:`advance` runs (a wake-up is then not needed)."""
        return self._in_advance

    def set_wakeup(self, callback: Callable[[], None] | None) -> None:
        """Register the adapter's wake-up: called when ``next_deadline()`` may
        have moved earlier because of a call made outside :meth:`advance`."""
        self._wakeup = callback

    def push(self, when: float, fn: Callable[[Any], None], arg: Any) -> None:
        """Run ``fn(arg)`` at virtual time ``when`` (waking the adapter when the
        next deadline moves earlier)."""
        if self.events.push(when, fn, arg) and self._wakeup is not None and not self._in_advance:
            self._wakeup()

    def push_now(self, fn: Callable[[Any], None], arg: Any) -> bool:
        """Run ``fn(arg)`` now, in O(1) through the event queue's ready FIFO;
        False (nothing pushed) when the FIFO cannot take it in order."""
        events = self.events
        now = self.now
        if not events.can_push_ready(now):
            return False
        if events.push_ready(now, fn, arg) and self._wakeup is not None and not self._in_advance:
            self._wakeup()
        return True

    def call_at(self, when: float, callback: Callable[[], None]) -> None:
        """Run ``callback()`` at virtual time ``when`` (a fault, a test step).

        Raises:
            TypeError: ``when`` is not a real number or ``callback`` not callable.
            ValueError: ``when`` is NaN or infinite.
        """
        when = _check_time("when", when)
        if not callable(callback):
            raise TypeError(f"callback must be callable, got {callback!r}")
        self.push(max(when, self.now), _call, callback)

    def call_later(self, delay: float, callback: Callable[[], None]) -> None:
        """Run ``callback()`` after ``delay`` seconds of virtual time.

        Raises:
            TypeError: ``delay`` is not a real number or ``callback`` not callable.
            ValueError: ``delay`` is NaN or infinite.
        """
        delay = _check_time("delay", delay)
        self.call_at(self.now + delay, callback)

    def schedule_timer(self, conn: Connection, when: float) -> None:
        """Call ``conn.on_timer(now)`` at ``when``, unless its timers moved by then."""
        self.push(when, self._fire_cb, conn)

    def _fire(self, conn: Connection) -> None:
        now = self.now
        due = conn.wake_time(now)
        if due != now:  # the connection's timers moved or stopped
            if due is not None:
                self.events.push(due, self._fire_cb, conn)
            return
        conn.on_timer(now)

    def next_deadline(self) -> float | None:
        """When the network next needs to run, or None when nothing is pending."""
        events = self.events
        fire = self._fire_cb
        while True:
            entry = events.peek()
            if entry is None:
                return None
            when, _, fn, arg = entry
            if fn is arrive:
                if not arg.cancelled:
                    return when
                events.pop()  # a flight rescheduled by a link update
            elif fn is fire:
                # A connection's wake-up: drop it when the connection's timers
                # moved later or stopped, so virtual time never visits a moment
                # where nothing happens.  (A wake-up superseded by an earlier
                # one is dropped too.)
                due = arg.wake_time(when)
                if due == when:
                    return when
                events.pop()
                if due is not None:
                    events.push(due, fire, arg)
            else:
                return when

    def advance(self, now: float) -> None:
        """Run everything due up to ``now``, in time order, then set ``self.now = now``.

        This is the only place where the network's clock moves and where
        events are actually *called*.

        Raises:
            TypeError: ``now`` is not a real number.
            ValueError: ``now`` is earlier than the network's time, NaN or infinite.
        """
        now = _check_time("now", now)
        if now < self.now:
            raise ValueError(f"time cannot go backwards: {now!r} < {self.now!r}")
        pop_due = self.events.pop_due
        self._in_advance = True
        try:
            while True:
                entry = pop_due(now)
                if entry is None:
                    break
                self.now = entry[0]
                entry[2](entry[3])
            self.now = now
        finally:
            self._in_advance = False

    def run_until_idle(self, limit: float | None = None) -> float:
        """Advance from deadline to deadline until nothing is pending (or ``limit``).

        Returns the virtual time reached.  With keep-alive on, a network is never
        idle: pass ``limit``.

        Raises:
            TypeError: ``limit`` is not a real number.
            ValueError: ``limit`` is NaN or infinite.
        """
        if limit is not None:
            limit = _check_time("limit", limit)
        while True:
            deadline = self.next_deadline()
            if deadline is None or (limit is not None and deadline > limit):
                break
            # A timer set in the past (keep-alive from an old last-received time) is due now.
            self.advance(max(deadline, self.now))
        if limit is not None and limit > self.now:
            self.advance(limit)
        return self.now

    # -- segments ----------------------------------------------------------------

    def set_send_filter(self, send_filter: SendFilter | None) -> None:
        """Install the filter that sees every segment sent (None: remove it)."""
        self._filter = send_filter

    def set_send_tap(self, tap: SendTap | None) -> None:
        """A tap on the send path, for tests: ``tap(src, segment, retransmission)``
        sees each segment handed to :meth:`transmit` first; when it returns
        False the segment goes no further (not counted, not traced: the tap
        does what it wants with it).  None removes the tap."""
        self._tap = tap

    def transmit(self, src: Host, segment: Segment, retransmission: bool = False) -> None:
        """Put ``segment``, sent by ``src``, on the wire: counted, traced, routed,
        filtered, then onto its link.  Never delivers synchronously."""
        tap = self._tap
        if tap is not None and not tap(src, segment, retransmission):
            return
        stats = self.stats
        stats["segments_sent"] += 1
        if retransmission:
            stats["retransmissions"] += 1
        trace = self.trace
        if trace.enabled:
            text = "retransmission" if retransmission else ""
            trace.record(self.now, SEND, src.name, segment, None, None, None, text)
        route = self._routes[src].get(segment.dst_ip)
        if route is None:
            route = self._route(src, segment)
            if route is None:
                return
        dst, link = route
        send_filter = self._filter
        if send_filter is not None:
            verdict = send_filter.on_send(src, segment, dst, link)
            if verdict is not None:
                extra, copies, corrupt = verdict
                link.send_filtered(src, segment, dst, extra, copies, corrupt)
            return
        link.send(src, segment, dst)

    def _route(self, src: Host, segment: Segment) -> tuple[Host, Link] | None:
        dst = src.route(segment.dst_ip)
        if dst is None:
            if self.is_on_link(segment.dst_ip):
                self.drop(src, segment, f"no host at {segment.dst_ip}: ARP unanswered")
                self._resolution_fails(src, segment)
            else:
                self.drop(src, segment, "no route to host")
            return None
        link = self._links.get((src.name, dst.name)) or self.link(src, dst)
        route = self._routes[src][segment.dst_ip] = (dst, link)
        return route

    def _resolution_fails(self, src: Host, segment: Segment) -> None:
        """``segment`` waits for an ARP answer that never comes: after
        NEIGHBOUR_TIMEOUT every waiting segment draws EHOSTUNREACH (once per
        connection)."""
        key = (src.name, segment.dst_ip)
        waiting = self._unresolved.get(key)
        if waiting is not None:
            waiting.append(segment)
            return
        self._unresolved[key] = [segment]

        def give_up() -> None:
            told: set[tuple[int, int]] = set()  # membership only, never iterated
            for seg in self._unresolved.pop(key, []):
                ports = (seg.src_port, seg.dst_port)
                if ports not in told:
                    told.add(ports)
                    self.stats["icmp_unreachable"] += 1
                    self.icmp_error(src, seg, errno.EHOSTUNREACH)

        self.call_at(self.now + NEIGHBOUR_TIMEOUT, give_up)

    def drop(self, host: Host, segment: Segment, why: str) -> None:
        """Count and trace a segment lost at ``host``."""
        self.stats["segments_dropped"] += 1
        self.trace.record(self.now, DROP, host.name, segment, None, None, None, why)

    def duplicated(self, host: Host, segment: Segment, extra_copies: int) -> None:
        """Count and trace the extra copies the network made of ``segment``."""
        self.stats["segments_duplicated"] += extra_copies
        if self.trace.enabled:
            for _ in range(extra_copies):
                self.trace.record(self.now, DUPLICATE, host.name, segment)

    def unreachable(self, src: Host, seg: Segment, after: float) -> None:
        """An ICMP destination unreachable (host unreachable, code 1) for ``seg``
        reaches its sender ``after`` seconds later."""
        self.stats["icmp_unreachable"] += 1

        def deliver() -> None:
            self.icmp_error(src, seg, errno.EHOSTUNREACH)

        self.call_at(self.now + after, deliver)

    def icmp_error(self, host: Host, seg: Segment, err: int) -> None:
        """Hand an ICMP error about ``seg`` to the connection that sent it (Linux
        ``tcp_v4_err``).  The TCB decides: hard error in SYN-SENT, soft otherwise."""
        if not host.up:
            return
        key = (seg.src_ip, seg.src_port, seg.dst_ip, seg.dst_port)
        conn = host.lookup(key)
        name = errno.errorcode.get(err, str(err))
        if conn is None:
            self.note(host.name, f"ICMP unreachable ({name}) for no connection", key)
            return
        self.note(host.name, f"ICMP host unreachable ({name})", key)
        handler = getattr(conn, "icmp_error", None)
        if handler is not None:
            handler(err, self.now)

    def note(self, host: str, text: str, endpoint: tuple[str, int, str, int] | None = None) -> None:
        """Add a free-form record to the trace (faults and tests use it)."""
        self.trace.record(self.now, NOTE, host, None, endpoint, None, None, text)

    # -- introspection -------------------------------------------------------------

    def statistics(self) -> dict[str, int]:
        """Counters: segments sent, delivered, dropped (of which corrupted, queue
        overflow, too big for the MTU), duplicated, injected by faults, ICMP
        unreachables, retransmissions, resets sent, connections opened; plus open
        connections, segments in flight and pending events."""
        out = dict(self.stats)
        out["connections_open"] = sum(h.connection_count() for h in self._hosts.values())
        out["segments_in_flight"] = sum(link.in_flight for link in self._links.values())
        self.next_deadline()
        out["pending_events"] = len(self.events)
        return out

    def connections(self) -> Iterator[Connection]:
        """Every connection of every host, listeners' children included."""
        for host in self._hosts.values():
            yield from host.connections()

    def __repr__(self) -> str:
        return (
            f"<Network seed={self.seed} t={self.now:.6f}s hosts={len(self._hosts)} "
            f"pending={len(self.events)}>"
        )


def _call(callback: Callable[[], None]) -> None:
    callback()


def _check_bool(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {value!r}")
    return value


def _check_time(name: str, value: object) -> float:
    """``value`` as a finite float, or a TypeError/ValueError naming ``name``
    (a NaN deadline would never come due; an infinite one would set the clock
    to infinity)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a real number of seconds, got {value!r}")
    result = float(value)
    if not math.isfinite(result):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return result


_DEFAULT_NET6: Final = ipaddress.IPv6Address("fd00::")


def default_ipv6(ip: str) -> str:
    """The IPv6 address a host with IPv4 address ``ip`` gets by default: in
    fd00::/64, a unique local prefix (RFC 4193), ``fd00::<n>`` for
    ``10.0.0.0 + n`` (10.0.0.2 -> fd00::2, 10.0.1.5 -> fd00::105), and
    ``fd00::1:<the 32 bits of ip>`` outside 10.0.0.0/8 (192.168.1.5 ->
    fd00::1:c0a8:105)."""
    value = int(ipaddress.IPv4Address(ip))
    offset = value - 0x0A000000
    suffix = offset if 0 <= offset < 1 << 24 else (1 << 32) | value
    return str(ipaddress.IPv6Address(int(_DEFAULT_NET6) | suffix))
