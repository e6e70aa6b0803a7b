"""The simulated network, sans-I/O: hosts, links, one timer heap, one RNG, the trace.

The network never reads a clock.  ``advance(now)`` runs everything due up to
``now``; ``next_deadline()`` says when it next needs to run.  A pure test
drives it with a loop of those two calls (:meth:`Network.run_until_idle`);
the asyncio and trio adapters wake it with a single timer.

Every random choice (ISNs, ephemeral ports, loss, jitter, duplication,
reordering) comes from ``network.rng``, one ``random.Random(seed)``, and
the timer heap breaks ties by insertion order, so the same seed and the same
calls reproduce the same run exactly.
"""

from __future__ import annotations

import heapq
import ipaddress
import random
import socket
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from .config import TcpConfig
from .segment import Segment
from .trace import DELIVER, DROP, DUPLICATE, NOTE, SEND, Trace, TraceRecord

if TYPE_CHECKING:
    from .connection import Connection
    from .host import Host

__all__ = ["Link", "Network"]

_current_host: ContextVar[Host | None] = ContextVar("aiotcpsim_current_host", default=None)

_LINK_FIELDS = ("loss", "delay", "jitter", "duplicate", "reorder")


def _check_probability(name: str, value: float) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise TypeError(f"{name} must be a number between 0 and 1, got {value!r}")
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be between 0 and 1, got {value!r}")
    return float(value)


def _check_seconds(name: str, value: float) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise TypeError(f"{name} must be a number of seconds, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0 seconds, got {value!r}")
    return float(value)


class Link:
    """The impairments of one direction between two hosts.

    ``loss``, ``duplicate`` and ``reorder`` are probabilities; ``delay`` and
    ``jitter`` seconds.  A segment is delayed by ``delay`` plus a uniform
    ``[-jitter, +jitter]`` (clamped at 0); with probability ``reorder`` a
    segment skips the delay and overtakes the ones in flight (netem's
    ``reorder``).  Changes made with :meth:`update` apply to the next segment.
    """

    def __init__(
        self,
        network: Network,
        src: str,
        dst: str,
        *,
        loss: float = 0.0,
        delay: float = 0.0,
        jitter: float = 0.0,
        duplicate: float = 0.0,
        reorder: float = 0.0,
    ) -> None:
        self.network = network
        self.src = src
        self.dst = dst
        self.loss = 0.0
        self.delay = 0.0
        self.jitter = 0.0
        self.duplicate = 0.0
        self.reorder = 0.0
        self.update(loss=loss, delay=delay, jitter=jitter, duplicate=duplicate, reorder=reorder)

    def update(self, **changes: float) -> Link:
        """Change some impairments; returns the link for chaining.

        Raises:
            ValueError: a probability outside [0, 1] or a negative time.
            TypeError: an unknown impairment name.
        """
        for name, value in changes.items():
            if name in ("loss", "duplicate", "reorder"):
                setattr(self, name, _check_probability(name, value))
            elif name in ("delay", "jitter"):
                setattr(self, name, _check_seconds(name, value))
            else:
                raise TypeError(
                    f"unknown link impairment {name!r}; expected one of {', '.join(_LINK_FIELDS)}"
                )
        return self

    def _delays(self, rng: random.Random) -> tuple[float, ...]:
        """Decide the fate of one segment: () lost, else one delay per copy."""
        if self.loss and rng.random() < self.loss:
            return ()
        copies = 2 if self.duplicate and rng.random() < self.duplicate else 1
        out = []
        for _ in range(copies):
            d = self.delay
            if self.jitter:
                d = max(0.0, d + rng.uniform(-self.jitter, self.jitter))
            if self.reorder and rng.random() < self.reorder:
                d = 0.0
            out.append(d)
        return tuple(out)

    def __repr__(self) -> str:
        parts = [f"{name}={getattr(self, name)!r}" for name in _LINK_FIELDS if getattr(self, name)]
        return f"<Link {self.src} -> {self.dst} {' '.join(parts) or 'clean'}>"


class Network:
    """An in-memory IPv4 network of hosts that speak TCP.

    Args:
        seed: seeds the network's one ``random.Random``.
        tcp: the default :class:`TcpConfig` of every host.
        loss, delay, jitter, duplicate, reorder: defaults of every link
            (see :class:`Link`), including a host's link to itself.
        trace: record a trace (turn off for benchmarks).

    A host ``localhost`` with address 127.0.0.1 always exists.
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
        trace: bool = True,
    ) -> None:
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise TypeError(f"seed must be an int, got {seed!r}")
        if tcp is not None and not isinstance(tcp, TcpConfig):
            raise TypeError(f"tcp must be a TcpConfig, got {tcp!r}")
        self.seed = seed
        self.rng = random.Random(seed)
        self.config = tcp if tcp is not None else TcpConfig()
        self.now = 0.0
        self.trace = Trace(enabled=trace)
        self._link_defaults: dict[str, float] = {}
        Link(
            self,
            "*",
            "*",
            loss=loss,
            delay=delay,
            jitter=jitter,
            duplicate=duplicate,
            reorder=reorder,
        )  # validates the defaults
        self._link_defaults = {
            "loss": loss,
            "delay": delay,
            "jitter": jitter,
            "duplicate": duplicate,
            "reorder": reorder,
        }
        self._links: dict[tuple[str, str], Link] = {}
        self._hosts: dict[str, Host] = {}
        self._by_ip: dict[str, Host] = {}
        self._heap: list[tuple[float, int, Callable[[Any], None], Any]] = []
        self._counter = 0
        self._in_advance = False
        self._wakeup: Callable[[], None] | None = None
        self._next_ip = 1
        self.stats: dict[str, int] = {
            "segments_sent": 0,
            "segments_delivered": 0,
            "segments_dropped": 0,
            "segments_duplicated": 0,
            "retransmissions": 0,
            "resets_sent": 0,
            "connections_opened": 0,
        }
        self.localhost = self.add_host("localhost", "127.0.0.1")

    # -- hosts and names ------------------------------------------------------

    def add_host(self, name: str, ip: str | None = None, *, tcp: TcpConfig | None = None) -> Host:
        """Add a host, resolvable by ``name``; ``ip`` defaults to the next of 10.0.0.0/8.

        Raises:
            ValueError: the name or address is taken or not a valid IPv4 address.
        """
        from .host import Host

        if not isinstance(name, str) or not name:
            raise TypeError(f"host name must be a non-empty str, got {name!r}")
        if name in self._hosts:
            raise ValueError(f"a host named {name!r} already exists")
        if ip is None:
            while True:
                ip = str(ipaddress.IPv4Address(0x0A000000 + self._next_ip))
                self._next_ip += 1
                if ip not in self._by_ip:
                    break
        else:
            try:
                ip = str(ipaddress.IPv4Address(ip))
            except ValueError:
                raise ValueError(f"{ip!r} is not an IPv4 address") from None
            if ip in self._by_ip:
                raise ValueError(f"address {ip} already belongs to host {self._by_ip[ip].name!r}")
        host = Host(self, name, ip, tcp if tcp is not None else self.config)
        self._hosts[name] = host
        self._by_ip[ip] = host
        return host

    @property
    def hosts(self) -> list[Host]:
        return list(self._hosts.values())

    def host(self, name_or_ip: str) -> Host:
        """The host with this name or address.

        Raises:
            socket.gaierror: no such host (EAI_NONAME, as ``getaddrinfo`` says).
        """
        host = self._hosts.get(name_or_ip) or self._by_ip.get(name_or_ip)
        if host is None:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return host

    def resolve(self, name: str) -> str:
        """Name or dotted address to address, like ``getaddrinfo`` on this network.

        Raises:
            socket.gaierror: unknown name (EAI_NONAME).
        """
        host = self._hosts.get(name)
        if host is not None:
            return host.ip
        try:
            return str(ipaddress.IPv4Address(name))
        except ValueError:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None

    def host_for_address(self, ip: str) -> Host | None:
        """The host that owns ``ip``, or None."""
        return self._by_ip.get(ip)

    def current_host(self) -> Host:
        """The host calls originate from: set by ``with host.current():``, else ``localhost``."""
        host = _current_host.get()
        if host is not None and host.network is self:
            return host
        return self.localhost

    @staticmethod
    def _set_current(host: Host | None) -> Any:
        return _current_host.set(host)

    @staticmethod
    def _reset_current(token: Any) -> None:
        _current_host.reset(token)

    # -- links -----------------------------------------------------------------

    def link(self, a: Host | str, b: Host | str) -> Link:
        """The directed link from ``a`` to ``b`` (host objects, names or addresses)."""
        src = a if not isinstance(a, str) else self.host(a)
        dst = b if not isinstance(b, str) else self.host(b)
        key = (src.name, dst.name)
        link = self._links.get(key)
        if link is None:
            link = Link(self, src.name, dst.name, **self._link_defaults)
            self._links[key] = link
        return link

    # -- time ------------------------------------------------------------------

    def set_wakeup(self, callback: Callable[[], None] | None) -> None:
        """Register the adapter's wake-up: called when ``next_deadline()`` may
        have moved earlier because of a call made outside :meth:`advance`."""
        self._wakeup = callback

    def call_at(self, when: float, callback: Callable[[], None]) -> None:
        """Run ``callback()`` at virtual time ``when`` (a fault, a test step)."""
        self._push(max(when, self.now), _call, callback)

    def call_later(self, delay: float, callback: Callable[[], None]) -> None:
        """Run ``callback()`` after ``delay`` seconds of virtual time."""
        self.call_at(self.now + delay, callback)

    def next_deadline(self) -> float | None:
        """When the network next needs to run, or None when nothing is pending."""
        return self._heap[0][0] if self._heap else None

    def advance(self, now: float) -> None:
        """Run everything due up to ``now``, in time order, then set ``self.now = now``.

        Raises:
            ValueError: ``now`` is earlier than the network's time.
        """
        if now < self.now:
            raise ValueError(f"time cannot go backwards: {now!r} < {self.now!r}")
        heap = self._heap
        pop = heapq.heappop
        self._in_advance = True
        try:
            while heap and heap[0][0] <= now:
                when, _, fn, arg = pop(heap)
                self.now = when
                fn(arg)
            self.now = now
        finally:
            self._in_advance = False

    def run_until_idle(self, limit: float | None = None) -> float:
        """Advance from deadline to deadline until nothing is pending (or ``limit``).

        Returns the virtual time reached.  With keep-alive on, a network is never
        idle: pass ``limit``.
        """
        while True:
            deadline = self.next_deadline()
            if deadline is None or (limit is not None and deadline > limit):
                break
            self.advance(deadline)
        if limit is not None and limit > self.now:
            self.advance(limit)
        return self.now

    def _push(self, when: float, fn: Callable[[Any], None], arg: Any) -> None:
        heap = self._heap
        wake = self._wakeup is not None and not self._in_advance and (not heap or when < heap[0][0])
        self._counter += 1
        heapq.heappush(heap, (when, self._counter, fn, arg))
        if wake:
            assert self._wakeup is not None
            self._wakeup()

    def _schedule_timer(self, conn: Connection, when: float) -> None:
        self._push(when, self._fire_timer, conn)

    def _fire_timer(self, conn: Connection) -> None:
        conn.on_timer(self.now)

    # -- segments ----------------------------------------------------------------

    def _transmit(self, src: Host, segment: Segment, retransmission: bool) -> None:
        stats = self.stats
        stats["segments_sent"] += 1
        if retransmission:
            stats["retransmissions"] += 1
        trace = self.trace
        if trace.enabled:
            trace.append(
                TraceRecord(
                    self.now,
                    SEND,
                    src.name,
                    segment,
                    text="retransmission" if retransmission else "",
                )
            )
        dst = src.route(segment.dst_ip)
        if dst is None:
            self._drop(src, segment, "no route to host")
            return
        link = self._links.get((src.name, dst.name)) or self.link(src, dst)
        delays = link._delays(self.rng)
        if not delays:
            self._drop(src, segment, "lost")
            return
        if len(delays) > 1:
            stats["segments_duplicated"] += 1
            if trace.enabled:
                trace.append(TraceRecord(self.now, DUPLICATE, src.name, segment))
        for d in delays:
            self._push(self.now + d, dst._deliver_from_wire, segment)

    def _drop(self, host: Host, segment: Segment, why: str) -> None:
        self.stats["segments_dropped"] += 1
        if self.trace.enabled:
            self.trace.append(TraceRecord(self.now, DROP, host.name, segment, text=why))

    def _delivered(self, host: Host, segment: Segment) -> None:
        self.stats["segments_delivered"] += 1
        if self.trace.enabled:
            self.trace.append(TraceRecord(self.now, DELIVER, host.name, segment))

    def note(self, host: str, text: str, endpoint: tuple[str, int, str, int] | None = None) -> None:
        """Add a free-form record to the trace (faults and tests use it)."""
        if self.trace.enabled:
            self.trace.append(TraceRecord(self.now, NOTE, host, endpoint=endpoint, text=text))

    # -- introspection -------------------------------------------------------------

    def statistics(self) -> dict[str, int]:
        """Counters: segments sent, delivered, dropped, duplicated, retransmissions,
        resets sent, connections opened; plus open connections and pending timers."""
        out = dict(self.stats)
        out["connections_open"] = sum(h.connection_count() for h in self._hosts.values())
        out["pending_events"] = len(self._heap)
        return out

    def connections(self) -> Iterator[Connection]:
        """Every connection of every host, listeners' children included."""
        for host in self._hosts.values():
            yield from host.connections()

    def __repr__(self) -> str:
        return (
            f"<Network seed={self.seed} t={self.now:.6f}s hosts={len(self._hosts)} "
            f"pending={len(self._heap)}>"
        )


_RTX = "retransmission"


def _call(callback: Callable[[], None]) -> None:
    callback()
